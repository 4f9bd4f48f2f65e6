#include "export/onnx_file.hpp"

#include <nlohmann/json.hpp>

#include "data/normalise.hpp"
#include "export/onnx.hpp"
#include "export/onnx_unet.hpp"
#include "export/state_dict.hpp"

namespace satunet::exporting {
namespace {

// Deepness scales every pixel by 1/255 before it standardises: (value / 255 - mean') / std'.
// With mean' = mean / 255 and std' = std / 255 that is satunet's (value - mean) / std, whatever
// the pixel type.
constexpr double kDeepnessScale = 255.0;

std::vector<OnnxDim> image_dims(std::int64_t channels, std::int64_t size) {
  if (size > 0)
    return {{0, "N"}, {channels, ""}, {size, ""}, {size, ""}};
  return {{0, "N"}, {channels, ""}, {0, "H"}, {0, "W"}};
}

void check_input_size(const model::UNetOptions& options, std::int64_t size) {
  const std::int64_t multiple = std::int64_t{1} << options.levels();
  if (size % multiple != 0)
    throw UsageError("--input-size " + std::to_string(size) + ": a U-Net of " +
                     std::to_string(options.levels()) + " levels takes sizes divisible by " +
                     std::to_string(multiple));
}

}  // namespace

std::vector<std::pair<std::string, std::string>> onnx_metadata(const model::CheckpointMeta& meta,
                                                               const OnnxSettings& settings) {
  nlohmann::json class_names = nlohmann::json::object();
  for (std::size_t index = 0; index < meta.classes.size(); ++index)
    class_names[std::to_string(index)] = meta.classes[index];
  nlohmann::json means = nlohmann::json::array(), stds = nlohmann::json::array();
  for (const auto& band : meta.bands) {
    means.push_back(band.mean / kDeepnessScale);
    stds.push_back(std::max(band.std, data::kMinStd) / kDeepnessScale);
  }
  const std::int64_t tile = settings.input_size > 0 ? settings.input_size : meta.tile_size;
  std::vector<std::pair<std::string, std::string>> metadata = {
      {"model_type", nlohmann::json("Segmentor").dump()},
      {"class_names", class_names.dump()},
      // Deepness's documentation names the tile size tiles_size, its code reads tile_size.
      {"tiles_size", nlohmann::json(tile).dump()},
      {"tile_size", nlohmann::json(tile).dump()},
      {"tiles_overlap", nlohmann::json(kTilesOverlapPercent).dump()},
      {"standardization_mean", means.dump()},
      {"standardization_std", stds.dump()},
      // No threshold: each pixel takes its most probable class, as satunet stitch decides.
      {"seg_thresh", nlohmann::json(0).dump()}};
  if (settings.resolution_cm)
    metadata.emplace_back("resolution", nlohmann::json(*settings.resolution_cm).dump());
  metadata.emplace_back("satunet_bands", bands_json(meta.bands).dump());
  metadata.emplace_back("satunet_model", meta.model.to_json());
  metadata.emplace_back("satunet_output",
                        nlohmann::json(settings.probabilities ? "probabilities" : "logits").dump());
  return metadata;
}

std::string onnx_file(model::UNetImpl& model, const model::CheckpointMeta& meta,
                      const OnnxSettings& settings) {
  if (settings.input_size > 0)
    check_input_size(meta.model, settings.input_size);
  OnnxGraph graph;
  graph.set_input({"image", image_dims(meta.model.in_channels(), settings.input_size)});
  std::string output = emit_unet(model, graph, "image");
  if (settings.probabilities)
    output = graph.node("Softmax", {output}, "probabilities", {attribute("axis", std::int64_t{1})});
  else
    output = graph.node("Identity", {output}, "logits");  // the output's name says what it is
  graph.set_output({output, image_dims(meta.model.classes(), settings.input_size)});
  for (const auto& [key, value] : onnx_metadata(meta, settings))
    graph.add_metadata(key, value);
  graph.set_doc(
      "satunet " + meta.model.describe() +
      ". Input 'image': each band's (value - mean) / std, the bands in satunet_bands' order "
      "(Deepness: standardization_mean/std after its scaling by 1/255). Output '" +
      output + "': one channel per class of class_names.");
  return graph.serialise("satunet_unet");
}

}  // namespace satunet::exporting
