#include "train/optimizer_state.hpp"

#include "common/error.hpp"
#include "model/torch_compat.hpp"

namespace satunet::train {
namespace {

void write_tensor(torch::serialize::OutputArchive& archive, const std::string& name,
                  const torch::Tensor& tensor) {
  if (tensor.defined())
    archive.write(name, tensor);
}

torch::Tensor read_tensor(torch::serialize::InputArchive& archive, const std::string& name) {
  torch::Tensor tensor;
  return archive.try_read(name, tensor) ? tensor : torch::Tensor();
}

}  // namespace

void save_optimizer_state(const torch::optim::Optimizer& optimizer,
                          const std::vector<torch::Tensor>& parameters,
                          torch::serialize::OutputArchive& archive) {
  const auto& state = optimizer.state();
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const auto found = state.find(model::compat::optimizer_state_key(optimizer, parameters[i]));
    if (found == state.end())
      continue;
    const std::string prefix = "p" + std::to_string(i) + "_";
    if (const auto* adamw =
            dynamic_cast<const torch::optim::AdamWParamState*>(found->second.get())) {
      archive.write(prefix + "step", c10::IValue(adamw->step()));
      write_tensor(archive, prefix + "exp_avg", adamw->exp_avg());
      write_tensor(archive, prefix + "exp_avg_sq", adamw->exp_avg_sq());
      write_tensor(archive, prefix + "max_exp_avg_sq", adamw->max_exp_avg_sq());
    } else if (const auto* sgd =
                   dynamic_cast<const torch::optim::SGDParamState*>(found->second.get())) {
      write_tensor(archive, prefix + "momentum_buffer", sgd->momentum_buffer());
    }
  }
}

void load_optimizer_state(torch::optim::Optimizer& optimizer,
                          const std::vector<torch::Tensor>& parameters,
                          torch::serialize::InputArchive& archive) {
  auto& state = optimizer.state();
  const bool is_adamw = dynamic_cast<torch::optim::AdamW*>(&optimizer) != nullptr;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const std::string prefix = "p" + std::to_string(i) + "_";
    if (is_adamw) {
      c10::IValue step;
      if (!archive.try_read(prefix + "step", step))
        continue;
      auto restored = std::make_unique<torch::optim::AdamWParamState>();
      restored->step(step.toInt());
      restored->exp_avg(read_tensor(archive, prefix + "exp_avg"));
      restored->exp_avg_sq(read_tensor(archive, prefix + "exp_avg_sq"));
      restored->max_exp_avg_sq(read_tensor(archive, prefix + "max_exp_avg_sq"));
      state[model::compat::optimizer_state_key(optimizer, parameters[i])] = std::move(restored);
    } else {
      torch::Tensor momentum = read_tensor(archive, prefix + "momentum_buffer");
      if (!momentum.defined())
        continue;
      auto restored = std::make_unique<torch::optim::SGDParamState>();
      restored->momentum_buffer(momentum);
      state[model::compat::optimizer_state_key(optimizer, parameters[i])] = std::move(restored);
    }
  }
}

}  // namespace satunet::train
