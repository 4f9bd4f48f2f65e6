#pragma once
// The subcommand framework: each subcommand declares its options once (name, help, default),
// and gets them from the command line and from `--config FILE.ini` (the command line wins).
#include <boost/program_options.hpp>

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace satunet::cli {

namespace po = boost::program_options;

struct Command {
  std::string name;
  std::string summary;
  std::string usage;  // e.g. "--out DIR [options]"
  std::function<void(po::options_description&, po::positional_options_description&)> declare;
  std::function<int(const po::variables_map&)> run;
  bool needs_mpi = false;
};

const std::vector<Command>& commands();

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

// Values of options declared without a default: "" or {} when not given.
std::string string_option(const po::variables_map& values, const char* name);
std::vector<std::string> list_option(const po::variables_map& values, const char* name);
// --line-width CLASS=METRES, repeated, as class name -> metres.
std::map<std::string, double> line_widths(const po::variables_map& values);

// The command line this process was started with, for the records outputs keep.
const std::string& invocation();

// Parses argv (after the subcommand name) into `values`; false if --help was printed.
bool parse_options(const Command& command, const std::vector<std::string>& args,
                   po::variables_map& values);
std::string command_help(const Command& command);

int run_main(int argc, char** argv);
std::string version_text();

}  // namespace satunet::cli
