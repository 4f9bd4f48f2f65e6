#include "model/layers.hpp"

#include <numeric>

namespace satunet::model {

torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, bool bias, int64_t stride) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(bias));
}

torch::nn::AnyModule make_norm(Norm norm, int64_t channels, int64_t groups) {
  switch (norm) {
    case Norm::batch:
      return torch::nn::AnyModule(torch::nn::BatchNorm2d(channels));
    case Norm::group:
      return torch::nn::AnyModule(torch::nn::GroupNorm(std::gcd(channels, groups), channels));
    case Norm::none:
      return torch::nn::AnyModule(torch::nn::Identity());
  }
  return torch::nn::AnyModule(torch::nn::Identity());
}

}  // namespace satunet::model
