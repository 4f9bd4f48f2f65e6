#pragma once
// The building blocks the plain U-Net (unet.cpp) and the ResNet encoder and its decoder
// (resnet.cpp) share. Internal to the model library.
#include <torch/torch.h>

#include "model/model_options.hpp"

namespace satunet::model {

// A convolution padded to keep the size (odd kernels), at `stride`.
torch::nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, bool bias, int64_t stride = 1);

// The normalisation `norm` over `channels`: batch, group (the largest group count up to
// `groups` that divides the channels) or none (an identity).
torch::nn::AnyModule make_norm(Norm norm, int64_t channels, int64_t groups);

}  // namespace satunet::model
