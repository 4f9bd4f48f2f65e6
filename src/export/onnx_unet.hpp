#pragma once
// A satunet U-Net as ONNX nodes, for every variant a checkpoint can hold: the plain U-Net with
// any norm, upsampling, block and attention gates, and the ResNet encoders under
// segmentation_models.pytorch's decoder. Emitted module by module from the model itself (its
// modules' types, options and weights) as it computes in eval mode: dropout is the identity and
// batch norm uses its running statistics.
#include <string>

#include "export/onnx.hpp"
#include "model/unet.hpp"

namespace satunet::exporting {

// Adds the network's nodes and weights to `graph`, from the tensor named `input` ([N, bands,
// H, W], normalised) to the logits ([N, classes, H, W]); returns the logits' name. Throws Error
// for a module it cannot express, or when a weight of the model would be left out.
std::string emit_unet(model::UNetImpl& model, OnnxGraph& graph, const std::string& input);

}  // namespace satunet::exporting
