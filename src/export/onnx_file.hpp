#pragma once
// A checkpoint's model as an ONNX file: the network (onnx_unet.hpp), its input and output, and
// metadata for the programs that run it: the keys the Deepness QGIS plugin reads (model_type,
// class_names, tile size and overlap, resolution, standardization_mean/std) and satunet's own
// (the bands in input order with their normalisation and pixel type, the model's options).
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/checkpoint.hpp"

namespace satunet::exporting {

struct OnnxSettings {
  bool probabilities = false;   // a softmax over the classes ends the graph
  std::int64_t input_size = 0;  // the input's height and width; 0: given at run time
  std::optional<double> resolution_cm;
};

// The overlap of neighbouring windows in percent of the tile, as satunet predict's default.
constexpr int kTilesOverlapPercent = 25;

// The metadata_props, in the order written (JSON values, as Deepness parses them).
std::vector<std::pair<std::string, std::string>> onnx_metadata(const model::CheckpointMeta& meta,
                                                               const OnnxSettings& settings);

// The ModelProto's bytes. Throws Error for an input size the model cannot take.
std::string onnx_file(model::UNetImpl& model, const model::CheckpointMeta& meta,
                      const OnnxSettings& settings);

}  // namespace satunet::exporting
