#include <iostream>

#include "cli/command.hpp"
#include "scoring/evaluate.hpp"

namespace satunet::cli {

Command evaluate_command() {
  return make_command(
      "evaluate", "score a class map against the truth: IoU, F1, precision, recall per class",
      "--pred MASK.tif (--truth TRUTH.tif | --truth-labels CLASS=FILE ...) [--json OUT]",
      scoring::evaluate_option_table(), [](const scoring::EvaluateOptions& options) {
        const scoring::Evaluation result = scoring::evaluate(options);
        std::cout << result.matrix.table(result.classes);
        if (!options.json.empty())
          std::cout << "scores: " << options.json << "\n";
        return 0;
      });
}

}  // namespace satunet::cli
