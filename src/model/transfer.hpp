#pragma once
// Starting a model from another's weights (fine-tuning): `satunet train --init-from`.
#include <string>
#include <vector>

#include "model/model_options.hpp"
#include "model/unet.hpp"

namespace satunet::model {

struct WeightTransfer {
  int tensors = 0;                // parameters and buffers copied
  bool head_initialised = false;  // the classes differ: the head keeps its fresh weights
};

// Whether a parameter or buffer, by name, belongs to the encoder: the plain U-Net's
// contracting path and bottleneck, or the ResNet.
bool is_encoder_tensor(const std::string& name);

// Copies `source`'s parameters and running statistics into `target`, name by name, bitwise.
// The head is copied only where both models predict the same classes in the same order (a new
// class list starts it afresh). `origin` names the source in errors: another architecture, or
// another number of bands, is refused with the tensor that differs.
WeightTransfer transfer_weights(UNet& source, const std::vector<std::string>& source_classes,
                                UNet& target, const std::vector<std::string>& target_classes,
                                InitParts parts, const std::string& origin);

}  // namespace satunet::model
