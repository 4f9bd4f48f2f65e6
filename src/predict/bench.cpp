#include "predict/bench.hpp"

#include <algorithm>
#include <cstdio>

#include "common/bench_record.hpp"
#include "common/error.hpp"
#include "geo/raster.hpp"
#include "shards/prediction.hpp"

namespace satunet::predict {
namespace {

// The windows of an identity model: what models are trained on by default.
constexpr int kIdentityTile = 256;
// Band values v become v / 255 (mean 0, deviation 255): probabilities in [0, 1] for 8-bit
// scenes, clamped for others.
constexpr double kIdentityScale = 255;

// Its first `classes` input bands as the class probabilities of each window, clamped to
// [0, 1] and stored as a model's are: one pass over the batch, nothing a GPU's forward would
// leave to the host. Pixels keep their own values, so the class map is the argmax of those
// bands (ties to the lower class) wherever the windows overlap.
// p * 255 rounded, p clamped to [0, 1]: clamped and converted in two loops over blocks, as
// GCC vectorises each but not both in one.
void quantise(std::uint8_t* __restrict out, const float* __restrict in, std::size_t count) {
  constexpr std::size_t kBlock = 1024;
  float clamped[kBlock];
  for (std::size_t start = 0; start < count; start += kBlock) {
    const std::size_t block = std::min(kBlock, count - start);
    for (std::size_t i = 0; i < block; ++i)
      clamped[i] = std::min(std::max(in[start + i], 0.0f), 1.0f);
    for (std::size_t i = 0; i < block; ++i)
      out[start + i] = static_cast<std::uint8_t>(static_cast<int>(clamped[i] * 255.0f + 0.5f));
  }
}

class IdentityModel : public WindowModel {
 public:
  IdentityModel(int bands, int classes) : bands_(bands), classes_(classes) {}

  void predict(float* images, int batch, int tile, shards::ProbabilityEncoding encoding,
               void* probabilities) override {
    const auto plane = static_cast<std::size_t>(tile) * static_cast<std::size_t>(tile);
    const auto values = static_cast<std::size_t>(classes_) * plane;
    for (std::size_t n = 0; n < static_cast<std::size_t>(batch); ++n) {
      const float* in = images + n * static_cast<std::size_t>(bands_) * plane;
      if (encoding == shards::ProbabilityEncoding::uint8) {
        quantise(static_cast<std::uint8_t*>(probabilities) + n * values, in, values);
      } else {
        auto* out = static_cast<std::uint16_t*>(probabilities) + n * values;
        for (std::size_t i = 0; i < values; ++i)
          out[i] = shards::float_to_half(std::clamp(in[i], 0.0f, 1.0f));
      }
    }
  }

  std::string describe() const override {
    return "identity model (its first " + std::to_string(classes_) + " bands)";
  }

 private:
  int bands_;
  int classes_;
};

ModelSpec identity_spec(const PredictBenchOptions& options) {
  const geo::Raster scene = geo::Raster::open(options.image);
  const geo::InputBands bands = geo::choose_input_bands(scene.info(), options.bands);
  if (options.classes > static_cast<int>(bands.inputs.size()))
    throw UsageError("--classes " + std::to_string(options.classes) + ": the identity model's " +
                     "classes are its input bands, and " + options.image + " gives " +
                     std::to_string(bands.inputs.size()));
  ModelSpec spec;
  spec.name = "identity";
  spec.tile_size = kIdentityTile;
  for (int band : bands.inputs)
    spec.bands.push_back({geo::band_name(scene.info().bands[static_cast<std::size_t>(band - 1)]), 0,
                          kIdentityScale, ""});  // any pixel type: the identity model has none
  for (int c = 1; c <= options.classes; ++c)
    spec.classes.push_back("class" + std::to_string(c));
  return spec;
}

}  // namespace

const options::Table<PredictBenchOptions>& predict_bench_option_table() {
  using O = PredictBenchOptions;
  static const auto table =
      options::Table<O>()
          .include(pipeline_option_table(), [](O& o) -> PipelineOptions& { return o; })
          .value("classes", &O::classes,
                 "bench predict: classes of the identity model (its first input bands)")
          .in_range(1, 255)
          .include(bench::jsonl_option_table(), [](O& o) -> std::string& { return o.jsonl; });
  return table;
}

void validate(const PredictBenchOptions& options) {
  predict_bench_option_table().check(options);
  if (!options.scenes.empty())
    throw UsageError("bench predict measures one scene: give --image, not --scenes");
  validate(static_cast<const PipelineOptions&>(options));
}

void run_predict_bench(const PredictBenchOptions& options, comm::Communicator& comm) {
  validate(options);
  const ModelSpec spec = identity_spec(options);
  IdentityModel model(static_cast<int>(spec.bands.size()), options.classes);
  const PredictResult result = run_prediction(options, spec, model, comm);
  if (comm.rank() != 0)
    return;
  const double megapixels = static_cast<double>(result.pixels) / 1e6;
  const char* output = options.stitch_to.empty()    ? "prediction shards"
                       : options.keep_probabilities ? "blended and kept as shards"
                       : comm.size() == 1           ? "blended straight into the class map"
                                                    : "shards stitched by rank 0";
  std::printf("predicted %lld windows (%g Mpx) in %g s on %d ranks: %s\n",
              static_cast<long long>(result.windows), megapixels, result.seconds, comm.size(),
              (options.stitch_to.empty() ? options.out : options.stitch_to).c_str());
  std::printf("pipeline (identity model, %s): %.1f Mpx/s\n", output, megapixels / result.seconds);
  const bench::RecordFile records(options.jsonl);
  const int tile = options.tile > 0 ? options.tile : spec.tile_size;
  const nlohmann::json configuration = {
      {"image", options.image},
      {"output", output},
      {"windows", result.windows},
      {"megapixels", megapixels},
      {"ranks", comm.size()},
      {"threads", options.threads},
      {"tile", tile},
      {"overlap", options.overlap ? *options.overlap : tile / 4},
      {"batch", options.batch},
      {"classes", options.classes},
      {"encoding", options::show(options.encoding)},
      {"compress", options.stitch_to.empty() || options.keep_probabilities
                       ? shards::show(options.compress)
                       : std::string("none")}};
  records.write("predict", "pipeline.seconds", result.seconds, "s", configuration);
  records.write("predict", "pipeline.rate", megapixels / result.seconds, "Mpx/s", configuration);
}

}  // namespace satunet::predict
