#include "export/state_dict.hpp"

#include <nlohmann/json.hpp>

namespace satunet::exporting {
namespace {

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Parameters then buffers of each module, parents before children: PyTorch's state_dict order.
void collect(torch::nn::Module& module, const std::string& prefix,
             const model::UNetOptions& options, c10::Dict<std::string, torch::Tensor>& state) {
  const auto add = [&](const std::string& name, const torch::Tensor& tensor) {
    state.insert(python_name(options, prefix + name), tensor.detach().to(torch::kCPU).clone());
  };
  for (const auto& item : module.named_parameters(/*recurse=*/false))
    add(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/false))
    add(item.key(), item.value());
  for (const auto& child : module.named_children())
    collect(*child.value(), prefix + child.key() + ".", options, state);
}

// smp.Unet's arguments for the same network; null where SMP builds no such decoder.
nlohmann::json smp_arguments(const model::UNetOptions& options) {
  if (options.encoder() == model::Encoder::plain || options.norm() == model::Norm::group)
    return nullptr;
  return {{"encoder_name", options::enum_name(options.encoder())},
          {"encoder_weights", nullptr},
          {"in_channels", options.in_channels()},
          {"classes", options.classes()},
          {"decoder_channels", model::decoder_channels(options.base())},
          {"decoder_use_batchnorm", options.norm() == model::Norm::batch}};
}

}  // namespace

nlohmann::json bands_json(const std::vector<model::BandNormalisation>& bands) {
  nlohmann::json json = nlohmann::json::array();
  for (const auto& band : bands)
    json.push_back(
        {{"name", band.name}, {"mean", band.mean}, {"std", band.std}, {"dtype", band.dtype}});
  return json;
}

std::string python_name(const model::UNetOptions& options, const std::string& name) {
  if (options.encoder() == model::Encoder::plain)
    return name;
  if (starts_with(name, "decoder."))  // smp.Unet's decoder keeps its blocks in a list
    return "decoder.blocks." + name.substr(std::string("decoder.").size());
  if (starts_with(name, "head."))  // its head is a Sequential of the convolution and identities
    return "segmentation_head.0." + name.substr(std::string("head.").size());
  return name;  // the encoder's are torchvision's, as SMP's ResNet encoder keeps them
}

std::vector<char> state_dict_file(model::UNetImpl& model) {
  c10::Dict<std::string, torch::Tensor> state;
  collect(model, "", model.options(), state);
  return torch::pickle_save(state);
}

std::string export_description(const model::CheckpointMeta& meta, const std::string& checkpoint,
                               std::optional<double> resolution_cm) {
  nlohmann::json json = {
      {"format", "satunet state dict"},
      {"version", 1},
      {"model", nlohmann::json::parse(meta.model.to_json())},
      {"levels", meta.model.levels()},
      {"classes", meta.classes},
      {"bands", bands_json(meta.bands)},
      {"tile_size", meta.tile_size},
      {"resolution_cm", resolution_cm ? nlohmann::json(*resolution_cm) : nlohmann::json(nullptr)},
      {"names",
       meta.model.encoder() == model::Encoder::plain ? "satunet" : "segmentation_models_pytorch"},
      {"smp_unet", smp_arguments(meta.model)},
      {"checkpoint",
       {{"path", checkpoint},
        {"epoch", meta.epoch},
        {"step", meta.step},
        {"created_by", meta.created_by}}}};
  return json.dump(2) + "\n";
}

}  // namespace satunet::exporting
