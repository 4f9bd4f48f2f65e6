#pragma once
// --ema: an exponential moving average of the weights, kept beside the live ones that training
// steps. Validation scores it and checkpoints hold it as their model (what predict, export and
// --init-from use); the live weights travel in the checkpoint's training state, so that a
// resumed run continues both exactly. Batch-norm statistics are not averaged: the average is
// used with the running statistics training has at that moment, as timm's and Lightning's
// averages leave them.
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "model/unet.hpp"

namespace satunet::train {

class WeightAverage {
 public:
  // Starts at the model's weights; `decay` in (0, 1).
  WeightAverage(model::UNet& net, double decay);

  // Folds the weights as they are after an optimizer step into the average, with the decay
  // min(decay, (1 + n) / (10 + n)) for the n-th update (TensorFlow's ExponentialMovingAverage
  // with num_updates): early weights, far from trained, fade out fast in a short run.
  void update();

  // Runs `body` with the average in the model's parameters, then puts the live weights back.
  template <typename Body>
  void with_average_in_model(Body body) {
    swap_into_model();
    struct SwapBack {
      WeightAverage& average;
      ~SwapBack() { average.swap_into_model(); }
    } swap_back{*this};
    body();
  }

  // The live weights (named as the model's parameters) and the update count, into or from a
  // checkpoint's "ema" archive. write() is called with the average in the model
  // (with_average_in_model), where the live weights are the average's tensors.
  void write(torch::serialize::OutputArchive& archive) const;
  void set_updates(std::int64_t updates) { updates_ = updates; }

 private:
  void swap_into_model();

  std::vector<std::string> names_;         // of the model's parameters, in their order
  std::vector<torch::Tensor> parameters_;  // the model's
  std::vector<torch::Tensor> average_;     // the other set: the average, or the live weights
  double decay_;
  std::int64_t updates_ = 0;
  bool swapped_ = false;
};

// The live weights a checkpoint written with --ema keeps in its "ema" archive, into `net`
// (whose parameters hold the checkpoint's model: the average). Returns the update count, or -1
// for a checkpoint without an average.
std::int64_t restore_live_weights(torch::serialize::InputArchive& checkpoint, model::UNet& net);

}  // namespace satunet::train
