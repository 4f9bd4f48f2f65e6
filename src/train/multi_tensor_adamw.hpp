#pragma once
// AdamW as LibTorch's, stepped as a few multi-tensor kernels for all parameters rather than a
// dozen kernels for each (PyTorch's foreach/fused AdamW, torch/optim/adamw.py): on a GPU the
// per-parameter launches, not the arithmetic, bound a small model's step. The state is
// LibTorch's AdamWParamState, so checkpoints and resumes are unchanged.
//
// On LibTorch 2.x with CUDA parameters the step is the fused kernel, which also skips itself
// on the device when the gradients were found not finite: the host never waits for that
// verdict inside a step.
#include <torch/torch.h>

#include <vector>

namespace satunet::train {

class MultiTensorAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;

  // The same update as torch::optim::AdamW::step, bitwise on the CPU.
  torch::Tensor step(LossClosure closure = nullptr) override;

  // Whether step_unless skips on the device (fused kernel) rather than needing the host to
  // read `nonfinite` first.
  bool skips_on_device() const;
  // One step unless `nonfinite` (a float scalar on the parameters' device, 1 for "the
  // gradients are not finite") is set; only where skips_on_device().
  void step_unless(const torch::Tensor& nonfinite);
  // The fused kernel counts steps in device tensors: written back into the state (which a
  // checkpoint saves) before it is read.
  void write_back_steps();

 private:
  torch::optim::AdamWParamState* find_state(const torch::Tensor& parameter);
  // Made as LibTorch's AdamW makes it on a parameter's first step.
  torch::optim::AdamWParamState& state_of(const torch::Tensor& parameter);

  std::vector<torch::Tensor> device_steps_;  // per parameter of the first group (fused path)
};

}  // namespace satunet::train
