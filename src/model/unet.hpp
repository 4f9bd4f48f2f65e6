#pragma once
// U-Net (Ronneberger et al. 2015) and the variants users ask for: normalisation, bilinear
// upsampling, residual blocks, attention gates on the skips (Oktay et al. 2018), dropout at
// the bottleneck. LibTorch modules as Options + Impl + TORCH_MODULE, every child registered.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "common/error.hpp"
#include "model/encoder_weights.hpp"
#include "model/model_options.hpp"
#include "model/resnet.hpp"
#include "model/runtime.hpp"

#define MODEL_CHECK(cond, ...) SATUNET_CHECK_IN("model", cond, __VA_ARGS__)

namespace satunet::model {

// 3x3 conv -> norm -> ReLU, twice; residual: the input (projected by a 1x1 conv when the
// width changes) is added before the last ReLU.
class ConvBlockImpl : public torch::nn::Module {
 public:
  ConvBlockImpl(int64_t in, int64_t out, Norm norm, BlockKind kind, int64_t groups);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, projection_{nullptr};
  torch::nn::AnyModule norm1_, norm2_;
  bool residual_;
};
TORCH_MODULE(ConvBlock);

struct DownOutput {
  torch::Tensor pooled;
  torch::Tensor features;  // for the skip connection
};

class DownBlockImpl : public torch::nn::Module {
 public:
  DownBlockImpl(int64_t in, int64_t out, Norm norm, BlockKind kind, int64_t groups);
  DownOutput forward(const torch::Tensor& x);

 private:
  ConvBlock conv_{nullptr};
  torch::nn::MaxPool2d pool_{nullptr};
};
TORCH_MODULE(DownBlock);

// Weighs the skip features by how relevant the coarser gating signal finds each pixel.
class AttentionGateImpl : public torch::nn::Module {
 public:
  AttentionGateImpl(int64_t gate_channels, int64_t skip_channels, int64_t inner, Norm norm,
                    int64_t groups);
  torch::Tensor forward(const torch::Tensor& gate, const torch::Tensor& skip);

 private:
  torch::nn::Sequential gate_{nullptr}, skip_{nullptr}, psi_{nullptr};
};
TORCH_MODULE(AttentionGate);

// The 2x2 stride-2 transposed convolution of an up block: the same function of the same
// parameters as transposed.forward(x), computed on CPUs along a much faster path (unet.cpp).
torch::Tensor upsample_transposed(const torch::Tensor& x,
                                  torch::nn::ConvTranspose2dImpl& transposed);

class UpBlockImpl : public torch::nn::Module {
 public:
  UpBlockImpl(int64_t in, int64_t out, const UNetOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& skip);

 private:
  torch::nn::ConvTranspose2d transpose_{nullptr};
  torch::nn::Conv2d reduce_{nullptr};  // after bilinear upsampling
  AttentionGate attention_{nullptr};
  ConvBlock conv_{nullptr};
};
TORCH_MODULE(UpBlock);

// Shapes seen on the way through, for tests and `--verbose` logs.
struct ShapeTrace {
  std::vector<std::vector<int64_t>> encoder;  // after each pooling (each ResNet stage)
  std::vector<int64_t> bottleneck;
  std::vector<std::vector<int64_t>> decoder;  // after each up block
  std::vector<int64_t> output;
};

class UNetImpl : public torch::nn::Module {
 public:
  explicit UNetImpl(const UNetOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor forward(const torch::Tensor& x, ShapeTrace* trace);
  const UNetOptions& options() const { return options_; }
  int64_t parameter_count() const;
  // Pretrained weights for a ResNet encoder whose input bands are `bands` (see
  // model/encoder_weights.hpp).
  EncoderWeights load_encoder_weights(const std::string& path,
                                      const std::vector<std::string>& bands);

 private:
  void build_over_resnet();
  torch::Tensor forward_plain(const torch::Tensor& x, ShapeTrace* trace);
  torch::Tensor forward_over_resnet(const torch::Tensor& x, ShapeTrace* trace);

  UNetOptions options_;
  torch::nn::ModuleList down_{nullptr}, up_{nullptr};  // the plain encoder and its decoder
  ConvBlock bottleneck_{nullptr};
  ResNetEncoder encoder_{nullptr};  // or a ResNet
  torch::nn::ModuleList decoder_{nullptr};
  torch::nn::Dropout2d dropout_{nullptr};
  torch::nn::Conv2d head_{nullptr};
};
TORCH_MODULE(UNet);

// A hash of every parameter and buffer, byte by byte: equal digests mean bitwise-equal models.
std::uint64_t state_digest(torch::nn::Module& module);

// LibTorch starts with one intra-op thread here; jobs set it explicitly.
void set_threads(int threads);

}  // namespace satunet::model
