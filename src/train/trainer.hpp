#pragma once
// `satunet train`: one U-Net replica per rank, fed by the rank's share of the dataset,
// gradients all-reduced in buckets while backward runs; validation with confusion matrices
// summed across ranks; best.pt / last.pt written by rank 0, atomically; exact resume.
#include <cstdint>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "train/train_options.hpp"

namespace satunet::train {

struct TrainResult {
  std::int64_t steps = 0;
  std::int64_t epochs_done = 0;
  bool stopped_by_signal = false;
  double best_mean_foreground_iou = 0;
  std::vector<double> last_val_iou;  // per class
  std::string last_checkpoint;
  std::uint64_t weights_digest = 0;  // of this rank's replica at the end
  bool replicas_identical = false;   // every rank's digest equal to rank 0's
};

// Collective over `world`: every rank calls it. Where the ranks compute and how gradients
// travel comes from comm::place (options.backend).
TrainResult train(const TrainOptions& options, comm::Communicator& world);

}  // namespace satunet::train
