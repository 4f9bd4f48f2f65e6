#include "predict/pipeline.hpp"

#include <malloc.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iomanip>
#include <mutex>
#include <sstream>
#include <thread>

#include "comm/placement.hpp"
#include "common/bounded_queue.hpp"
#include "common/error.hpp"
#include "common/files.hpp"
#include "common/huge_pages.hpp"
#include "common/log.hpp"
#include "common/output_directory.hpp"
#include "common/parallel_for.hpp"
#include "common/progress.hpp"
#include "common/stop_signals.hpp"
#include "common/text.hpp"
#include "common/timer.hpp"
#include "geo/gdal.hpp"
#include "geo/metric_plane.hpp"
#include "geo/raster.hpp"
#include "geo/window_grid.hpp"
#include "predict/window_reader.hpp"
#include "shards/manifest.hpp"
#include "stitch/blender.hpp"

namespace satunet::predict {
namespace {

constexpr std::int64_t kMaxBatchBytes = std::int64_t{8} << 30;
// Windows of fewer of the scene's pixels say nothing a model could use.
constexpr int kMinWindow = 8;
// Batches in flight: one being read, one waiting for the model, one in it, one being written;
// buffers of images (read, predicted) and of probabilities (predicted, written) for two.
constexpr std::size_t kBatches = 4;
constexpr std::size_t kBuffers = 2;

// The scene's input bands, chosen as `satunet tile` chose them, checked against the model.
geo::InputBands choose_bands(const geo::RasterInfo& info, const std::vector<std::string>& requested,
                             const ModelSpec& spec) {
  geo::InputBands bands = geo::choose_input_bands(info, requested);
  if (bands.inputs.size() != spec.bands.size()) {
    std::vector<std::string> trained, given;
    for (const ModelBand& band : spec.bands)
      trained.push_back(band.name);
    for (int band : bands.inputs)
      given.push_back(geo::band_name(info.bands[static_cast<std::size_t>(band - 1)]));
    throw Error(info.path + ": " + std::to_string(bands.inputs.size()) + " input bands (" +
                text::join(given, ", ") + ") but the model in " + spec.name + " takes " +
                std::to_string(spec.bands.size()) + " (" + text::join(trained, ", ") +
                "); choose them with --bands");
  }
  // Another pixel type is another range of values: training's normalisation would not fit
  // (a model of uint8 pixels scores a uint16 scene at a tenth of its IoU).
  for (std::size_t b = 0; b < bands.inputs.size(); ++b) {
    const geo::BandInfo& band = info.bands[static_cast<std::size_t>(bands.inputs[b] - 1)];
    const std::string& trained = spec.bands[b].dtype;
    if (!trained.empty() && trained != geo::data_type_name(band.type))
      throw Error(info.path + ": band " + std::to_string(band.index) + " holds " +
                  geo::data_type_name(band.type) + " pixels, but the model in " + spec.name +
                  " was trained on " + trained + " ones, whose values its normalisation fits; " +
                  "convert the scene (gdal_translate -ot, -scale) or train on its type");
  }
  return bands;
}

// Rank 0 makes the directory ready once the scene and the model have opened, and holds it for
// the run.
void prepare_directory(const std::string& dir, bool overwrite,
                       const std::vector<std::string>& inputs,
                       std::optional<OutputDirectory>& out) {
  if (file_exists(dir + "/" + shards::kManifestName))
    throw Error(dir + ": is a dataset directory (it has a " + shards::kManifestName +
                "); predict into another");
  out.emplace(dir, shards::prediction_product(), overwrite ? Earlier::replace : Earlier::refuse,
              inputs);
  out->clear();
  shards::remove_prediction_shards(dir);
}

// The scene's block rows (megabytes each) and GDAL's blocks are freed and allocated again for
// every row of windows; glibc would hand some back to the kernel and fault fresh pages in for
// the next (measured: 29,400 page faults for an 8192² scene, 24,800 with this). Kept in the
// process instead, with the thresholds model::keep_freed_memory sets for LibTorch's buffers.
void keep_freed_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}

// The first failure of any stage; the others stop when it comes.
class FirstFailure {
 public:
  void keep(std::exception_ptr failure) {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (!failure_)
      failure_ = failure;
  }
  void rethrow() const {
    const std::lock_guard<std::mutex> lock(mutex_);
    if (failure_)
      std::rethrow_exception(failure_);
  }

 private:
  mutable std::mutex mutex_;
  std::exception_ptr failure_;
};

// The time a stage spends working (not waiting for the others).
class StageClock {
 public:
  class Busy {
   public:
    explicit Busy(StageClock& clock) : clock_(clock) {}
    ~Busy() { clock_.seconds_ += watch_.seconds(); }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

   private:
    StageClock& clock_;
    Stopwatch watch_;
  };
  double seconds() const { return seconds_; }

 private:
  double seconds_ = 0;
};

// Windows first .. first + count - 1, as read, predicted and written.
struct Batch {
  std::int64_t first = 0;
  std::int64_t count = 0;
  HostBuffer images;                // [B, C, T, T] pixels, while read and predicted
  HostBuffer probabilities;         // [B, classes, T, T] as stored, while predicted and written
  std::vector<std::uint8_t> valid;  // [count, T, T]
};

class ScenePrediction {
 public:
  ScenePrediction(const PipelineOptions& options, const ModelSpec& spec, WindowModel& model,
                  comm::Communicator& comm)
      : options_(options),
        spec_(spec),
        model_(model),
        comm_(comm),
        scene_(open_scene(options.image)),
        bands_(choose_bands(scene_.info(), options.bands, spec)),
        scene_pixel_m_(geo::MetricPlane(scene_.info()).pixel_size_m()),
        model_pixels_(model_pixels(options.pixel_size, scene_pixel_m_, spec.pixel_size)),
        model_tile_(options.tile > 0 ? options.tile : spec.tile_size),
        tile_(in_scene_pixels(model_tile_)),
        overlap_(options.overlap ? in_scene_pixels(*options.overlap) : tile_ / 4),
        grid_(scene_.info().width, scene_.info().height, tile_, overlap_),
        // No batch larger than the scene's windows (the same on every rank: shapes must not
        // depend on the rank count).
        batch_size_(static_cast<int>(std::min<std::int64_t>(options.batch, grid_.count()))),
        direct_(!options.stitch_to.empty() && comm.size() == 1),
        writes_shards_(!direct_ || options.keep_probabilities),
        dir_(options.out.empty() ? options.stitch_to + ".prediction" : options.out),
        threads_(comm::threads_per_rank(options.threads, comm)) {
    check_tile();
    check_batch_memory();
  }

  PredictResult run() {
    Stopwatch clock;
    // Every output is checked before the work starts.
    if (!options_.stitch_to.empty())
      comm::prepare_on_root(comm_, [&] {
        stitch::check_outputs(options_.stitch_to, options_.outputs, options_.overwrite,
                              {scene_.info().path});
      });
    if (writes_shards_)
      comm::prepare_on_root(
          comm_, [&] { prepare_directory(dir_, options_.overwrite, {scene_.info().path}, out_); });
    const std::int64_t total = grid_.count();
    const std::int64_t first = total * comm_.rank() / comm_.size();
    const std::int64_t last = total * (comm_.rank() + 1) / comm_.size();
    if (comm_.rank() == 0)
      log::info("predict: ", scene_.info().path, ": ", total, " windows of ", tile_,
                " px (overlap >= ", overlap_, ")", resampling(), " on ", comm_.size(),
                " ranks, batch ", options_.batch, ", ", model_.describe(),
                direct_ ? ", blended straight into " + options_.stitch_to : "");
    if (direct_ && !writes_shards_ && !options_.out.empty())
      log::info("predict: nothing written to ", options_.out,
                " (blended straight into the class map; --keep-probabilities keeps the "
                "prediction too)");

    std::optional<shards::PredictionWriter> writer;
    if (writes_shards_)
      writer.emplace(dir_ + "/" + shards::prediction_shard_name(comm_.rank(), comm_.size()),
                     shard_header(total), options_.compress);
    std::optional<stitch::MaskBlender> blender;
    if (direct_)
      blender.emplace(options_.stitch_to, options_.outputs, options_.overwrite, shard_header(total),
                      options_.blend, threads_);
    bound_block_cache(blender ? blender->cache_bytes() : 0);
    predict_windows(first, last, writer ? &*writer : nullptr, blender ? &*blender : nullptr);

    PredictResult result{total, scene_.info().width * scene_.info().height, 0, std::nullopt};
    if (blender)
      result.stitched = blender->finish();
    if (writer)
      finish_directory(*writer, last - first, total, clock);
    if (!options_.stitch_to.empty() && !direct_ && comm_.rank() == 0)
      result.stitched = stitch_shards();
    result.seconds = clock.seconds();
    if (direct_)
      result.stitched->seconds = result.seconds;
    return result;
  }

 private:
  static geo::Raster open_scene(const std::string& path) {
    if (!geo::exists(path))
      throw Error(path + ": no such file");
    return geo::Raster::open_georeferenced(path);
  }

  // GDAL would keep every block it decodes up to its cache size, so memory would grow with
  // the scene (and fresh memory costs): the reader decodes each block row once and keeps it
  // itself, so two block rows of the scene (the one read, the one read ahead) are all GDAL
  // needs, with a few block rows of the outputs written here.
  void bound_block_cache(std::int64_t output_bytes) const {
    const geo::RasterInfo& info = scene_.info();
    std::int64_t block_row_bytes = 0;
    for (const geo::BandInfo& band : info.bands)
      block_row_bytes +=
          std::min(band.block_height, tile_) * info.width * GDALGetDataTypeSizeBytes(band.type);
    geo::set_gdal_cache_megabytes(
        std::clamp<std::int64_t>((2 * block_row_bytes + output_bytes) >> 20, 16, 1024));
  }

  // Limits checked before anything is allocated, naming the limit.
  void check_batch_memory() const {
    const int side = std::max(tile_, model_tile_);
    const double bytes = static_cast<double>(batch_size_) *
                         static_cast<double>(bands_.inputs.size()) * side * side * sizeof(float);
    if (bytes > kMaxBatchBytes)
      throw UsageError("--batch " + std::to_string(batch_size_) + " windows of " +
                       std::to_string(side) + " px in " + std::to_string(bands_.inputs.size()) +
                       " bands take " + std::to_string(static_cast<std::int64_t>(bytes) >> 20) +
                       " MiB, more than the " + std::to_string(kMaxBatchBytes >> 20) +
                       " MiB of one forward pass satunet allows; lower --batch");
  }

  void check_tile() const {
    const auto multiple = std::int64_t{1} << spec_.levels;
    if (model_tile_ % multiple != 0)
      throw UsageError("--tile " + std::to_string(model_tile_) + " is not a multiple of " +
                       std::to_string(multiple) + ", which the model's " +
                       std::to_string(spec_.levels) + " levels need");
    if (tile_ < kMinWindow || tile_ > shards::kMaxTileSize)
      throw UsageError(scene_.info().path + ": windows of " + std::to_string(model_tile_) +
                       " of the model's pixels are " + std::to_string(tile_) +
                       " of the scene's, outside " + std::to_string(kMinWindow) + " to " +
                       std::to_string(shards::kMaxTileSize) +
                       " px: change --tile or --pixel-size (native: the scene as it is)");
  }

  // Sides in the model's pixels as the scene's.
  int in_scene_pixels(int model_side) const {
    if (model_pixels_.scale == 1)
      return model_side;
    return std::max(1, static_cast<int>(std::lround(model_side * model_pixels_.scale)));
  }

  // For the log: how the model sees the scene, where not as it is.
  std::string resampling() const {
    if (model_pixels_.scale == 1)
      return "";
    std::ostringstream out;
    out << std::setprecision(3) << ", each resampled to " << model_tile_ << " px of "
        << model_pixels_.metres << " m (the scene's pixels: " << scene_pixel_m_ << " m)";
    return out.str();
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
    header.tta = spec_.tta;
    header.class_names = spec_.classes;
    header.scene = info.path;
    header.scene_width = info.width;
    header.scene_height = info.height;
    header.crs_wkt = info.crs_wkt;
    header.geotransform = info.transform.coefficients();
    header.checkpoint = spec_.name;
    return header;
  }

  // The stages: windows read on one thread, predicted on this one, written on another. Their
  // buffers go round (two of images, read and predicted; two of probabilities, predicted and
  // written), so that memory stays flat and is never touched for the first time again: in a
  // VM a fresh page costs more than the work done in it.
  void predict_windows(std::int64_t first, std::int64_t last, shards::PredictionWriter* writer,
                       stitch::MaskBlender* blender) {
    if (first >= last)
      return;
    const auto plane = static_cast<std::size_t>(tile_) * static_cast<std::size_t>(tile_);
    const auto windows = static_cast<std::size_t>(batch_size_);
    WindowReader reader(scene_, bands_, tile_);
    const std::size_t image_bytes =
        windows * bands_.inputs.size() * plane *
        static_cast<std::size_t>(shards::pixel_type_bytes(reader.pixel_type()));
    const std::size_t probability_bytes = windows * spec_.classes.size() * plane * value_bytes();
    BoundedQueue<std::unique_ptr<Batch>> batches(kBatches), read(kBatches), predicted(kBatches);
    BoundedQueue<HostBuffer> images(kBuffers), probabilities(kBuffers);
    for (std::size_t i = 0; i < kBatches; ++i)
      batches.push(std::make_unique<Batch>());
    for (std::size_t i = 0; i < kBuffers; ++i) {
      images.push(model_.host_buffer(image_bytes));
      probabilities.push(model_.host_buffer(probability_bytes));
    }
    FirstFailure failure;
    auto stop_all = [&](std::exception_ptr error) {
      failure.keep(error);
      for (auto* queue : {&batches, &read, &predicted})
        queue->cancel(error);
      for (auto* queue : {&images, &probabilities})
        queue->cancel(error);
    };
    StageClock reading_clock, model_clock, writing_clock;
    std::thread reading([&] {
      try {
        for (std::int64_t start = first; start < last; start += batch_size_) {
          std::optional<std::unique_ptr<Batch>> batch = batches.pop();
          std::optional<HostBuffer> buffer = batch ? images.pop() : std::nullopt;
          if (!buffer)
            return;
          Batch& next = **batch;
          next.first = start;
          next.count = std::min<std::int64_t>(batch_size_, last - start);
          next.images = std::move(*buffer);
          const StageClock::Busy busy(reading_clock);
          reader.fill(grid_, start, next.count, batch_size_, next.images.data, next.valid);
          if (!read.push(std::move(*batch)))
            return;
        }
        read.close();
      } catch (...) {
        stop_all(std::current_exception());
      }
    });
    std::thread writing([&] {
      try {
        while (std::optional<std::unique_ptr<Batch>> batch = predicted.pop()) {
          {
            const StageClock::Busy busy(writing_clock);
            write_batch(**batch, writer, blender);
          }
          if (!probabilities.push(std::move((*batch)->probabilities)) ||
              !batches.push(std::move(*batch)))
            return;
        }
      } catch (...) {
        stop_all(std::current_exception());
      }
    });
    try {
      Progress progress("predict", last - first, "windows");
      const std::string& output = direct_ ? options_.stitch_to : dir_;
      while (std::optional<std::unique_ptr<Batch>> batch = read.pop()) {
        throw_if_stopped(output);
        std::optional<HostBuffer> buffer = probabilities.pop();
        if (!buffer)
          break;
        Batch& current = **batch;
        current.probabilities = std::move(*buffer);
        {
          const StageClock::Busy busy(model_clock);
          const PixelBatch pixels{current.images.data,
                                  reader.pixel_type(),
                                  batch_size_,
                                  static_cast<int>(bands_.inputs.size()),
                                  tile_,
                                  model_tile_};
          model_.predict(pixels, options_.encoding, current.probabilities.data);
        }
        progress.advance(current.count);
        if (!images.push(std::move(current.images)) || !predicted.push(std::move(*batch)))
          break;
      }
      predicted.close();
      progress.finish();
    } catch (...) {
      stop_all(std::current_exception());
    }
    reading.join();
    writing.join();
    failure.rethrow();
    // Which stage limits: the one busy nearly all the time.
    log::debug("predict: busy reading ", reading_clock.seconds(), " s, in the model ",
               model_clock.seconds(), " s, writing ", writing_clock.seconds(), " s");
  }

  std::size_t value_bytes() const {
    return options_.encoding == shards::ProbabilityEncoding::uint8 ? 1 : 2;
  }

  void write_batch(const Batch& batch, shards::PredictionWriter* writer,
                   stitch::MaskBlender* blender) const {
    const auto plane = static_cast<std::size_t>(tile_) * static_cast<std::size_t>(tile_);
    const std::size_t window_bytes = spec_.classes.size() * plane * value_bytes();
    const auto* probabilities = static_cast<const std::uint8_t*>(batch.probabilities.data);
    auto probabilities_of = [&](std::int64_t i) {
      return probabilities + static_cast<std::size_t>(i) * window_bytes;
    };
    auto valid_of = [&](std::int64_t i) {
      return batch.valid.data() + static_cast<std::size_t>(i) * plane;
    };
    if (writer) {
      std::vector<shards::EncodedWindow> encoded(static_cast<std::size_t>(batch.count));
      parallel_for(batch.count, threads_, [&](std::int64_t i) {
        encoded[static_cast<std::size_t>(i)] = writer->encode(probabilities_of(i), valid_of(i));
      });
      for (std::int64_t i = 0; i < batch.count; ++i) {
        const geo::Window window = grid_.inside(batch.first + i);
        writer->append(batch.first + i, {window.x_off, window.y_off, window.width, window.height},
                       encoded[static_cast<std::size_t>(i)]);
      }
    }
    if (blender)
      blender->add_windows(batch.first, batch.count, probabilities, batch.valid.data());
  }

  // Every rank's shard committed, then rank 0's prediction.json: the directory is complete on
  // return, on every rank.
  void finish_directory(shards::PredictionWriter& writer, std::int64_t mine, std::int64_t total,
                        const Stopwatch& clock) {
    writer.commit();
    std::vector<std::int64_t> counts(static_cast<std::size_t>(comm_.size()));
    comm_.allgather(&mine, sizeof mine, counts.data());
    if (comm_.rank() == 0)
      write_index(counts, total, clock.seconds());
    comm_.barrier();
  }

  void write_index(const std::vector<std::int64_t>& counts, std::int64_t total,
                   double seconds) const {
    const geo::RasterInfo& info = scene_.info();
    shards::PredictionIndex index;
    static_cast<shards::PredictionMeta&>(index) = shard_header(total);
    index.crs = info.srs().label();
    for (int rank = 0; rank < comm_.size(); ++rank)
      index.shards.push_back({shards::prediction_shard_name(rank, comm_.size()),
                              counts[static_cast<std::size_t>(rank)]});
    index.ranks = comm_.size();
    index.seconds = seconds;
    index.command_line = options_.command_line;
    index.save(dir_);
  }

  // Several ranks: rank 0 stitches their shards, which go afterwards unless kept.
  stitch::StitchResult stitch_shards() {
    const stitch::StitchOptions stitching{dir_, options_.stitch_to, std::nullopt, options_.outputs,
                                          options_.overwrite};
    const stitch::StitchResult stitched = stitch::stitch(stitching);
    if (!options_.keep_probabilities) {
      out_.reset();
      shards::remove_prediction(dir_, comm_.size());
    }
    return stitched;
  }

  const PipelineOptions& options_;
  const ModelSpec& spec_;
  WindowModel& model_;
  comm::Communicator& comm_;
  geo::Raster scene_;
  geo::InputBands bands_;
  double scene_pixel_m_;  // on the ground
  ModelPixels model_pixels_;
  int model_tile_;  // the side of the model's input
  int tile_;        // of the windows, in the scene's pixels (model_tile_ where not resampled)
  int overlap_;
  geo::WindowGrid grid_;
  int batch_size_;
  bool direct_;         // blended straight into --stitch-to, on this one rank
  bool writes_shards_;  // a prediction directory written
  std::string dir_;
  int threads_;                         // compressing shard windows, blending rows of windows
  std::optional<OutputDirectory> out_;  // rank 0's, while it writes the directory
};

}  // namespace

HostBuffer plain_host_buffer(std::size_t bytes) {
  std::shared_ptr<void> memory = huge_page_memory(bytes);  // not zeroed: the reader writes it all
  return {memory.get(), bytes, memory};
}

PredictResult run_prediction(const PipelineOptions& options, const ModelSpec& spec,
                             WindowModel& model, comm::Communicator& comm) {
  install_stop_signals();  // a stop is then an error that removes the unfinished outputs
  validate(options);
  keep_freed_memory();
  // Before the scene is opened, which is when GDAL reads it: its blocks decoded on all of them.
  geo::set_gdal_threads(comm::threads_per_rank(options.threads, comm));
  ScenePrediction prediction(options, spec, model, comm);
  return prediction.run();
}

}  // namespace satunet::predict
