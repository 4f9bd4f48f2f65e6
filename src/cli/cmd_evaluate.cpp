#include <iostream>

#include "cli/command.hpp"
#include "scoring/evaluate.hpp"

namespace satunet::cli {

Command evaluate_command() {
  return make_job_command(
      "evaluate",
      "score class maps against the truth: pixels (IoU, F1), buildings as objects (SpaceNet "
      "F1), roads as a graph (APLS), error maps; a test set over MPI ranks",
      "(--pred MASK.tif (--truth TRUTH.tif | --truth-labels CLASS=FILE ...) | --scenes FILE.csv) "
      "[--json OUT] [--errors MAP.tif] [--road-graph GRAPH.gpkg]",
      scoring::evaluate_option_table(), Launch::mpi_or_alone,
      [](const scoring::EvaluateOptions& options) { scoring::validate(options); },
      [](const scoring::EvaluateOptions& options, comm::Communicator& world) {
        const scoring::Evaluation result = scoring::evaluate(options, world);
        if (world.rank() == 0) {
          std::cout << result.table();
          for (const std::string& written : {options.json, options.errors, options.road_graph})
            if (!written.empty())
              std::cout << "written: " << written << "\n";
        }
        return 0;
      });
}

}  // namespace satunet::cli
