#include <iostream>

#include "cli/command.hpp"
#include "predict/predictor.hpp"
#include "stitch/stitcher.hpp"

namespace satunet::cli {

Command predict_command() {
  return make_job_command(
      kPredictText.name, kPredictText.summary, kPredictText.usage, predict::predict_option_table(),
      Launch::mpi_or_alone,
      [](const predict::PredictOptions& options) { predict::validate(options); },
      [](predict::PredictOptions options, comm::Communicator& world) {
        options.command_line = invocation();
        const predict::PredictResult result = predict::predict(options, world);
        if (world.rank() != 0)
          return 0;
        // launch/gpu/check.sh reads this line.
        std::cout << "predicted " << result.windows << " windows (" << result.pixels / 1e6
                  << " Mpx) in " << result.seconds << " s on " << world.size()
                  << " ranks: " << (options.stitch_to.empty() ? options.out : options.stitch_to)
                  << "\n";
        if (result.stitched)
          std::cout << stitch::describe(
              {options.out, options.stitch_to, std::nullopt, options.outputs, options.overwrite},
              *result.stitched);
        return 0;
      });
}

}  // namespace satunet::cli
