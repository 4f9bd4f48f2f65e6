#pragma once
// The optimizer's per-parameter state, saved by parameter index. LibTorch's own
// serialisation keys it by tensor addresses, which change from run to run, so two identical
// runs would write different files; by index they write the same bytes, and resume anywhere.
#include <torch/torch.h>

namespace satunet::train {

void save_optimizer_state(const torch::optim::Optimizer& optimizer,
                          const std::vector<torch::Tensor>& parameters,
                          torch::serialize::OutputArchive& archive);
void load_optimizer_state(torch::optim::Optimizer& optimizer,
                          const std::vector<torch::Tensor>& parameters,
                          torch::serialize::InputArchive& archive);

}  // namespace satunet::train
