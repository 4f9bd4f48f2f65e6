#include <iostream>

#include "cli/command.hpp"
#include "comm/mpi_communicator.hpp"
#include "predict/predictor.hpp"
#include "stitch/stitcher.hpp"

namespace satunet::cli {
namespace {

// predict's own options, and the outputs of stitch for --stitch-to.
struct PredictAndStitch {
  predict::PredictOptions predict;
  stitch::StitchOutputs outputs;
};

const options::Table<PredictAndStitch>& predict_and_stitch_table() {
  using O = PredictAndStitch;
  static const auto table = options::Table<O>()
                                .include(predict::predict_option_table(),
                                         [](O& o) -> predict::PredictOptions& { return o.predict; })
                                .include(stitch::stitch_output_option_table(),
                                         [](O& o) -> stitch::StitchOutputs& { return o.outputs; });
  return table;
}

// --stitch-to's stitching: rank 0's, after every rank predicted.
stitch::StitchOptions stitching_of(const PredictAndStitch& options) {
  const predict::PredictOptions& prediction = options.predict;
  return {prediction.out, prediction.stitch_to, std::nullopt, options.outputs,
          prediction.overwrite};
}

void validate(const PredictAndStitch& options) {
  predict::validate(options.predict);
  const stitch::StitchOptions stitching = stitching_of(options);
  if (!stitching.out.empty())
    stitch::validate(stitching);
}

}  // namespace

Command predict_command() {
  Command command = make_job_command(
      kPredictText.name, kPredictText.summary, kPredictText.usage, predict_and_stitch_table(),
      [](const PredictAndStitch& options) { validate(options); },
      [](PredictAndStitch options) {
        predict::PredictOptions& prediction = options.predict;
        prediction.command_line = invocation();
        const stitch::StitchOptions stitching = stitching_of(options);
        const std::unique_ptr<comm::Communicator> world = comm::job_communicator();
        const predict::PredictResult result = predict::predict(prediction, *world);
        if (world->rank() != 0)
          return 0;
        std::cout << "predicted " << result.windows << " windows (" << result.pixels / 1e6
                  << " Mpx) in " << result.seconds << " s on " << world->size()
                  << " ranks: " << prediction.out << "\n";
        if (!stitching.out.empty())
          std::cout << stitch::describe(stitching, stitch::stitch(stitching));
        return 0;
      });
  command.alone_without_mpi = true;
  return command;
}

}  // namespace satunet::cli
