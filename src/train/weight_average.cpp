#include "train/weight_average.hpp"

#include <algorithm>

#include "common/error.hpp"
#include "model/checkpoint.hpp"

namespace satunet::train {

WeightAverage::WeightAverage(model::UNet& net, double decay) : decay_(decay) {
  torch::NoGradGuard no_grad;
  for (const auto& item : net->named_parameters()) {
    names_.push_back(item.key());
    parameters_.push_back(item.value());
    average_.push_back(item.value().detach().clone());
  }
}

void WeightAverage::update() {
  torch::NoGradGuard no_grad;
  ++updates_;
  const double decay = std::min(
      decay_, (1.0 + static_cast<double>(updates_)) / (10.0 + static_cast<double>(updates_)));
  // Multi-tensor kernels on a GPU: two launches for the whole model.
  at::_foreach_mul_(average_, decay);
  at::_foreach_add_(average_, parameters_, 1.0 - decay);
}

void WeightAverage::swap_into_model() {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < parameters_.size(); ++i) {
    const torch::Tensor held = parameters_[i].detach().clone();
    parameters_[i].detach().copy_(average_[i]);
    average_[i].copy_(held);
  }
  swapped_ = !swapped_;
}

void WeightAverage::write(torch::serialize::OutputArchive& archive) const {
  if (!swapped_)
    throw Error("the weight average is written with the average in the model");
  torch::serialize::OutputArchive live;
  for (std::size_t i = 0; i < names_.size(); ++i)
    live.write(names_[i], average_[i].to(torch::kCPU));
  archive.write("live", live);
  archive.write(model::kAveragedUpdates, torch::tensor(updates_, torch::kInt64));
}

std::int64_t restore_live_weights(torch::serialize::InputArchive& checkpoint, model::UNet& net) {
  torch::serialize::InputArchive ema, live;
  if (!checkpoint.try_read(model::kWeightAverage, ema))
    return -1;
  ema.read("live", live);
  torch::NoGradGuard no_grad;
  for (const auto& item : net->named_parameters()) {
    torch::Tensor weights;
    live.read(item.key(), weights);
    item.value().detach().copy_(weights);
  }
  torch::Tensor updates;
  ema.read(model::kAveragedUpdates, updates);
  return updates.item<std::int64_t>();
}

}  // namespace satunet::train
