#include <algorithm>

#include "cli/command.hpp"
#include "comm/allreduce_bench.hpp"
#include "predict/bench.hpp"

namespace satunet::cli {
namespace {

// `bench predict`: the prediction pipeline's own speed (src/predict/bench.hpp). Its options
// join allreduce's; the benchmark named first (allreduce's positional) chooses which run.
bool names_predict(const options::Given& given) {
  for (const options::Declaration& declaration : comm::bench_option_table().declarations()) {
    if (!declaration.positional)
      continue;
    const auto found = given.find(declaration.name);
    return found != given.end() && !found->second.empty() && found->second.back() == "predict";
  }
  return false;
}

// Options both benchmarks include (--jsonl) keep their id and are declared once.
void add_predict_bench(Command& command) {
  const auto& table = predict::predict_bench_option_table();
  for (const options::Declaration& declaration : table.declarations()) {
    const bool declared =
        std::any_of(command.declarations.begin(), command.declarations.end(),
                    [&](const options::Declaration& other) { return other.id == declaration.id; });
    if (!declared)
      command.declarations.push_back(declaration);
  }
  auto run = command.run;
  command.run = [&table, run](const options::Given& given, comm::Communicator& world) {
    if (!names_predict(given))
      return run(given, world);
    predict::run_predict_bench(table.build(given), world);
    return 0;
  };
  auto check = command.check;
  command.check = [&table, check](const options::Given& given) {
    names_predict(given) ? (void)table.build_part(given) : check(given);
  };
  auto validate = command.validate;
  command.validate = [&table, validate](const options::Given& given) {
    names_predict(given) ? predict::validate(table.build(given)) : validate(given);
  };
}

}  // namespace

Command bench_command() {
  Command command = make_job_command(
      "bench",
      "measure the all-reduce of a backend (algbw, busbw) with a correctness pass, or the "
      "prediction pipeline with a model that costs nothing",
      "allreduce [--min-bytes 8] [--max-bytes 64M] [--iterations 20] [--async] [--backend B] "
      "[--jsonl FILE] | predict --image SCENE.tif --stitch-to MASK.tif [--batch 32] [--classes 3] "
      "[--jsonl FILE]",
      comm::bench_option_table(), Launch::mpi_job,
      [](const comm::BenchOptions& options) { comm::validate(options); },
      [](const comm::BenchOptions& options, comm::Communicator& world) {
        comm::run_allreduce_bench(options, world);
        return 0;
      });
  add_predict_bench(command);
  return command;
}

}  // namespace satunet::cli
