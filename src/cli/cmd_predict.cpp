#include <iostream>

#include "cli/command.hpp"
#include "comm/mpi_communicator.hpp"
#include "predict/predictor.hpp"
#include "stitch/stitcher.hpp"

namespace satunet::cli {

Command predict_command() {
  Command command = make_job_command(
      kPredictText.name, kPredictText.summary, kPredictText.usage, predict::predict_option_table(),
      [](const predict::PredictOptions& options) { predict::validate(options); },
      [](predict::PredictOptions options) {
        options.command_line = invocation();
        const std::unique_ptr<comm::Communicator> world = comm::job_communicator();
        const predict::PredictResult result = predict::predict(options, *world);
        if (world->rank() != 0)
          return 0;
        // launch/gpu/check.sh reads this line.
        std::cout << "predicted " << result.windows << " windows (" << result.pixels / 1e6
                  << " Mpx) in " << result.seconds << " s on " << world->size()
                  << " ranks: " << (options.stitch_to.empty() ? options.out : options.stitch_to)
                  << "\n";
        if (result.stitched)
          std::cout << stitch::describe(
              {options.out, options.stitch_to, std::nullopt, options.outputs, options.overwrite},
              *result.stitched);
        return 0;
      });
  command.alone_without_mpi = true;
  return command;
}

}  // namespace satunet::cli
