#include "model/resnet.hpp"

#include <algorithm>

#include "common/error.hpp"
#include "model/layers.hpp"

namespace satunet::model {
namespace F = torch::nn::functional;
namespace {

struct Architecture {
  std::vector<int64_t> units;  // per layer
  bool bottleneck;
};

Architecture architecture(Encoder kind) {
  switch (kind) {
    case Encoder::resnet18:
      return {{2, 2, 2, 2}, false};
    case Encoder::resnet34:
      return {{3, 4, 6, 3}, false};
    case Encoder::resnet50:
      return {{3, 4, 6, 3}, true};
    case Encoder::plain:
      break;
  }
  throw Error("the plain encoder is not a ResNet");
}

int64_t layer_channels(const Architecture& layout, std::size_t layer) {
  return (int64_t{64} << layer) * (layout.bottleneck ? 4 : 1);
}

// torchvision's initialisation of a ResNet.
void initialise_encoder(torch::nn::Module& encoder) {
  torch::NoGradGuard no_grad;
  for (auto& module : encoder.modules(/*include_self=*/false)) {
    if (auto* convolution = module->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(convolution->weight, 0, torch::kFanOut, torch::kReLU);
    } else if (auto* norm = module->as<torch::nn::BatchNorm2d>()) {
      torch::nn::init::ones_(norm->weight);
      torch::nn::init::zeros_(norm->bias);
    }
  }
}

}  // namespace

std::vector<int64_t> encoder_channels(Encoder kind) {
  const Architecture layout = architecture(kind);
  std::vector<int64_t> channels{64};
  for (std::size_t layer = 0; layer < layout.units.size(); ++layer)
    channels.push_back(layer_channels(layout, layer));
  return channels;
}

ResidualUnitImpl::ResidualUnitImpl(int64_t in, int64_t planes, int64_t stride, bool bottleneck) {
  const int64_t out = bottleneck ? planes * 4 : planes;
  if (bottleneck) {
    conv1_ = register_module("conv1", conv(in, planes, 1, false));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", conv(planes, planes, 3, false, stride));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(planes));
    conv3_ = register_module("conv3", conv(planes, out, 1, false));
    bn3_ = register_module("bn3", torch::nn::BatchNorm2d(out));
  } else {
    conv1_ = register_module("conv1", conv(in, planes, 3, false, stride));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(planes));
    conv2_ = register_module("conv2", conv(planes, planes, 3, false));
    bn2_ = register_module("bn2", torch::nn::BatchNorm2d(planes));
  }
  if (stride != 1 || in != out)
    downsample_ = register_module(
        "downsample",
        torch::nn::Sequential(conv(in, out, 1, false, stride), torch::nn::BatchNorm2d(out)));
}

torch::Tensor ResidualUnitImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::relu(bn1_->forward(conv1_->forward(x)));
  y = bn2_->forward(conv2_->forward(y));
  if (conv3_)
    y = bn3_->forward(conv3_->forward(torch::relu(y)));
  return torch::relu(y + (downsample_ ? downsample_->forward(x) : x));
}

ResNetEncoderImpl::ResNetEncoderImpl(Encoder kind, int64_t in_channels)
    : channels_(encoder_channels(kind)) {
  const Architecture layout = architecture(kind);
  conv1_ = register_module("conv1", conv(in_channels, 64, 7, false, 2));
  bn1_ = register_module("bn1", torch::nn::BatchNorm2d(64));
  int64_t channels = 64;
  for (std::size_t layer = 0; layer < layout.units.size(); ++layer) {
    torch::nn::Sequential units;
    for (int64_t unit = 0; unit < layout.units[layer]; ++unit) {
      const int64_t stride = layer > 0 && unit == 0 ? 2 : 1;
      units->push_back(ResidualUnit(channels, int64_t{64} << layer, stride, layout.bottleneck));
      channels = layer_channels(layout, layer);
    }
    layers_.push_back(register_module("layer" + std::to_string(layer + 1), units));
  }
  initialise_encoder(*this);
}

std::vector<torch::Tensor> ResNetEncoderImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> features;
  features.push_back(torch::relu(bn1_->forward(conv1_->forward(x))));
  torch::Tensor y = F::max_pool2d(features.back(), F::MaxPool2dFuncOptions(StemPooling::kernel)
                                                       .stride(StemPooling::stride)
                                                       .padding(StemPooling::padding));
  for (auto& layer : layers_) {
    y = layer->forward(y);
    features.push_back(y);
  }
  return features;
}

namespace {

torch::nn::Sequential conv_norm_relu(int64_t in, int64_t out, Norm norm, int64_t groups) {
  torch::nn::Sequential block(conv(in, out, 3, norm == Norm::none));
  if (norm != Norm::none)  // SMP's layout: the ReLU at index 1 without one
    block->push_back(make_norm(norm, out, groups));
  block->push_back(torch::nn::ReLU());
  return block;
}

}  // namespace

DecoderBlockImpl::DecoderBlockImpl(int64_t in, int64_t skip, int64_t out, Norm norm, int64_t groups)
    : conv1_(register_module("conv1", conv_norm_relu(in + skip, out, norm, groups))),
      conv2_(register_module("conv2", conv_norm_relu(out, out, norm, groups))) {
  // segmentation_models.pytorch's initialisation of its decoder.
  torch::NoGradGuard no_grad;
  for (auto& module : modules(/*include_self=*/false))
    if (auto* convolution = module->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_uniform_(convolution->weight, 0, torch::kFanIn, torch::kReLU);
      if (convolution->bias.defined())
        torch::nn::init::zeros_(convolution->bias);
    }
}

torch::Tensor DecoderBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& skip) {
  torch::Tensor y = F::interpolate(x, F::InterpolateFuncOptions()
                                          .scale_factor(std::vector<double>{2.0, 2.0})
                                          .mode(torch::kNearest));
  if (skip.defined())
    y = torch::cat({y, skip}, 1);
  return conv2_->forward(conv1_->forward(y));
}

std::vector<int64_t> decoder_channels(int64_t base) {
  return {base * 16, base * 8, base * 4, base * 2, base};
}

std::vector<int64_t> decoder_skip_channels(Encoder kind) {
  std::vector<int64_t> skips = encoder_channels(kind);
  skips.pop_back();  // the deepest features are the decoder's input
  std::reverse(skips.begin(), skips.end());
  skips.push_back(0);
  return skips;
}

}  // namespace satunet::model
