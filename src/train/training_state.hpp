#pragma once
// What a checkpoint holds of a training run beyond its model, written and read back here
// alone: where the run stands and the layout that place depends on (TrainingState), and the
// tensors an exact resume needs (the optimizer's state, the CPU generator's, every rank's own
// running statistics, the gradient buckets' order).
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "model/checkpoint.hpp"
#include "shards/manifest.hpp"

namespace satunet::train {

class GradientReducer;
class WeightAverage;

// Where a run stands.
struct Position {
  std::int64_t epoch = 0;       // the epoch being run (or the next one)
  std::int64_t epoch_step = 0;  // optimizer steps done in it
  std::int64_t step = 0;        // optimizer steps done in all
  double best_iou = -1;         // the best validation mean foreground IoU so far
};

// What a place in an epoch depends on.
struct Layout {
  int ranks = 0;
  int batch = 0;
  int accumulate = 0;
  bool operator==(const Layout& other) const {
    return ranks == other.ranks && batch == other.batch && accumulate == other.accumulate;
  }
};

// The numbers of a checkpoint's training state. Epoch and step are the checkpoint's own
// (CheckpointMeta::epoch and ::step, which `satunet info` shows); the rest is the JSON of
// CheckpointMeta::training. Checkpoints of earlier satunet, whose JSON repeats epoch and step,
// load alike.
struct TrainingState {
  Position position;
  Layout layout;  // of the run that saved it; zeros where the checkpoint does not say
  std::uint64_t seed = 0;
  std::string command_line;

  void save(model::CheckpointMeta& meta) const;
  // Throws nlohmann::json's exceptions for JSON that is not a training state.
  static TrainingState load(const model::CheckpointMeta& meta);
};

// The live objects whose state a checkpoint carries beside the model.
struct TrainingParts {
  model::UNet& net;
  torch::optim::Optimizer& optimizer;
  GradientReducer& reducer;
  comm::Communicator& world;
  WeightAverage* average = nullptr;  // --ema's, in the model while a checkpoint is written
};

// The model (its buffers as they are now: the statistics averaged over the ranks; its weights
// the average with --ema, the live ones then in an "ema" archive), what
// `predict` needs of the dataset, `state`, the optimizer, generator and bucket order, and
// `statistics_of_ranks` ([ranks, n]: every rank's own running statistics), atomically at
// `path`. Rank 0's part of the collective save.
void write_training_checkpoint(const std::string& path, const shards::Manifest& dataset,
                               const TrainingState& state, const TrainingParts& parts,
                               const torch::Tensor& statistics_of_ranks);

// What write_training_checkpoint wrote, back from a checkpoint loaded for --resume `origin`:
// the live weights where the model holds an average, the average's update count, the
// optimizer, generator and bucket order restored, each rank's own running statistics
// where the checkpoint has them for as many ranks (else every rank keeps the model's, their
// average). Throws Error "<origin>: cannot resume from it: ..." for a checkpoint without
// (whole) training state.
TrainingState restore_training_checkpoint(model::LoadedCheckpoint& loaded,
                                          const TrainingParts& parts, const std::string& origin);

}  // namespace satunet::train
