#pragma once
// `satunet export`: a checkpoint's model for use without satunet, as a PyTorch state dict with
// the Python that builds its network (state_dict.hpp), or as an ONNX file whose metadata holds
// its classes, bands and normalisation as the Deepness QGIS plugin reads them (onnx_file.hpp).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/options.hpp"

namespace satunet::exporting {

enum class Format { state_dict, onnx };
inline const options::EnumNames<Format>& enum_names(Format) {
  static const options::EnumNames<Format> names{{Format::state_dict, "state-dict"},
                                                {Format::onnx, "onnx"}};
  return names;
}

struct ExportOptions {
  std::string checkpoint;
  std::optional<Format> format;
  std::string out;  // the ONNX file, or the state dict's directory
  bool probabilities = false;
  std::int64_t input_size = 0;
  std::optional<double> resolution_cm;
  bool overwrite = false;
};

const options::Table<ExportOptions>& export_option_table();
// The rules between options (UsageError).
void validate(const ExportOptions& options);

struct ExportResult {
  std::vector<std::string> files;  // what was written
  std::string architecture;        // the model's one-line description
};

// Loads the checkpoint and writes the export, replacing an earlier one only with --overwrite.
// Throws Error naming the file at fault.
ExportResult export_model(const ExportOptions& options);
std::string describe(const ExportResult& result);

}  // namespace satunet::exporting
