#include "train/multi_tensor_adamw.hpp"

#include <cmath>
#include <map>

#include "common/error.hpp"
#include "model/torch_compat.hpp"

namespace satunet::train {
namespace {

using torch::optim::AdamWOptions;
using torch::optim::AdamWParamState;

// One group's parameters of the same step count: they share the bias corrections.
struct SameStep {
  std::vector<torch::Tensor> params, grads, exp_avgs, exp_avg_sqs;
};

// LibTorch's AdamW::step, term for term, over lists.
void update(SameStep& lists, std::int64_t step, const AdamWOptions& options) {
  const double beta1 = std::get<0>(options.betas());
  const double beta2 = std::get<1>(options.betas());
  if (options.weight_decay() != 0)
    at::_foreach_mul_(lists.params, 1 - options.lr() * options.weight_decay());
  const double bias_correction1 = 1 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1 - std::pow(beta2, static_cast<double>(step));
  at::_foreach_mul_(lists.exp_avgs, beta1);
  at::_foreach_add_(lists.exp_avgs, lists.grads, 1 - beta1);
  at::_foreach_mul_(lists.exp_avg_sqs, beta2);
  at::_foreach_addcmul_(lists.exp_avg_sqs, lists.grads, lists.grads, 1 - beta2);
  std::vector<torch::Tensor> denominators = at::_foreach_sqrt(lists.exp_avg_sqs);
  at::_foreach_div_(denominators, std::sqrt(bias_correction2));
  at::_foreach_add_(denominators, options.eps());
  at::_foreach_addcdiv_(lists.params, lists.exp_avgs, denominators,
                        -options.lr() / bias_correction1);
}

}  // namespace

AdamWParamState* MultiTensorAdamW::find_state(const torch::Tensor& parameter) {
  auto& states = state();
  const auto found = states.find(model::compat::optimizer_state_key(*this, parameter));
  return found == states.end() ? nullptr : static_cast<AdamWParamState*>(found->second.get());
}

AdamWParamState& MultiTensorAdamW::state_of(const torch::Tensor& parameter) {
  auto& states = state();
  const auto key = model::compat::optimizer_state_key(*this, parameter);
  auto found = states.find(key);
  if (found == states.end()) {
    auto fresh = std::make_unique<AdamWParamState>();
    fresh->step(0);
    fresh->exp_avg(torch::zeros_like(parameter, torch::MemoryFormat::Preserve));
    fresh->exp_avg_sq(torch::zeros_like(parameter, torch::MemoryFormat::Preserve));
    found = states.emplace(key, std::move(fresh)).first;
  }
  return static_cast<AdamWParamState&>(*found->second);
}

torch::Tensor MultiTensorAdamW::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups()) {
    const auto& options = static_cast<const AdamWOptions&>(group.options());
    SATUNET_CHECK_IN("train", !options.amsgrad(), "the multi-tensor AdamW has no amsgrad");
    std::map<std::int64_t, SameStep> by_step;
    for (const torch::Tensor& parameter : group.params()) {
      if (!parameter.grad().defined())
        continue;
      AdamWParamState& state = state_of(parameter);
      state.step(state.step() + 1);
      SameStep& lists = by_step[state.step()];
      lists.params.push_back(parameter);
      lists.grads.push_back(parameter.grad());
      lists.exp_avgs.push_back(state.exp_avg());
      lists.exp_avg_sqs.push_back(state.exp_avg_sq());
    }
    for (auto& [step, lists] : by_step)
      update(lists, step, options);
  }
  return loss;
}

bool MultiTensorAdamW::skips_on_device() const {
  return model::compat::kFusedAdamW && !param_groups().empty() &&
         !param_groups().front().params().empty() &&
         param_groups().front().params().front().is_cuda();
}

void MultiTensorAdamW::step_unless(const torch::Tensor& nonfinite) {
  SATUNET_CHECK_IN("train", skips_on_device(), "the fused AdamW needs LibTorch 2.x and CUDA");
  torch::NoGradGuard no_grad;
  auto& group = param_groups().front();
  const auto& options = static_cast<const AdamWOptions&>(group.options());
  const auto& parameters = group.params();
  if (device_steps_.size() != parameters.size()) {
    device_steps_.clear();
    for (const torch::Tensor& parameter : parameters) {
      const AdamWParamState* state = find_state(parameter);
      device_steps_.push_back(
          torch::full({}, state ? static_cast<double>(state->step()) : 0.0,
                      torch::TensorOptions().device(parameter.device()).dtype(torch::kFloat32)));
    }
  }
  model::compat::AdamWLists lists;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const torch::Tensor& parameter = parameters[i];
    if (!parameter.grad().defined())
      continue;
    AdamWParamState& state = state_of(parameter);
    lists.params.push_back(parameter);
    lists.grads.push_back(parameter.grad());
    lists.exp_avgs.push_back(state.exp_avg());
    lists.exp_avg_sqs.push_back(state.exp_avg_sq());
    lists.steps.push_back(device_steps_[i]);
  }
  model::compat::fused_adamw_unless(lists, options.lr(), std::get<0>(options.betas()),
                                    std::get<1>(options.betas()), options.weight_decay(),
                                    options.eps(), nonfinite);
}

void MultiTensorAdamW::write_back_steps() {
  if (device_steps_.empty())
    return;
  const auto& parameters = param_groups().front().params();
  const torch::Tensor steps = torch::stack(device_steps_).to(torch::kCPU).contiguous();
  for (std::size_t i = 0; i < parameters.size(); ++i)
    if (AdamWParamState* state = find_state(parameters[i]))
      state->step(static_cast<std::int64_t>(steps.data_ptr<float>()[i]));
}

}  // namespace satunet::train
