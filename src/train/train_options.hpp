#pragma once
// The options of `satunet train`, declared once (see common/options.hpp). Free of LibTorch's
// and MPI's headers.
#include <cstdint>
#include <string>
#include <vector>

#include "comm/placement.hpp"
#include "common/options.hpp"
#include "data/augment.hpp"
#include "model/model_options.hpp"
#include "train/schedule.hpp"

namespace satunet::train {

enum class Optimizer { adamw, sgd };
inline const options::EnumNames<Optimizer>& enum_names(Optimizer) {
  static const options::EnumNames<Optimizer> names{{Optimizer::adamw, "adamw"},
                                                   {Optimizer::sgd, "sgd"}};
  return names;
}

// What a step whose loss or gradients are not finite does: end the run (keeping the last
// finite checkpoints), or be dropped on every rank and counted.
enum class NonFinite { stop, skip };
inline const options::EnumNames<NonFinite>& enum_names(NonFinite) {
  static const options::EnumNames<NonFinite> names{{NonFinite::stop, "stop"},
                                                   {NonFinite::skip, "skip"}};
  return names;
}

// --class-weights: none, auto (inverse pixel frequency of the train split) or one per class.
struct ClassWeights {
  enum class Kind { none, inverse_frequency, given };
  Kind kind = Kind::none;
  std::vector<double> values;  // for `given`
};
void parse(const std::string& text, const std::string& option, ClassWeights& value);
std::string show(const ClassWeights& value);

struct TrainOptions {
  std::string data;
  std::string out;
  model::UNetOptions model;  // in_channels and classes come from the dataset
  std::int64_t epochs = 10;
  std::int64_t max_steps = 0;  // optimizer steps; 0: epochs decide
  int batch = 8;               // per rank
  Optimizer optimizer = Optimizer::adamw;
  double lr = 1e-3;
  double weight_decay = 1e-4;
  double ema = 0;  // decay of the weights' exponential moving average; 0: none
  Schedule schedule = Schedule::cosine;
  std::int64_t warmup = 0;
  bool scale_lr = false;
  int accumulate = 1;
  model::LossOptions loss;  // its class weights come from `class_weights` and the dataset
  ClassWeights class_weights;
  data::AugmentOptions augment;
  std::uint64_t seed = 1;
  int threads = 0;  // per rank; 0: cores per node / ranks per node
  comm::Backend backend = comm::Backend::automatic;
  comm::Device device = comm::Device::automatic;  // cuda with --backend mpi: through the host
  model::Precision precision = model::Precision::automatic;
  double bucket_mb = 25;
  std::int64_t val_every = 1;         // epochs
  std::int64_t checkpoint_every = 0;  // optimizer steps; 0: at epoch ends only
  std::int64_t log_every = 50;        // steps read back from the device at once
  std::string resume;                 // a checkpoint, or "last" for OUT/checkpoints/last.pt
  std::string init_from;              // a checkpoint whose weights a new run starts from
  model::InitParts init_parts = model::InitParts::all;
  std::string encoder_weights;            // a torchvision state dict for a ResNet encoder
  std::int64_t freeze_encoder_steps = 0;  // optimizer steps leaving the encoder's weights as is
  bool deterministic = false;
  NonFinite on_nonfinite = NonFinite::stop;
  bool overwrite = false;  // replace an earlier run in `out` (rather than refuse)
  bool report = false;     // RUN/report.html at every validation too (always at the end)
  int prefetch = 2;
  std::string command_line;  // recorded in config.json and the checkpoints
};

const options::Table<TrainOptions>& train_option_table();
void validate(const TrainOptions& options);  // throws UsageError

}  // namespace satunet::train
