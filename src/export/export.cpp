#include "export/export.hpp"

#include <sstream>

#include "common/files.hpp"
#include "common/output_directory.hpp"
#include "export/onnx_file.hpp"
#include "export/state_dict.hpp"
#include "model/checkpoint.hpp"

namespace satunet::exporting {
namespace {

// A state dict export's directory: the weights, the network's Python, the description (written
// last: its presence says the export is complete).
const char* const kWeightsFile = "model.pt";
const char* const kPythonFile = "model.py";
const char* const kDescriptionFile = "model.json";

Product state_dict_product() {
  return {"a state dict export",
          {kDescriptionFile, kWeightsFile, kPythonFile},
          {kDescriptionFile, kWeightsFile, kPythonFile}};
}

ExportResult write_state_dict(const ExportOptions& options, model::LoadedCheckpoint& loaded) {
  const OutputDirectory out(options.out, state_dict_product(),
                            options.overwrite ? Earlier::replace : Earlier::refuse,
                            {options.checkpoint});
  out.clear();
  const std::vector<char> weights = state_dict_file(*loaded.model);
  const std::string dir = options.out + "/";
  write_file(dir + kWeightsFile, std::string(weights.begin(), weights.end()));
  write_file(dir + kPythonFile, python_module());
  write_file(dir + kDescriptionFile,
             export_description(loaded.meta, options.checkpoint, options.resolution_cm));
  return {{dir + kWeightsFile, dir + kPythonFile, dir + kDescriptionFile},
          loaded.meta.model.describe()};
}

ExportResult write_onnx(const ExportOptions& options, model::LoadedCheckpoint& loaded) {
  check_output_path(options.out, options.overwrite, {options.checkpoint});
  const OnnxSettings settings{options.probabilities, options.input_size, options.resolution_cm};
  write_file(options.out, onnx_file(*loaded.model, loaded.meta, settings));
  return {{options.out}, loaded.meta.model.describe()};
}

}  // namespace

const options::Table<ExportOptions>& export_option_table() {
  using O = ExportOptions;
  static const auto table =
      options::Table<O>()
          .value("checkpoint", &O::checkpoint, "the checkpoint whose model to export", "C.pt")
          .positional()
          .required("a CHECKPOINT to export")
          .value("format", &O::format,
                 "state-dict (a directory: model.pt, model.py, model.json) or onnx (one file)",
                 "state-dict|onnx")
          .required()
          .value("out", &O::out, "the ONNX file, or the state dict's directory", "PATH")
          .required()
          .flag("probabilities", &O::probabilities,
                "onnx: end the graph with a softmax, output 'probabilities' instead of 'logits' "
                "(the Deepness QGIS plugin needs them)")
          .value("input-size", &O::input_size,
                 "onnx: the input's height and width in pixels, fixed (Deepness takes its tile "
                 "size from them; 0: any size, given at run time)",
                 "PX")
          .at_least(1)
          .meaning(0, "any size, given at run time")
          .value("resolution", &O::resolution_cm,
                 "the pixel size of the imagery the model was trained on, in cm (Deepness "
                 "resamples a map to it); recorded in the export",
                 "CM")
          .above(0)
          .flag("overwrite", &O::overwrite, "replace an earlier export at --out");
  return table;
}

void validate(const ExportOptions& options) {
  if (options.format == Format::state_dict && (options.probabilities || options.input_size > 0))
    throw UsageError("--probabilities and --input-size apply to --format onnx only");
}

ExportResult export_model(const ExportOptions& options) {
  export_option_table().check(options);  // as the command line's are, when called as a library
  validate(options);
  model::LoadedCheckpoint loaded = model::load_checkpoint(options.checkpoint);
  loaded.model->eval();
  return options.format == Format::onnx ? write_onnx(options, loaded)
                                        : write_state_dict(options, loaded);
}

std::string describe(const ExportResult& result) {
  std::ostringstream out;
  out << "exported " << result.architecture << ":\n";
  for (const std::string& file : result.files)
    out << "  " << file << "\n";
  return out.str();
}

}  // namespace satunet::exporting
