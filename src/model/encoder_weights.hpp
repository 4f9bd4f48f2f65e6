#pragma once
// Pretrained weights for a ResNet encoder: torchvision's ImageNet state dicts, and satellite
// ones of any band count in the same layout (TorchGeo's SSL4EO-S12 ResNet-50 for Sentinel-2's
// 13 bands), whose first layer is matched to the dataset's bands by name.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "model/model_options.hpp"
#include "model/resnet.hpp"

namespace satunet::model {

// The first convolution's weights for `bands` input bands from RGB ones [out, 3, k, k], by
// segmentation_models.pytorch's rule (TorchGeo's timm models use the same): one band takes the
// sum over RGB; otherwise band i takes RGB band i mod 3, all scaled by 3 / bands, so that the
// response to an image of equal bands keeps its scale.
torch::Tensor first_layer_weights(const torch::Tensor& rgb, int64_t bands);

struct EncoderWeights {
  int64_t tensors = 0;   // loaded into the encoder
  int64_t skipped = 0;   // in the file but not the encoder's (torchvision's fc classifier)
  bool adapted = false;  // the first layer was derived for another band count
  // The file's bands the first layer takes, in the dataset's order, where the file names its
  // bands (its "bands" entry); empty otherwise.
  std::vector<std::string> selected;
};

// Loads a ResNet state dict (a plain dict saved by torch.save; README shows the one-line
// conversion of torchvision's .pth files and TorchGeo's weights) into `encoder`, whose input
// bands are `bands` (the dataset's names, in order). A file that names its bands in a "bands"
// entry (a list of names, one per input channel of conv1.weight) gives each dataset band the
// channel of the same name (B4 = B04, any case), and is refused when one is not among them; a
// file without names gives its first layer as it is, or derived from RGB by
// first_layer_weights. Throws Error naming the file for another format, a missing tensor or
// another shape.
EncoderWeights load_encoder_weights(ResNetEncoderImpl& encoder, Encoder kind,
                                    const std::string& path, const std::vector<std::string>& bands);

}  // namespace satunet::model
