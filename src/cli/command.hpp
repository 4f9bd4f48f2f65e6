#pragma once
// The subcommand framework: each subcommand takes its options' declarations from the stage's
// library (see common/options.hpp) and gets their values from the command line and from
// `--config FILE.ini` (the command line wins), as Boost.Program_options parses them.
#include <functional>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "common/options.hpp"

namespace satunet::cli {

// How a command's processes are started: decided once per command, acted on once (run_main).
enum class Launch {
  local,         // one process; a launch of several ranks is refused (exit 2)
  mpi_job,       // every rank of an MPI job, MPI started even for one process (train, bench)
  mpi_or_alone,  // an MPI job under a launcher; started alone, without MPI (tile, evaluate,
                 // predict)
};

struct Command {
  std::string name;
  std::string summary;
  std::string usage;  // e.g. "--out DIR [options]"
  std::vector<options::Declaration> declarations;
  // Gets the job's communicator: MPI's world, or a single process's.
  std::function<int(const options::Given&, comm::Communicator& world)> run;
  Launch launch = Launch::local;
  // Parses the values without running, so that a config file's bad values name the file:
  // each option's own limits, but not whether the required ones are there (the command line
  // may give them).
  std::function<void(const options::Given&)> check;
  // Checks the values as a whole before MPI starts (a job's commands only; others check as
  // they run).
  std::function<void(const options::Given&)> validate;
  // Set where the command runs in another binary (see hand_over.cpp): called instead of
  // parsing, it does not return.
  std::function<int()> hand_over;
};

// A command whose options are one stage's table: `run(options)` gets them built.
template <typename Options, typename Run>
Command make_command(std::string name, std::string summary, std::string usage,
                     const options::Table<Options>& table, Run run) {
  return {std::move(name),
          std::move(summary),
          std::move(usage),
          table.declarations(),
          [&table, run](const options::Given& given, comm::Communicator&) {
            return run(table.build(given));
          },
          Launch::local,
          [&table](const options::Given& given) { table.build_part(given); },
          nullptr,
          nullptr};
}

// A command that runs on every rank of an MPI job: `validate(options)` runs on the command
// line's values before MPI starts, so that every rank refuses a usage error alike and rank 0
// alone says it; `run(options, world)` runs as `launch` says, with the job's communicator.
template <typename Options, typename Validate, typename Run>
Command make_job_command(std::string name, std::string summary, std::string usage,
                         const options::Table<Options>& table, Launch launch, Validate validate,
                         Run run) {
  return {std::move(name),
          std::move(summary),
          std::move(usage),
          table.declarations(),
          [&table, run](const options::Given& given, comm::Communicator& world) {
            return run(table.build(given), world);
          },
          launch,
          [&table](const options::Given& given) { table.build_part(given); },
          [&table, validate](const options::Given& given) { validate(table.build(given)); },
          nullptr};
}

const std::vector<Command>& commands();
// The options every command has (--help, --config, --verbose, --quiet).
std::vector<options::Declaration> common_declarations();

// Registered by each cmd_*.cpp.
Command synth_command();
Command tile_command();
Command bench_command();
Command stitch_command();
Command evaluate_command();
Command quicklook_command();
Command info_command();
Command report_command();

// ---- what needs LibTorch ----
// The model's commands, checkpoints' descriptions and LibTorch's version, defined twice: with
// LibTorch (cmd_train.cpp, cmd_predict.cpp, model_commands.cpp: the satunet-torch binary and
// the tests), or by handing the process over to satunet-torch (hand_over.cpp: the satunet
// binary), which runs the same command line. The commands that need no model then start
// without loading LibTorch: 0.3 s of every process, each rank's.
struct CommandText {
  const char* name;
  const char* summary;
  const char* usage;
};
inline constexpr CommandText kTrainText = {
    "train", "train a U-Net on a dataset, one replica per rank (mpirun -n N)",
    "--data DATASET --out RUN [options]"};
inline constexpr CommandText kPredictText = {
    "predict", "run a checkpoint over a whole scene in overlapping windows, on all ranks",
    "--checkpoint C.pt (--image SCENE.tif (--out PRED | --stitch-to MASK.tif) | --scenes "
    "LIST.csv --out DIR) [options]"};
inline constexpr CommandText kExportText = {
    "export", "write a checkpoint's model as a PyTorch state dict with its Python, or as ONNX",
    "CHECKPOINT --format state-dict|onnx --out PATH [options]"};
Command train_command();
Command predict_command();
Command export_command();
std::string describe_checkpoint(const std::string& path, bool json);
std::string libtorch_description();
// Whether a command of the model's declares option `name` (satunet asks satunet-torch, which
// answers `satunet-torch --declares NAME` with its exit code).
bool model_command_declares(const std::string& name);

// The command line this process was started with, for the records outputs keep.
const std::string& invocation();
// The same, word for word (argv).
const std::vector<std::string>& arguments();

// Parses argv (after the subcommand name) into `given`; false if --help was printed.
bool parse_options(const Command& command, const std::vector<std::string>& args,
                   options::Given& given);
std::string command_help(const Command& command);

// Whether any command of this binary (or the common options) declares option `name`.
bool any_command_declares(const std::string& name);

int run_main(int argc, char** argv);
std::string version_text();

}  // namespace satunet::cli
