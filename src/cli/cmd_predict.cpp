#include <algorithm>
#include <iostream>

#include "cli/command.hpp"
#include "predict/predictor.hpp"
#include "stitch/stitcher.hpp"

namespace satunet::cli {
namespace {

// Exit 1 when a scene failed: the others' masks are there, the region is not complete.
int run_region(const predict::PredictOptions& options, comm::Communicator& world) {
  const predict::RegionResult result = predict::predict_region(options, world);
  const auto failed = std::count_if(result.scenes.begin(), result.scenes.end(),
                                    [](const auto& scene) { return scene.status == "failed"; });
  // Every rank ends with rank 0's verdict.
  const bool complete = world.broadcast_string(failed == 0 ? "complete" : "", 0) == "complete";
  if (world.rank() != 0)
    return complete ? 0 : 1;
  std::cout << predict::describe(result);
  if (complete)
    return 0;
  std::cerr << "satunet predict: " << failed << " of " << result.scenes.size() << " scenes failed ("
            << result.index << " says why); a rerun predicts them\n";
  return 1;
}

}  // namespace

Command predict_command() {
  return make_job_command(
      kPredictText.name, kPredictText.summary, kPredictText.usage, predict::predict_option_table(),
      Launch::mpi_or_alone,
      [](const predict::PredictOptions& options) { predict::validate(options); },
      [](predict::PredictOptions options, comm::Communicator& world) {
        options.command_line = invocation();
        if (!options.scenes.empty())
          return run_region(options, world);
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
