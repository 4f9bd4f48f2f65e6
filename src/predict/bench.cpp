#include "predict/bench.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/bench_record.hpp"
#include "common/error.hpp"
#include "data/normalise.hpp"
#include "geo/raster.hpp"
#include "shards/prediction.hpp"

namespace satunet::predict {
namespace {

// The windows of an identity model: what models are trained on by default.
constexpr int kIdentityTile = 256;
// Band values v become v / 255 (mean 0, deviation 255): probabilities in [0, 1] for 8-bit
// scenes, clamped for others.
constexpr double kIdentityScale = 255;

// p clamped to [0, 1] and stored as prediction shards store it: uint8 p * 255 rounded, or
// float16 bits.
template <typename Stored>
Stored stored_probability(float p) {
  const float clamped = std::min(std::max(p, 0.0f), 1.0f);
  if constexpr (std::is_same_v<Stored, std::uint8_t>)
    return static_cast<std::uint8_t>(static_cast<int>(clamped * 255.0f + 0.5f));
  else
    return shards::float_to_half(clamped);
}

// Its first `classes` input bands, normalised as a checkpoint normalises its inputs, as the
// class probabilities of each window, so that the class map is the argmax of those bands
// (ties to the lower class) wherever the windows overlap. It should cost the host nothing, as
// a GPU's forward pass does, so that the rest of the pipeline is what is measured: 8- and
// 16-bit pixels go through a table of every value's stored probability (the same numbers as
// computing each), made once, and a table that gives every byte itself is a copy.
class IdentityModel : public WindowModel {
 public:
  IdentityModel(data::BandNormaliser normaliser, int classes)
      : normaliser_(std::move(normaliser)), classes_(classes) {}

  void predict(const PixelBatch& images, shards::ProbabilityEncoding encoding,
               void* probabilities) override {
    if (encoding == shards::ProbabilityEncoding::uint8)
      predict_as(images, static_cast<std::uint8_t*>(probabilities));
    else
      predict_as(images, static_cast<std::uint16_t*>(probabilities));
  }

  std::string describe() const override {
    return "identity model (its first " + std::to_string(classes_) + " bands)";
  }

 private:
  template <typename Stored>
  void predict_as(const PixelBatch& images, Stored* probabilities) {
    switch (images.type) {
      case PixelType::uint8:
        return each_plane<std::uint8_t>(images, probabilities,
                                        table_of<std::uint8_t, Stored>(images.type));
      case PixelType::uint16:
        return each_plane<std::uint16_t>(images, probabilities,
                                         table_of<std::uint16_t, Stored>(images.type));
      case PixelType::int16:
        return each_plane<std::int16_t>(images, probabilities,
                                        table_of<std::int16_t, Stored>(images.type));
      case PixelType::float32:
        return each_plane<float>(
            images, probabilities, [&](int band, const float* in, Stored* out, std::size_t count) {
              for (std::size_t i = 0; i < count; ++i)
                out[i] = stored_probability<Stored>(normaliser_.apply(band, in[i]));
            });
      default:
        throw unsupported_pixels(images.type);
    }
  }

  // `plane(band, pixels, stored, count)` for each window's class bands.
  template <typename T, typename Stored, typename Plane>
  void each_plane(const PixelBatch& images, Stored* probabilities, Plane plane) const {
    const auto values =
        static_cast<std::size_t>(images.tile) * static_cast<std::size_t>(images.tile);
    const auto* pixels = static_cast<const T*>(images.pixels);
    for (std::size_t n = 0; n < static_cast<std::size_t>(images.batch); ++n)
      for (int c = 0; c < classes_; ++c) {
        const std::size_t in = (n * static_cast<std::size_t>(images.bands) + c) * values;
        const std::size_t out = (n * static_cast<std::size_t>(classes_) + c) * values;
        plane(c, pixels + in, probabilities + out, values);
      }
  }

  // What each value of a T (pixels of `type`) becomes in each class band, as a plane function.
  template <typename T, typename Stored>
  auto table_of(PixelType type) {
    using Index = std::make_unsigned_t<T>;
    constexpr std::size_t kValues = std::size_t{1} << (8 * sizeof(T));
    const std::size_t entries = static_cast<std::size_t>(classes_) * kValues;
    Table& made = tables_[{type, sizeof(Stored)}];
    if (made.bytes.empty()) {
      made.bytes.resize(entries * sizeof(Stored));
      auto* table = reinterpret_cast<Stored*>(made.bytes.data());
      for (std::size_t i = 0; i < entries; ++i)
        table[i] = stored_probability<Stored>(
            normaliser_.apply(static_cast<int>(i / kValues),
                              static_cast<float>(static_cast<T>(static_cast<Index>(i % kValues)))));
      made.copies = std::is_same_v<T, Stored>;
      for (std::size_t i = 0; made.copies && i < entries; ++i)
        made.copies = table[i] == static_cast<Stored>(i % kValues);
    }
    const auto* table = reinterpret_cast<const Stored*>(made.bytes.data());
    return [table, copies = made.copies](int band, const T* in, Stored* out, std::size_t count) {
      if (copies) {
        std::memcpy(out, in, count * sizeof(T));
        return;
      }
      const Stored* values = table + static_cast<std::size_t>(band) * kValues;
      for (std::size_t i = 0; i < count; ++i)
        out[i] = values[static_cast<Index>(in[i])];
    };
  }

  struct Table {
    std::vector<std::uint8_t> bytes;  // [class][value] of the stored type
    bool copies = false;              // each value is stored as itself
  };

  data::BandNormaliser normaliser_;
  int classes_;
  std::map<std::pair<PixelType, std::size_t>, Table> tables_;  // by pixel type, stored bytes
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
  // Its spec has no training pixel size, so auto is native too.
  if (options.pixel_size.mode == PixelSize::Mode::metres)
    throw UsageError("--pixel-size " + show(options.pixel_size) +
                     ": the identity model sees the scene's own pixels (auto or native)");
  validate(static_cast<const PipelineOptions&>(options));
}

void run_predict_bench(const PredictBenchOptions& options, comm::Communicator& comm) {
  validate(options);
  const ModelSpec spec = identity_spec(options);
  IdentityModel model(data::BandNormaliser::of(spec.bands), options.classes);
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
