#pragma once
// The model's and the loss's hyper-parameters, free of LibTorch's heavy headers so that the
// stages and the CLI that only name them compile fast (TORCH_ARG comes from <torch/arg.h>).
#include <torch/arg.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/options.hpp"

namespace satunet::model {

enum class Norm { batch, group, none };
enum class Upsampling { transpose, bilinear };
enum class BlockKind { plain, residual };

inline const options::EnumNames<Norm>& enum_names(Norm) {
  static const options::EnumNames<Norm> names{
      {Norm::batch, "batch"}, {Norm::group, "group"}, {Norm::none, "none"}};
  return names;
}
inline const options::EnumNames<Upsampling>& enum_names(Upsampling) {
  static const options::EnumNames<Upsampling> names{{Upsampling::transpose, "transpose"},
                                                    {Upsampling::bilinear, "bilinear"}};
  return names;
}
inline const options::EnumNames<BlockKind>& enum_names(BlockKind) {
  static const options::EnumNames<BlockKind> names{{BlockKind::plain, "plain"},
                                                   {BlockKind::residual, "residual"}};
  return names;
}

// What the contracting path is: the U-Net's own levels, or a ResNet laid out as torchvision's
// (its ImageNet weights load) under segmentation_models.pytorch's U-Net decoder.
enum class Encoder { plain, resnet18, resnet34, resnet50 };
inline const options::EnumNames<Encoder>& enum_names(Encoder) {
  static const options::EnumNames<Encoder> names{{Encoder::plain, "plain"},
                                                 {Encoder::resnet18, "resnet18"},
                                                 {Encoder::resnet34, "resnet34"},
                                                 {Encoder::resnet50, "resnet50"}};
  return names;
}

// The most parameters satunet builds a model of (4 GB of float32 weights, 16 GB with AdamW's
// state and the gradients).
constexpr double kMaxParameters = 1e9;

struct UNetOptions {
  TORCH_ARG(int64_t, in_channels) = 3;
  TORCH_ARG(int64_t, classes) = 3;
  TORCH_ARG(int64_t, base) = 32;  // channels of the first level; doubled at each level
  TORCH_ARG(int64_t, depth) = 4;  // pooling steps
  TORCH_ARG(Norm, norm) = Norm::batch;
  TORCH_ARG(Upsampling, upsampling) = Upsampling::transpose;
  TORCH_ARG(BlockKind, block) = BlockKind::plain;
  TORCH_ARG(bool, attention) = false;
  TORCH_ARG(double, dropout) = 0.0;  // at the bottleneck
  TORCH_ARG(int64_t, groups) = 8;    // for group norm
  // With a ResNet encoder, `base` sets the decoder's widths (base x 16 ... base), `depth` is
  // the ResNet's 5 stages, and upsampling is nearest-neighbour, as segmentation_models.pytorch
  // builds it.
  TORCH_ARG(Encoder, encoder) = Encoder::plain;

 public:                  // TORCH_ARG leaves the members private
  void validate() const;  // throws UsageError
  // Halvings of the resolution on the way down: input sizes must be multiples of 2^levels.
  int64_t levels() const;
  // The weights of the 3x3 convolutions (most of a U-Net's), computed without building it: a
  // lower bound of its parameters, to refuse a model too large to build before trying.
  double conv3x3_weights() const;
  std::string describe() const;  // one line, for logs and `satunet info`
  std::string to_json() const;
  // Throws Error for JSON that does not describe a model.
  static UNetOptions from_json(const std::string& json);
};

// Arithmetic of the forward pass: auto is bf16 autocast on CUDA and float32 on CPU.
enum class Precision { automatic, fp32, bf16 };
inline const options::EnumNames<Precision>& enum_names(Precision) {
  static const options::EnumNames<Precision> names{
      {Precision::automatic, "auto"}, {Precision::fp32, "fp32"}, {Precision::bf16, "bf16"}};
  return names;
}
// Whether to run under bf16 autocast; UsageError for bf16 off the GPU.
bool bf16_autocast(Precision precision, bool on_gpu);

enum class LossKind { ce, dice, ce_dice, focal };
inline const options::EnumNames<LossKind>& enum_names(LossKind) {
  static const options::EnumNames<LossKind> names{{LossKind::ce, "ce"},
                                                  {LossKind::dice, "dice"},
                                                  {LossKind::ce_dice, "ce+dice"},
                                                  {LossKind::focal, "focal"}};
  return names;
}

struct LossOptions {
  LossKind kind = LossKind::ce;
  std::vector<double> class_weights;  // empty: unweighted
  double ce_weight = 1.0;             // for ce+dice
  double dice_weight = 1.0;
  double focal_gamma = 2.0;
  // clDice (Shit et al. 2021) of every class but the first, added with this weight (0: none):
  // rewards thin, connected predictions of thin structures (roads).
  double cldice_weight = 0.0;
  int cldice_iterations = 10;  // soft-skeleton steps: about the widest half-width, in pixels
};

// What a new run takes over: every weight, or the encoder's alone (the contracting path and
// the bottleneck, or the ResNet), the decoder then starting from its own initialisation.
enum class InitParts { all, encoder };
inline const options::EnumNames<InitParts>& enum_names(InitParts) {
  static const options::EnumNames<InitParts> names{{InitParts::all, "all"},
                                                   {InitParts::encoder, "encoder"}};
  return names;
}

}  // namespace satunet::model
