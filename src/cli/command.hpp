#pragma once
// The subcommand framework: each subcommand takes its options' declarations from the stage's
// library (see common/options.hpp) and gets their values from the command line and from
// `--config FILE.ini` (the command line wins), as Boost.Program_options parses them.
#include <functional>
#include <string>
#include <vector>

#include "common/options.hpp"

namespace satunet::cli {

struct Command {
  std::string name;
  std::string summary;
  std::string usage;  // e.g. "--out DIR [options]"
  std::vector<options::Declaration> declarations;
  std::function<int(const options::Given&)> run;
  bool needs_mpi = false;
  // Parses the values without running, so that a config file's bad values name the file.
  std::function<void(const options::Given&)> check;
  // Checks the values as a whole before MPI starts (a job's commands only; others check as
  // they run).
  std::function<void(const options::Given&)> validate;
};

// A command whose options are one stage's table: `run(options)` gets them built.
template <typename Options, typename Run>
Command make_command(std::string name, std::string summary, std::string usage,
                     const options::Table<Options>& table, Run run) {
  return {std::move(name),
          std::move(summary),
          std::move(usage),
          table.declarations(),
          [&table, run](const options::Given& given) { return run(table.build(given)); },
          false,
          [&table](const options::Given& given) { table.build(given); },
          nullptr};
}

// A command that runs on every rank of an MPI job: `validate(options)` runs on the command
// line's values before MPI starts, so that every rank refuses a usage error alike and rank 0
// alone says it; `run(options)` runs under MPI.
template <typename Options, typename Validate, typename Run>
Command make_job_command(std::string name, std::string summary, std::string usage,
                         const options::Table<Options>& table, Validate validate, Run run) {
  return {std::move(name),
          std::move(summary),
          std::move(usage),
          table.declarations(),
          [&table, run](const options::Given& given) { return run(table.build(given)); },
          true,
          [&table](const options::Given& given) { table.build(given); },
          [&table, validate](const options::Given& given) { validate(table.build(given)); }};
}

const std::vector<Command>& commands();
// The options every command has (--help, --config, --verbose, --quiet).
std::vector<options::Declaration> common_declarations();

// Registered by each cmd_*.cpp.
Command synth_command();
Command tile_command();
Command train_command();
Command bench_command();
Command predict_command();
Command stitch_command();
Command evaluate_command();
Command quicklook_command();
Command info_command();
Command report_command();

// The command line this process was started with, for the records outputs keep.
const std::string& invocation();

// Parses argv (after the subcommand name) into `given`; false if --help was printed.
bool parse_options(const Command& command, const std::vector<std::string>& args,
                   options::Given& given);
std::string command_help(const Command& command);

int run_main(int argc, char** argv);
std::string version_text();

}  // namespace satunet::cli
