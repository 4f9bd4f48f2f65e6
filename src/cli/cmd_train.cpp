#include <iostream>

#include "cli/command.hpp"
#include "common/stop_signals.hpp"
#include "report/run_directory.hpp"
#include "train/trainer.hpp"

namespace satunet::cli {

Command train_command() {
  return make_job_command(
      kTrainText.name, kTrainText.summary, kTrainText.usage, train::train_option_table(),
      Launch::mpi_job, [](const train::TrainOptions& options) { train::validate(options); },
      [](train::TrainOptions options, comm::Communicator& world) {
        options.command_line = invocation();
        const train::TrainResult result = train::train(options, world);
        if (world.rank() != 0)
          return 0;
        if (result.stopped_by_signal) {
          std::cout << "stopped by signal " << stop_signal() << " at step " << result.steps
                    << "; checkpoint " << result.last_checkpoint
                    << "; the job can be requeued (satunet train ... --resume)\n";
        } else {
          const report::RunDirectory run(options.out);
          std::cout << "trained " << result.steps << " steps; checkpoints in " << run.checkpoints()
                    << "; metrics in " << run.metrics() << "\n";
        }
        return 0;
      });
}

}  // namespace satunet::cli
