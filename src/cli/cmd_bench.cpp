#include "cli/command.hpp"
#include "comm/allreduce_bench.hpp"
#include "comm/mpi_communicator.hpp"

namespace satunet::cli {

Command bench_command() {
  return make_job_command(
      "bench", "measure the all-reduce of a backend (algbw, busbw) with a correctness pass",
      "allreduce [--min-bytes 8] [--max-bytes 64M] [--iterations 20] [--async] [--backend B]",
      comm::bench_option_table(),
      [](const comm::BenchOptions& options) { comm::validate(options); },
      [](const comm::BenchOptions& options) {
        comm::MpiCommunicator world;
        comm::run_allreduce_bench(options, world);
        return 0;
      });
}

}  // namespace satunet::cli
