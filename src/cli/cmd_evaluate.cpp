#include <iostream>

#include "cli/command.hpp"
#include "common/files.hpp"
#include "common/text.hpp"
#include "infer/evaluate.hpp"

namespace satunet::cli {

Command evaluate_command() {
  Command command;
  command.name = "evaluate";
  command.summary = "score a class map against the truth: IoU, F1, precision, recall per class";
  command.usage =
      "--pred MASK.tif (--truth TRUTH.tif | --truth-labels CLASS=FILE ...) [--json OUT]";
  command.declare = [](po::options_description& options, po::positional_options_description&) {
    // clang-format off
    options.add_options()
        ("pred", po::value<std::string>()->value_name("MASK.tif"), "predicted class map (255 = nodata)")
        ("truth", po::value<std::string>()->value_name("TRUTH.tif"), "true class map on the same grid")
        ("truth-labels", po::value<std::vector<std::string>>()->value_name("CLASS=FILE")->composing(),
         "true labels as vectors (any OGR format and CRS), rasterized onto the prediction's grid")
        ("classes", po::value<std::string>()->value_name("a,b,c"),
         "class names in id order (default: the prediction's category names)")
        ("line-width", po::value<std::vector<std::string>>()->value_name("CLASS=METRES")->composing(),
         "buffer vector truth lines of CLASS to this width in metres")
        ("width-field", po::value<std::string>()->value_name("FIELD"), "per-feature line width in metres")
        ("json", po::value<std::string>()->value_name("FILE"), "also write the scores as JSON");
    // clang-format on
  };
  command.run = [](const po::variables_map& values) {
    infer::EvaluateOptions options;
    options.prediction = string_option(values, "pred");
    options.truth = string_option(values, "truth");
    for (const std::string& pair : list_option(values, "truth-labels"))
      options.truth_labels.push_back(text::split_key_value(pair, "--truth-labels"));
    if (values.count("classes"))
      options.classes = text::split(values["classes"].as<std::string>(), ',');
    options.line_width_m = line_widths(values);
    options.width_field = string_option(values, "width-field");
    const infer::Evaluation result = infer::evaluate(options);
    std::cout << result.matrix.table(result.classes);
    if (values.count("json")) {
      const std::string path = values["json"].as<std::string>();
      write_text_file(path, result.matrix.json(result.classes) + "\n");
      std::cout << "scores: " << path << "\n";
    }
    return 0;
  };
  return command;
}

}  // namespace satunet::cli
