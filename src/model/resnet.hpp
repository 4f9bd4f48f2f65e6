#pragma once
// A ResNet encoder laid out as torchvision's (so that its ImageNet state dicts load by name)
// and the U-Net decoder that segmentation_models.pytorch puts over it: five nearest-neighbour
// upsamplings, each followed by the skip of the same scale and two 3x3 conv-norm-ReLU.
#include <torch/torch.h>

#include <vector>

#include "model/model_options.hpp"

namespace satunet::model {

// Channels of the encoder's features at strides 2, 4, 8, 16 and 32 (64, 64, 128, 256, 512 for
// resnet18/34; 64, 256, 512, 1024, 2048 for resnet50).
std::vector<int64_t> encoder_channels(Encoder kind);

// The max pooling after the stem's convolution (torchvision's): 3x3, stride 2, padding 1.
struct StemPooling {
  static constexpr int64_t kernel = 3, stride = 2, padding = 1;
};

// torchvision's BasicBlock (resnet18/34) and Bottleneck (resnet50, the stride on its 3x3
// convolution as in torchvision's v1.5), with the same child names.
class ResidualUnitImpl : public torch::nn::Module {
 public:
  ResidualUnitImpl(int64_t in, int64_t planes, int64_t stride, bool bottleneck);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr}, bn2_{nullptr}, bn3_{nullptr};
  torch::nn::Sequential downsample_{nullptr};
};
TORCH_MODULE(ResidualUnit);

class ResNetEncoderImpl : public torch::nn::Module {
 public:
  ResNetEncoderImpl(Encoder kind, int64_t in_channels);
  // The features the decoder takes, at strides 2, 4, 8, 16 and 32.
  std::vector<torch::Tensor> forward(const torch::Tensor& x);
  const std::vector<int64_t>& channels() const { return channels_; }  // encoder_channels

 private:
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::vector<torch::nn::Sequential> layers_;
  std::vector<int64_t> channels_;
};
TORCH_MODULE(ResNetEncoder);

// Upsample x2 (nearest), concatenate the skip (if any), two 3x3 conv-norm-ReLU.
class DecoderBlockImpl : public torch::nn::Module {
 public:
  DecoderBlockImpl(int64_t in, int64_t skip, int64_t out, Norm norm, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& skip);

 private:
  torch::nn::Sequential conv1_{nullptr}, conv2_{nullptr};
};
TORCH_MODULE(DecoderBlock);

// The decoder's widths, from the deepest block up: base x 16, 8, 4, 2, 1 (base 16 is
// segmentation_models.pytorch's default, 256 ... 16).
std::vector<int64_t> decoder_channels(int64_t base);
// The channels of the skip each of those blocks concatenates: the encoder's features from
// stride 16 up to stride 2, then none at full resolution.
std::vector<int64_t> decoder_skip_channels(Encoder kind);

}  // namespace satunet::model
