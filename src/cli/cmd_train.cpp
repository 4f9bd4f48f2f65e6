#include <iostream>

#include "cli/command.hpp"
#include "comm/mpi_communicator.hpp"
#include "common/stop_signals.hpp"
#include "train/trainer.hpp"

namespace satunet::cli {

Command train_command() {
  return make_job_command(
      kTrainText.name, kTrainText.summary, kTrainText.usage, train::train_option_table(),
      [](const train::TrainOptions& options) { train::validate(options); },
      [](train::TrainOptions options) {
        options.command_line = invocation();
        comm::MpiCommunicator world;
        const train::TrainResult result = train::train(options, world);
        if (world.rank() != 0)
          return 0;
        if (result.stopped_by_signal) {
          std::cout << "stopped by signal " << stop_signal() << " at step " << result.steps
                    << "; checkpoint " << result.last_checkpoint
                    << "; the job can be requeued (satunet train ... --resume)\n";
        } else {
          std::cout << "trained " << result.steps << " steps; checkpoints in " << options.out
                    << "/checkpoints; metrics in " << options.out << "/metrics.csv\n";
        }
        return 0;
      });
}

}  // namespace satunet::cli
