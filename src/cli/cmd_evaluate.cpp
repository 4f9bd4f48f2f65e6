#include <iostream>

#include "cli/command.hpp"
#include "comm/mpi_communicator.hpp"
#include "scoring/evaluate.hpp"

namespace satunet::cli {

Command evaluate_command() {
  Command command = make_job_command(
      "evaluate",
      "score class maps against the truth: pixels (IoU, F1), buildings as objects (SpaceNet "
      "F1), roads as a graph (APLS), error maps; a test set over MPI ranks",
      "(--pred MASK.tif (--truth TRUTH.tif | --truth-labels CLASS=FILE ...) | --scenes FILE.csv) "
      "[--json OUT] [--errors MAP.tif] [--road-graph GRAPH.gpkg]",
      scoring::evaluate_option_table(),
      [](const scoring::EvaluateOptions& options) { scoring::validate(options); },
      [](const scoring::EvaluateOptions& options) {
        const std::unique_ptr<comm::Communicator> world = comm::job_communicator();
        const scoring::Evaluation result = scoring::evaluate(options, world.get());
        if (world->rank() == 0) {
          std::cout << result.table();
          for (const std::string& written : {options.json, options.errors, options.road_graph})
            if (!written.empty())
              std::cout << "written: " << written << "\n";
        }
        return 0;
      });
  command.alone_without_mpi = true;
  return command;
}

}  // namespace satunet::cli
