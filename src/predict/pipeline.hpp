#pragma once
// Prediction as a pipeline of stages on threads, joined by bounded queues of recycled batches:
//
//   reader (GDAL strips -> windows of pixels) -> model (this thread) -> sinks (blend, shards)
//
// so that reading, the forward pass and writing overlap, and memory stays at a few batches.
// The model is behind an interface: `satunet predict` plugs in a checkpoint (predictor.hpp;
// LibTorch, CPU or GPU), `satunet bench predict` a model that costs nothing, so that the rest,
// the real code path, can be measured alone. Nothing here includes LibTorch.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "common/options.hpp"
#include "predict/pixel_size.hpp"
#include "predict/pixels.hpp"
#include "shards/compression.hpp"
#include "shards/prediction.hpp"
#include "stitch/stitcher.hpp"

namespace satunet::predict {

// What every prediction is asked, whatever its model.
struct PipelineOptions {
  std::string image;
  std::string out;  // the prediction directory; with --stitch-to, MASK.prediction by default
  int tile = 0;     // the model's input, in its pixels; 0: the model's tile size
  std::optional<int> overlap;  // in the model's pixels; none: a quarter of the tile
  PixelSize pixel_size;        // the ground size of the model's pixels
  int batch = 8;
  shards::Blend blend = shards::Blend::gaussian;  // recorded for the stitcher
  shards::ProbabilityEncoding encoding = shards::ProbabilityEncoding::uint8;
  shards::Compression compress = shards::Compression::lz4();
  std::vector<std::string> bands;  // numbers (1-based) or names; empty: every band but alpha
  int threads = 0;                 // per rank; 0: cores per node / ranks per node
  bool overwrite = false;
  std::string stitch_to;            // a class map to blend into
  bool keep_probabilities = false;  // with stitch_to: also the prediction directory
  stitch::StitchOutputs outputs;    // beside the class map
  std::string command_line;         // recorded in prediction.json
  // Many scenes in one job instead of --image (region.hpp): --out is then the region's folder.
  std::string scenes;                 // a CSV or a folder
  std::string part;                   // "I/N": one part of the region
  std::vector<std::string> products;  // beside each mask: probabilities, polygons
  bool fail_fast = false;             // a failed scene ends the job
};

const options::Table<PipelineOptions>& pipeline_option_table();
// Checks option values that need no file (UsageError).
void validate(const PipelineOptions& options);

// What the pipeline needs to know of a model.
struct ModelBand {
  std::string name;
  double mean = 0;
  double std = 1;
  std::string dtype;  // the pixel type it was trained on; "" where the checkpoint does not say
};
struct ModelSpec {
  std::string name;              // the checkpoint: in messages and in the prediction
  int tile_size = 0;             // the windows it was trained on (--tile 0)
  int levels = 0;                // windows must be a multiple of 2^levels
  std::vector<ModelBand> bands;  // its inputs, with training's normalisation
  std::vector<std::string> classes;
  std::optional<PixelSizeRange> pixel_size;  // of its training scenes, where known
  shards::Tta tta = shards::Tta::none;       // how it predicts a window: recorded in the prediction
};

// Host memory a batch lives in; the model chooses it (a CUDA model pins it, so that copies to
// and from the device are DMA transfers the host need not wait for).
struct HostBuffer {
  void* data = nullptr;
  std::size_t bytes = 0;
  std::shared_ptr<void> owner;
};
HostBuffer plain_host_buffer(std::size_t bytes);

class WindowModel {
 public:
  virtual ~WindowModel() = default;
  virtual HostBuffer host_buffer(std::size_t bytes) { return plain_host_buffer(bytes); }
  // Windows of pixels, normalised by the model as training normalised its tiles, into class
  // probabilities [batch, classes, tile, tile] stored as `encoding` (uint8 p * 255 rounded, or
  // float16 bits) in `probabilities`. Called from one thread.
  virtual void predict(const PixelBatch& images, shards::ProbabilityEncoding encoding,
                       void* probabilities) = 0;
  // Where and how it runs, for the log ("device cuda:0, bf16 autocast").
  virtual std::string describe() const = 0;
};

struct PredictResult {
  std::int64_t windows = 0;  // in the whole scene
  std::int64_t pixels = 0;   // of the scene
  double seconds = 0;        // until every output was complete (the class map included)
  std::optional<stitch::StitchResult> stitched;  // with --stitch-to, on rank 0
};

// Collective over `comm`: every rank calls it; when it returns, the outputs are complete.
// With --stitch-to on one rank the windows are blended straight into the class map, and the
// prediction directory is written only when kept; on several ranks each writes its shard and
// rank 0 stitches them (then removes them unless kept).
PredictResult run_prediction(const PipelineOptions& options, const ModelSpec& spec,
                             WindowModel& model, comm::Communicator& comm);

}  // namespace satunet::predict
