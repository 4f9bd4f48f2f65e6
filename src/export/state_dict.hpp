#pragma once
// A model's weights as a PyTorch state dict that `torch.load` reads without satunet (the zip
// format torch.save writes), under the names of the Python network that unet_model.py builds:
// satunet's own for the plain U-Net; for a ResNet encoder, segmentation_models.pytorch's
// smp.Unet's (encoder.*, decoder.blocks.N.*, segmentation_head.0.*), so that the same dict loads
// into smp.Unet as well.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/checkpoint.hpp"

namespace satunet::exporting {

// The Python name of the model's parameter or buffer `name`.
std::string python_name(const model::UNetOptions& options, const std::string& name);

// The state dict, module by module as PyTorch orders one, as torch.save writes it.
std::vector<char> state_dict_file(model::UNetImpl& model);

// model.json: the network's options, the classes, the bands with their normalisation, the tile
// size, where the weights came from, and for a ResNet encoder the smp.Unet arguments that build
// the same network (none where SMP has no such decoder: group norm).
std::string export_description(const model::CheckpointMeta& meta, const std::string& checkpoint,
                               std::optional<double> resolution_cm);

// The bands in input order with their normalisation and pixel type, as model.json and the ONNX
// metadata list them: [{"name", "mean", "std", "dtype"}, ...].
nlohmann::json bands_json(const std::vector<model::BandNormalisation>& bands);

// unet_model.py, which builds the network with torch.nn alone (model.py in an export).
const std::string& python_module();

}  // namespace satunet::exporting
