#include "predict/predictor.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/log.hpp"
#include "common/output_lock.hpp"
#include "common/progress.hpp"
#include "common/serial_worker.hpp"
#include "common/stop_signals.hpp"
#include "common/text.hpp"
#include "common/timer.hpp"
#include "data/normalise.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"
#include "geo/window_grid.hpp"
#include "model/checkpoint.hpp"
#include "model/runtime.hpp"
#include "model/torch_compat.hpp"
#include "predict/window_reader.hpp"
#include "shards/prediction.hpp"

namespace satunet::predict {
namespace {

constexpr std::int64_t kMaxBatchBytes = std::int64_t{8} << 30;

std::string shard_name(int rank, int ranks) {
  return "shards/rank-" + std::to_string(rank) + "-of-" + std::to_string(ranks) + ".h5";
}

// The scene's input bands, chosen as `satunet tile` chose them, checked against the model.
geo::InputBands choose_bands(const geo::RasterInfo& info, const std::vector<int>& requested,
                             const model::CheckpointMeta& meta, const std::string& checkpoint) {
  geo::InputBands bands = geo::choose_input_bands(info, requested);
  const auto expected = static_cast<std::size_t>(meta.model.in_channels());
  if (bands.inputs.size() != expected) {
    std::vector<std::string> trained, given;
    for (const auto& band : meta.bands)
      trained.push_back(band.name);
    for (int band : bands.inputs)
      given.push_back(geo::band_name(info.bands[static_cast<std::size_t>(band - 1)]));
    throw Error(info.path + ": " + std::to_string(bands.inputs.size()) + " input bands (" +
                text::join(given, ", ") + ") but the model in " + checkpoint + " takes " +
                std::to_string(expected) + " (" + text::join(trained, ", ") +
                "); choose them with --bands");
  }
  return bands;
}

// Softmax in float32 whatever the precision of the forward pass.
torch::Tensor class_probabilities(model::UNet& model, const torch::Tensor& images, shards::Tta tta,
                                  bool bf16) {
  const model::compat::CudaBf16Autocast autocast(bf16);
  auto probabilities = [&](const torch::Tensor& input) {
    return torch::softmax(model->forward(input).to(torch::kFloat32), 1);
  };
  torch::Tensor sum = probabilities(images);
  if (tta == shards::Tta::flips) {
    // Each flip of the input, predicted and flipped back: the mean of the four views.
    for (const std::vector<int64_t>& dims :
         {std::vector<int64_t>{3}, std::vector<int64_t>{2}, std::vector<int64_t>{2, 3}})
      sum += probabilities(images.flip(dims)).flip(dims);
    sum /= 4.0;
  }
  return sum;
}

torch::Tensor encode(const torch::Tensor& probabilities, shards::ProbabilityEncoding encoding) {
  if (encoding == shards::ProbabilityEncoding::uint8)
    return probabilities.mul(255.0).round_().clamp_(0, 255).to(torch::kUInt8).cpu().contiguous();
  return probabilities.to(torch::kHalf).cpu().contiguous();
}

// Rank 0 makes the directory ready, and holds it for the run.
void prepare_directory(const PredictOptions& options, std::optional<OutputLock>& lock) {
  const std::string& dir = options.out;
  lock.emplace(dir);
  if (shards::PredictionIndex::present(dir) && !options.overwrite)
    throw Error(dir + ": holds a prediction already; --overwrite replaces it");
  if (file_exists(dir + "/manifest.json"))
    throw Error(dir + ": is a dataset directory (it has a manifest.json); predict into another");
  try {
    ensure_directory(dir + "/shards");
    std::filesystem::remove(dir + "/" + shards::kPredictionIndexName);
    // Shards of an earlier or killed run (maybe from more ranks) must not mix with these;
    // only files named as prediction shards, or their temporaries, are removed.
    for (const auto& entry : std::filesystem::directory_iterator(dir + "/shards")) {
      const std::string name = entry.path().filename().string();
      const bool shard = name.rfind("rank-", 0) == 0 || name.rfind(".rank-", 0) == 0;
      if (shard && name.find("-of-") != std::string::npos && name.find(".h5") != std::string::npos)
        std::filesystem::remove(entry.path());
    }
  } catch (const std::filesystem::filesystem_error& error) {
    throw Error(dir + ": " + error.what());
  }
}

class ScenePredictor {
 public:
  ScenePredictor(const PredictOptions& options, comm::Communicator& comm)
      : options_(options),
        comm_(comm),
        checkpoint_(model::load_checkpoint(options.checkpoint)),
        scene_(open_scene(options.image)),
        bands_(choose_bands(scene_.info(), options.bands, checkpoint_.meta, options.checkpoint)),
        tile_(options.tile > 0 ? options.tile : checkpoint_.meta.tile_size),
        overlap_(options.overlap >= 0 ? options.overlap : tile_ / 4),
        grid_(scene_.info().width, scene_.info().height, tile_, overlap_),
        // No batch larger than the scene's windows (the same on every rank: shapes must not
        // depend on the rank count).
        batch_size_(static_cast<int>(std::min<std::int64_t>(options.batch, grid_.count()))) {
    check_tile();
    check_batch_memory();
    check_finite_weights();
    model::set_threads(comm::threads_per_rank(options.threads, comm));
    model::keep_freed_memory();
    const comm::Placement placement =
        comm::place(std::nullopt, options.device, comm, model::cuda_devices());
    if (placement.on_gpu)
      device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(placement.gpu));
    bf16_ = model::bf16_autocast(options.precision, placement.on_gpu);
    checkpoint_.model->to(device_);
    checkpoint_.model->eval();
    bound_block_cache();
  }

  PredictResult run() {
    Stopwatch clock;
    comm::prepare_on_root(comm_, [&] { prepare_directory(options_, lock_); });
    const std::int64_t total = grid_.count();
    const std::int64_t first = total * comm_.rank() / comm_.size();
    const std::int64_t last = total * (comm_.rank() + 1) / comm_.size();
    if (comm_.rank() == 0)
      log::info("predict: ", scene_.info().path, ": ", total, " windows of ", tile_,
                " px (overlap >= ", overlap_, ") on ", comm_.size(), " ranks, batch ",
                options_.batch, ", device ", device_.str(), bf16_ ? ", bf16 autocast" : "");

    shards::PredictionWriter writer(options_.out + "/" + shard_name(comm_.rank(), comm_.size()),
                                    shard_header(total), options_.compress);
    predict_windows(first, last, writer);
    writer.commit();

    std::vector<std::int64_t> counts(static_cast<std::size_t>(comm_.size()));
    const std::int64_t mine = last - first;
    comm_.allgather(&mine, sizeof mine, counts.data());
    const double seconds = clock.seconds();
    if (comm_.rank() == 0)
      write_index(counts, total, seconds);
    comm_.barrier();  // the directory is complete on return, on every rank
    return {total, scene_.info().width * scene_.info().height, seconds};
  }

 private:
  static geo::Raster open_scene(const std::string& path) {
    if (!file_exists(path))
      throw Error(path + ": no such file");
    return geo::Raster::open_georeferenced(path);
  }

  // GDAL would keep every block it decodes up to its cache size, so memory would grow with
  // the scene; a window row of blocks, twice over, is all the reads ever come back to.
  void bound_block_cache() const {
    const geo::RasterInfo& info = scene_.info();
    std::int64_t row_bytes = 0;
    for (const geo::BandInfo& band : info.bands)
      row_bytes += (tile_ + band.block_height) * info.width * GDALGetDataTypeSizeBytes(band.type);
    geo::set_gdal_cache_megabytes(std::clamp<std::int64_t>(2 * row_bytes >> 20, 32, 1024));
  }

  // Limits checked before anything is allocated, naming the limit.
  void check_batch_memory() const {
    const double bytes = static_cast<double>(batch_size_) *
                         static_cast<double>(bands_.inputs.size()) * tile_ * tile_ * sizeof(float);
    if (bytes > kMaxBatchBytes)
      throw UsageError("--batch " + std::to_string(batch_size_) + " windows of " +
                       std::to_string(tile_) + " px in " + std::to_string(bands_.inputs.size()) +
                       " bands take " + std::to_string(static_cast<std::int64_t>(bytes) >> 20) +
                       " MiB, more than the " + std::to_string(kMaxBatchBytes >> 20) +
                       " MiB of one forward pass satunet allows; lower --batch");
  }

  void check_finite_weights() const {
    for (const auto& item : checkpoint_.model->named_parameters())
      if (!torch::isfinite(item.value()).all().item<bool>())
        throw Error(options_.checkpoint + ": " + item.key() +
                    " is not finite (a diverged run): it cannot predict");
  }

  void check_tile() const {
    const auto multiple = std::int64_t{1} << checkpoint_.meta.model.levels();
    if (tile_ % multiple != 0)
      throw UsageError("--tile " + std::to_string(tile_) + " is not a multiple of " +
                       std::to_string(multiple) + ", which the model's " +
                       std::to_string(checkpoint_.meta.model.levels()) + " levels need");
  }

  shards::PredictionHeader shard_header(std::int64_t total) const {
    const geo::RasterInfo& info = scene_.info();
    shards::PredictionHeader header;
    header.tile_size = tile_;
    header.overlap = overlap_;
    header.windows_total = total;
    header.rank = comm_.rank();
    header.ranks = comm_.size();
    header.encoding = options_.encoding;
    header.blend = options_.blend;
    header.tta = options_.tta;
    header.class_names = checkpoint_.meta.classes;
    header.scene = info.path;
    header.scene_width = info.width;
    header.scene_height = info.height;
    header.crs_wkt = info.crs_wkt;
    header.geotransform = info.transform.coefficients();
    header.checkpoint = options_.checkpoint;
    return header;
  }

  void predict_windows(std::int64_t first, std::int64_t last, shards::PredictionWriter& writer) {
    WindowReader reader(scene_, bands_, data::BandNormaliser::of(checkpoint_.meta.bands), tile_);
    SerialWorker reading, writing;
    const int batch_size = batch_size_;
    auto prepare = [&](std::int64_t start) {
      auto batch = std::make_shared<Batch>();
      const std::int64_t count = std::min<std::int64_t>(batch_size, last - start);
      auto job = reading.submit([&reader, batch, this, start, count, batch_size] {
        reader.fill(*batch, grid_, start, count, batch_size);
      });
      return std::make_pair(batch, job);
    };
    Progress progress("predict", last - first, "windows");
    std::shared_ptr<JobHandle> written;
    std::pair<std::shared_ptr<Batch>, std::shared_ptr<JobHandle>> next;
    if (first < last)
      next = prepare(first);
    torch::InferenceMode inference;
    const auto channels = static_cast<int64_t>(bands_.inputs.size());
    const auto plane = static_cast<std::size_t>(tile_) * static_cast<std::size_t>(tile_);
    const std::size_t window_values = checkpoint_.meta.classes.size() * plane;
    for (std::int64_t start = first; start < last; start += batch_size) {
      throw_if_stopped(options_.out);
      auto [batch, ready] = next;
      ready->wait();
      if (start + batch_size < last)
        next = prepare(start + batch_size);  // read the next batch while this one runs
      const torch::Tensor images =
          torch::from_blob(batch->images.data(), {batch_size, channels, tile_, tile_}).to(device_);
      const torch::Tensor encoded = encode(
          class_probabilities(checkpoint_.model, images, options_.tta, bf16_), options_.encoding);
      if (written)
        written->wait();
      written = writing.submit([&writer, batch, encoded, window_values] {
        const auto* bytes = static_cast<const std::uint8_t*>(encoded.data_ptr());
        const std::size_t window_bytes = window_values * encoded.element_size();
        const std::size_t plane_bytes = batch->valid.size() / batch->indices.size();
        for (std::size_t i = 0; i < batch->indices.size(); ++i) {
          const geo::Window& window = batch->windows[i];
          writer.append(batch->indices[i],
                        {window.x_off, window.y_off, window.width, window.height},
                        bytes + i * window_bytes, batch->valid.data() + i * plane_bytes);
        }
      });
      progress.advance(static_cast<std::int64_t>(batch->indices.size()));
    }
    if (written)
      written->wait();
    progress.finish();
  }

  void write_index(const std::vector<std::int64_t>& counts, std::int64_t total,
                   double seconds) const {
    const geo::RasterInfo& info = scene_.info();
    shards::PredictionIndex index;
    static_cast<shards::PredictionMeta&>(index) = shard_header(total);
    index.crs = info.srs().label();
    for (int rank = 0; rank < comm_.size(); ++rank)
      index.shards.push_back(
          {shard_name(rank, comm_.size()), counts[static_cast<std::size_t>(rank)]});
    index.ranks = comm_.size();
    index.seconds = seconds;
    index.command_line = options_.command_line;
    index.save(options_.out);
  }

  const PredictOptions& options_;
  comm::Communicator& comm_;
  model::LoadedCheckpoint checkpoint_;
  geo::Raster scene_;
  geo::InputBands bands_;
  int tile_;
  int overlap_;
  geo::WindowGrid grid_;
  int batch_size_;
  torch::Device device_{torch::kCPU};
  bool bf16_ = false;
  std::optional<OutputLock> lock_;  // rank 0's, while it writes the directory
};

}  // namespace

const options::Table<PredictOptions>& predict_option_table() {
  using O = PredictOptions;
  static const auto table =
      options::Table<O>()
          .value("checkpoint", &O::checkpoint, "checkpoint from satunet train", "C.pt")
          .value("image", &O::image,
                 "georeferenced scene (any GDAL raster) with the bands the model was trained on",
                 "SCENE.tif")
          .value("out", &O::out, "prediction directory: prediction.json + shards/rank-R-of-N.h5",
                 "PRED")
          .value("tile", &O::tile, "window size in pixels (0: the checkpoint's tile size)")
          .value("overlap", &O::overlap,
                 "minimum overlap of neighbouring windows in pixels (-1: a quarter of the window)")
          .value("batch", &O::batch, "windows per forward pass")
          .value("blend", &O::blend,
                 "weights of overlapping windows: gaussian (sigma = tile/8), cosine or uniform")
          .value("tta", &O::tta, "test-time augmentation: none, or flips (mean of 4 flipped views)")
          .value("encoding", &O::encoding, "stored probabilities: uint8 (p x 255) or float16")
          .value("compress", &O::compress, shards::kCompressHelp)
          .value("bands", &O::bands,
                 "1-based scene bands to use (default: every band but alpha, as satunet tile)",
                 "1,2,3")
          .value("threads", &O::threads,
                 "LibTorch threads per rank; 0: cores per node / ranks per node")
          .value("device", &O::device,
                 "auto (the GPU of the rank's local rank when LibTorch has CUDA), cpu or cuda")
          .value("precision", &O::precision,
                 "auto (bf16 autocast on GPUs, float32 on CPUs), fp32 or bf16 (GPUs only)")
          .flag("overwrite", &O::overwrite, "replace an existing prediction in --out")
          .value("stitch-to", &O::stitch_to,
                 "stitch the prediction into this class map when done (rank 0)", "MASK.tif");
  return table;
}

void validate(const PredictOptions& options) {
  if (options.checkpoint.empty())
    throw UsageError("--checkpoint is required");
  if (options.image.empty())
    throw UsageError("--image is required");
  if (options.out.empty())
    throw UsageError("--out is required");
  if (options.tile < 0 || options.tile > shards::kMaxTileSize)
    throw UsageError("--tile must be 1 to " + std::to_string(shards::kMaxTileSize) +
                     " (or 0: the checkpoint's tile size)");
  if (options.batch < 1)
    throw UsageError("--batch must be at least 1, got " + std::to_string(options.batch));
  if (options.threads < 0 || options.threads > comm::kMaxThreadsPerRank)
    throw UsageError("--threads must be 0 (automatic) to " +
                     std::to_string(comm::kMaxThreadsPerRank));
}

PredictResult predict(const PredictOptions& options, comm::Communicator& comm) {
  install_stop_signals();  // a stop is then an error that removes the unfinished shards
  validate(options);
  ScenePredictor predictor(options, comm);
  return predictor.run();
}

}  // namespace satunet::predict
