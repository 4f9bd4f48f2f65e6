#pragma once
// `satunet train`: one U-Net replica per rank, fed by the rank's share of the dataset,
// gradients all-reduced in buckets while backward runs; validation with confusion matrices
// summed across ranks; best.pt / last.pt written by rank 0, atomically; exact resume.
#include <cstdint>
#include <string>
#include <vector>

#include "data/augment.hpp"
#include "dist/mpi_communicator.hpp"
#include "model/losses.hpp"
#include "model/unet.hpp"

namespace satunet::train {

struct TrainOptions {
  std::string data;
  std::string out;
  model::UNetOptions model;  // in_channels and classes come from the dataset
  std::int64_t epochs = 10;
  std::int64_t max_steps = 0;  // optimizer steps; 0: epochs decide
  int batch = 8;               // per rank
  std::string optimizer = "adamw";
  double lr = 1e-3;
  double weight_decay = 1e-4;
  std::string schedule = "cosine";
  std::int64_t warmup = 0;
  bool scale_lr = false;
  int accumulate = 1;
  model::LossOptions loss;
  std::string class_weights = "none";  // none, auto or a comma-separated list
  data::AugmentOptions augment;
  std::uint64_t seed = 1;
  int threads = 0;  // per rank; 0: cores per node / ranks per node
  std::string backend = "auto";
  double bucket_mb = 25;
  std::int64_t val_every = 1;         // epochs
  std::int64_t checkpoint_every = 0;  // optimizer steps; 0: at epoch ends only
  std::string resume;                 // a checkpoint, or "last" for OUT/checkpoints/last.pt
  bool deterministic = false;
  int prefetch = 2;
  std::string command_line;
};

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

void validate(const TrainOptions& options);  // throws UsageError
TrainResult train(const TrainOptions& options, dist::MpiCommunicator& world);

}  // namespace satunet::train
