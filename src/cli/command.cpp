#include "cli/command.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/error.hpp"
#include "common/log.hpp"
#include "common/text.hpp"
#include "dist/mpi_communicator.hpp"

namespace satunet::cli {
namespace {

void declare_common(po::options_description& options) {
  // clang-format off
  options.add_options()
      ("help,h", "show this help")
      ("config", po::value<std::string>()->value_name("FILE.ini"),
       "read options from an INI file: keys are option names, at the top or in a [command] "
       "section; the command line wins")
      ("verbose,v", po::bool_switch(), "log debug messages (GDAL warnings included)")
      ("quiet,q", po::bool_switch(), "log nothing but errors");
  // clang-format on
}

po::options_description all_options(const Command& command,
                                    po::positional_options_description& positional) {
  po::options_description options("Options of satunet " + command.name);
  command.declare(options, positional);
  declare_common(options);
  return options;
}

bool is_flag(const po::options_description& options, const std::string& name) {
  const po::option_description* option = options.find_nothrow(name, false);
  return option && option->semantic()->max_tokens() == 0;
}

bool is_true(const std::string& value) {
  return value == "1" || value == "true" || value == "yes" || value == "on";
}

// Turns the entries of an INI file that belong to `command` into command-line words.
std::vector<std::string> config_file_words(const Command& command,
                                           const po::options_description& options,
                                           const std::string& path) {
  std::ifstream file(path);
  if (!file)
    throw UsageError(path + ": cannot read config file");
  po::options_description none;
  po::parsed_options parsed(nullptr);
  try {
    parsed = po::parse_config_file(file, none, true);
  } catch (const po::error& error) {
    throw UsageError(path + ": " + error.what());
  }
  std::vector<std::string> words;
  for (const po::option& entry : parsed.options) {
    std::string key = entry.string_key;
    const auto dot = key.find('.');
    if (dot != std::string::npos) {
      if (key.substr(0, dot) != command.name)
        continue;  // another stage's section
      key = key.substr(dot + 1);
    } else if (!options.find_nothrow(key, false)) {
      continue;  // a top-level key for other commands
    }
    if (key == "config")
      throw UsageError(path + ": a config file cannot include another");
    if (!options.find_nothrow(key, false))
      throw UsageError(path + ": unknown option '" + key + "' in section [" + command.name + "]");
    const std::string value = entry.value.empty() ? "" : entry.value.front();
    if (is_flag(options, key)) {
      if (is_true(value))
        words.push_back("--" + key);
    } else {
      words.push_back("--" + key + "=" + value);
    }
  }
  return words;
}

}  // namespace

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      synth_command(),    tile_command(), train_command(),     predict_command(), stitch_command(),
      evaluate_command(), info_command(), quicklook_command(), bench_command()};
  return all;
}

std::string command_help(const Command& command) {
  po::positional_options_description positional;
  const po::options_description options = all_options(command, positional);
  std::ostringstream out;
  out << "usage: satunet " << command.name << " " << command.usage << "\n\n"
      << command.summary << "\n\n"
      << options;
  return out.str();
}

bool parse_options(const Command& command, const std::vector<std::string>& args,
                   po::variables_map& values) {
  po::positional_options_description positional;
  const po::options_description options = all_options(command, positional);
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), values);
    if (values.count("help")) {
      std::cout << command_help(command);
      return false;
    }
    if (values.count("config")) {
      const std::string path = values["config"].as<std::string>();
      const auto words = config_file_words(command, options, path);
      try {
        po::store(po::command_line_parser(words).options(options).run(), values);
      } catch (const po::error& error) {
        throw UsageError(path + ": " + error.what());
      }
    }
    po::notify(values);
  } catch (const po::error& error) {
    throw UsageError(error.what());
  }
  if (values["verbose"].as<bool>())
    log::set_level(log::Level::debug);
  if (values["quiet"].as<bool>())
    log::set_level(log::Level::quiet);
  return true;
}

namespace {

void print_overview() {
  std::cout << "satunet " << SATUNET_VERSION
            << ": U-Net segmentation of satellite and aerial imagery, on many ranks\n\n"
               "usage: satunet COMMAND [options]      (under mpirun for the parallel stages)\n"
               "       satunet COMMAND --help\n"
               "       satunet --version\n\ncommands:\n";
  for (const Command& command : commands())
    std::cout << "  " << command.name << std::string(10 - command.name.size(), ' ')
              << command.summary << "\n";
}

const Command* find_command(const std::string& name) {
  for (const Command& command : commands())
    if (command.name == name)
      return &command;
  return nullptr;
}

int fail(const std::string& prefix, std::string message, int code) {
  // One line, whatever a library put into its message.
  std::replace(message.begin(), message.end(), '\n', ' ');
  std::cerr << prefix << ": " << message << "\n";
  std::cerr.flush();
  return code;
}

// Outputs were cleaned up while the exception unwound. No rank may wait for this one, and the
// libraries' exit-time teardown is skipped: it may trip over the failed resource (HDF5 does
// after a failed write).
[[noreturn]] void end_after_failure(std::unique_ptr<dist::MpiRuntime>& mpi) {
  if (log::world_size() > 1)
    dist::MpiRuntime::abort(1);
  mpi.reset();
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(1);
}

}  // namespace

std::string string_option(const po::variables_map& values, const char* name) {
  return values.count(name) ? values[name].as<std::string>() : std::string();
}

std::vector<std::string> list_option(const po::variables_map& values, const char* name) {
  return values.count(name) ? values[name].as<std::vector<std::string>>()
                            : std::vector<std::string>{};
}

std::map<std::string, double> line_widths(const po::variables_map& values) {
  std::map<std::string, double> widths;
  for (const std::string& pair : list_option(values, "line-width")) {
    const auto [name, metres] = text::split_key_value(pair, "--line-width");
    widths[name] = text::parse_double(metres, "--line-width " + name);
  }
  return widths;
}

std::string g_invocation;
const std::string& invocation() {
  return g_invocation;
}

int run_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  g_invocation = "satunet";
  for (const std::string& arg : args)
    g_invocation += " " + arg;
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_overview();
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::cout << version_text();
    return 0;
  }
  const Command* command = find_command(args[0]);
  if (!command)
    return fail("satunet", "unknown command '" + args[0] + "' (see satunet --help)", 2);
  const std::string prefix = "satunet " + command->name;
  args.erase(args.begin());
  std::unique_ptr<dist::MpiRuntime> mpi;
  try {
    po::variables_map values;
    if (!parse_options(*command, args, values))
      return 0;
    if (command->needs_mpi)
      mpi = std::make_unique<dist::MpiRuntime>();
    return command->run(values);
  } catch (const UsageError& error) {
    return fail(prefix, error.what() + std::string(" (see satunet ") + command->name + " --help)",
                2);
  } catch (const Error& error) {
    if (log::level() >= log::Level::debug && !error.where().empty())
      log::debug("raised at ", error.where());
    const std::string rank =
        log::world_size() > 1 ? " [rank " + std::to_string(log::rank()) + "]" : "";
    fail(prefix + rank, error.what(), 1);
    end_after_failure(mpi);
  } catch (const std::exception& error) {
    fail(prefix, std::string("internal error: ") + error.what(), 1);
    end_after_failure(mpi);
  }
}

}  // namespace satunet::cli
