#include "model/transfer.hpp"

#include <torch/torch.h>

#include <sstream>

#include "common/error.hpp"

namespace satunet::model {
namespace {

bool starts_with(const std::string& name, const std::string& prefix) {
  return name.compare(0, prefix.size(), prefix) == 0;
}

bool taken_over(const std::string& name, InitParts parts, bool same_classes) {
  if (starts_with(name, "head."))
    return same_classes && parts == InitParts::all;
  return parts == InitParts::all || is_encoder_tensor(name);
}

std::string shape_text(const torch::Tensor& tensor) {
  std::ostringstream text;
  text << tensor.sizes();
  return text.str();
}

}  // namespace

bool is_encoder_tensor(const std::string& name) {
  return starts_with(name, "down.") || starts_with(name, "bottleneck.") ||
         starts_with(name, "encoder.");
}

WeightTransfer transfer_weights(UNet& source, const std::vector<std::string>& source_classes,
                                UNet& target, const std::vector<std::string>& target_classes,
                                InitParts parts, const std::string& origin) {
  if (source->options().in_channels() != target->options().in_channels())
    throw Error(origin + ": a model of " + std::to_string(source->options().in_channels()) +
                " bands cannot start one of " + std::to_string(target->options().in_channels()));
  WeightTransfer transfer;
  transfer.head_initialised = source_classes != target_classes;
  auto from = source->named_parameters();
  for (const auto& buffer : source->named_buffers())
    from.insert(buffer.key(), buffer.value());
  auto to = target->named_parameters();
  for (const auto& buffer : target->named_buffers())
    to.insert(buffer.key(), buffer.value());
  torch::NoGradGuard no_grad;
  for (auto& item : to) {
    if (!taken_over(item.key(), parts, !transfer.head_initialised))
      continue;
    const torch::Tensor* found = from.find(item.key());
    if (!found)
      throw Error(origin + ": has no " + item.key() + ": another architecture");
    if (!found->sizes().equals(item.value().sizes()))
      throw Error(origin + ": " + item.key() + " is " + shape_text(*found) + ", this model's " +
                  shape_text(item.value()) + ": another architecture");
    item.value().copy_(*found);
    ++transfer.tensors;
  }
  return transfer;
}

}  // namespace satunet::model
