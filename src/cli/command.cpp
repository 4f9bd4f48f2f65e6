#include "cli/command.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "comm/mpi_communicator.hpp"
#include "comm/single_process.hpp"
#include "common/config_file.hpp"
#include "common/error.hpp"
#include "common/launcher.hpp"
#include "common/log.hpp"
#include "common/text.hpp"

namespace satunet::cli {
namespace po = boost::program_options;
namespace {

struct CommonOptions {
  bool help = false;
  std::string config;
  bool verbose = false;
  bool quiet = false;
};

const options::Table<CommonOptions>& common_table() {
  using O = CommonOptions;
  static const auto table =
      options::Table<O>()
          .flag("help", &O::help, "show this help")
          .short_name('h')
          .value("config", &O::config,
                 "read options from an INI file: keys are option names, at the top or in a "
                 "[command] section; the command line wins",
                 "FILE.ini")
          .flag("verbose", &O::verbose, "log debug messages (GDAL warnings included)")
          .short_name('v')
          .flag("quiet", &O::quiet, "log nothing but errors")
          .short_name('q');
  return table;
}

void declare(po::options_description& out, const options::Declaration& declaration) {
  const std::string names =
      declaration.name +
      (declaration.short_name ? std::string(",") + declaration.short_name : std::string());
  // What the value must be after what it is: "tiles per rank per micro-batch; at least 1".
  const std::string help_text =
      declaration.help + (declaration.limits.empty() ? "" : "; " + declaration.limits);
  const char* help = help_text.c_str();
  if (declaration.arity == options::Arity::flag) {
    out.add_options()(names.c_str(), po::bool_switch(), help);
    return;
  }
  if (declaration.arity == options::Arity::repeated) {
    auto* value = po::value<std::vector<std::string>>()->composing();
    if (!declaration.value_name.empty())
      value->value_name(declaration.value_name);
    out.add_options()(names.c_str(), value, help);
    return;
  }
  auto* value = po::value<std::string>();
  if (!declaration.value_name.empty())
    value->value_name(declaration.value_name);
  if (!declaration.default_text.empty())
    value->default_value(declaration.default_text, declaration.default_text);
  if (!declaration.implicit_text.empty())
    value->implicit_value(declaration.implicit_text, declaration.implicit_text);
  out.add_options()(names.c_str(), value, help);
}

std::vector<options::Declaration> all_declarations(const Command& command) {
  std::vector<options::Declaration> all = command.declarations;
  for (const options::Declaration& declaration : common_declarations())
    all.push_back(declaration);
  return all;
}

po::options_description all_options(const Command& command,
                                    po::positional_options_description& positional) {
  po::options_description options("Options of satunet " + command.name);
  for (const options::Declaration& declaration : all_declarations(command)) {
    declare(options, declaration);
    if (declaration.positional)
      positional.add(declaration.name.c_str(), 1);
  }
  return options;
}

// What was given, as words: defaults stay with the options structs.
options::Given given_values(const Command& command, const po::variables_map& values) {
  options::Given given;
  for (const options::Declaration& declaration : all_declarations(command)) {
    const auto found = values.find(declaration.name);
    if (found == values.end() || found->second.defaulted())
      continue;
    switch (declaration.arity) {
      case options::Arity::flag:
        if (found->second.as<bool>())
          given[declaration.name] = {};
        break;
      case options::Arity::value:
        given[declaration.name] = {found->second.as<std::string>()};
        break;
      case options::Arity::repeated:
        given[declaration.name] = found->second.as<std::vector<std::string>>();
        break;
    }
  }
  return given;
}

bool is_flag(const po::options_description& options, const std::string& name) {
  const po::option_description* option = options.find_nothrow(name, false);
  return option && option->semantic()->max_tokens() == 0;
}

std::string command_names() {
  std::vector<std::string> names;
  for (const Command& command : commands())
    names.push_back(command.name);
  return text::join(names, ", ");
}

const Command* find_command(const std::string& name) {
  for (const Command& command : commands())
    if (command.name == name)
      return &command;
  return nullptr;
}

// Turns the entries of an INI file that belong to `command` into command-line words: those of
// its section and the top-level keys it has. What no command understands is refused, naming
// the line: a section named after no command (sections are case-sensitive), a top-level key no
// command has, a flag's value that is not a truth value.
std::vector<std::string> config_file_words(const Command& command,
                                           const po::options_description& options,
                                           const std::string& path) {
  std::vector<std::string> words;
  for (const ConfigEntry& entry : read_config_file(path)) {
    if (!entry.section.empty() && !find_command(entry.section))
      throw UsageError(entry.section_where + ": unknown section [" + entry.section +
                       "]: sections are named after commands (" + command_names() + ")");
    if (!entry.section.empty() && entry.section != command.name)
      continue;  // another stage's section
    const bool ours = options.find_nothrow(entry.key, false) != nullptr;
    if (entry.section.empty() && !ours) {
      if (!any_command_declares(entry.key) && !model_command_declares(entry.key))
        throw UsageError(entry.where + ": unknown option '" + entry.key + "' (no command has it)");
      continue;  // a top-level key for other commands
    }
    if (!ours)
      throw UsageError(path + ": unknown option '" + entry.key + "' in section [" + command.name +
                       "]");
    if (is_flag(options, entry.key)) {
      if (parse_config_flag(entry))
        words.push_back("--" + entry.key);
    } else {
      words.push_back("--" + entry.key + "=" + entry.value);
    }
  }
  return words;
}

}  // namespace

std::vector<options::Declaration> common_declarations() {
  return common_table().declarations();
}

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {synth_command(),     tile_command(),   train_command(),
                                           predict_command(),   export_command(), stitch_command(),
                                           evaluate_command(),  report_command(), info_command(),
                                           quicklook_command(), bench_command()};
  return all;
}

bool any_command_declares(const std::string& name) {
  for (const Command& command : commands())
    for (const options::Declaration& declaration : command.declarations)
      if (declaration.name == name)
        return true;
  for (const options::Declaration& declaration : common_declarations())
    if (declaration.name == name)
      return true;
  return false;
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
                   options::Given& given) {
  po::positional_options_description positional;
  const po::options_description options = all_options(command, positional);
  po::variables_map values;
  try {
    po::store(po::command_line_parser(args).options(options).positional(positional).run(), values);
    const CommonOptions first = common_table().build(given_values(command, values));
    if (first.help) {
      std::cout << command_help(command);
      return false;
    }
    if (!first.config.empty()) {
      const std::string& path = first.config;
      const auto words = config_file_words(command, options, path);
      try {
        po::variables_map from_file;
        po::store(po::command_line_parser(words).options(options).run(), from_file);
        const options::Given given_in_file = given_values(command, from_file);
        if (!common_table().build(given_in_file).config.empty())
          throw UsageError("a config file cannot include another");
        command.check(given_in_file);
        po::store(po::command_line_parser(words).options(options).run(), values);
      } catch (const po::error& error) {
        throw UsageError(path + ": " + error.what());
      } catch (const UsageError& error) {
        throw UsageError(path + ": " + error.what());
      }
    }
    po::notify(values);
  } catch (const po::error& error) {
    throw UsageError(error.what());
  }
  given = given_values(command, values);
  // Bad values are usage errors before any rank starts work.
  command.check(given);
  if (command.validate)
    command.validate(given);
  const CommonOptions common = common_table().build(given);
  if (common.verbose)
    log::set_level(log::Level::debug);
  if (common.quiet)
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

int fail(const std::string& prefix, std::string message, int code) {
  // One line, whatever a library put into its message, written at once: the lines of ranks
  // failing together must not interleave.
  std::replace(message.begin(), message.end(), '\n', ' ');
  const std::string line = prefix + ": " + message + "\n";
  std::fflush(stdout);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  return code;
}

// "satunet tile [rank 1]" on a job of several ranks.
std::string with_rank(const std::string& prefix) {
  return log::world_size() > 1 ? prefix + " [rank " + std::to_string(log::rank()) + "]" : prefix;
}

// Outputs were cleaned up while the exception unwound. No rank may wait for this one: the whole
// job ends, whether the other ranks failed too or wait in a collective. The libraries'
// exit-time teardown is skipped: it may trip over the failed resource (HDF5 does after a
// failed write).
[[noreturn]] void end_after_failure(std::unique_ptr<comm::MpiRuntime>& mpi, int code) {
  if (log::world_size() > 1 && comm::MpiRuntime::initialized())
    comm::MpiRuntime::abort(code);
  mpi.reset();
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(code);
}

// Whether `arg` is the help flag of every command (as the program's own first argument).
bool asks_for_help(const std::string& arg) {
  for (const options::Declaration& declaration : common_declarations()) {
    const bool named = arg == options::flag_text(declaration.name) ||
                       (declaration.short_name && arg == std::string{'-', declaration.short_name});
    if (named)
      return declaration.arity == options::Arity::flag &&
             common_table().build({{declaration.name, {}}}).help;
  }
  return false;
}

}  // namespace

std::string g_invocation;
std::vector<std::string> g_arguments;
const std::string& invocation() {
  return g_invocation;
}
const std::vector<std::string>& arguments() {
  return g_arguments;
}

namespace {

// The one place a command's Launch is acted on: MPI started or not, the job's communicator.
std::unique_ptr<comm::Communicator> start(const Command& command,
                                          std::unique_ptr<comm::MpiRuntime>& mpi) {
  switch (command.launch) {
    case Launch::local:
      if (launcher::world_size() > 1)
        throw UsageError("runs in one process, not on each of " +
                         std::to_string(launcher::world_size()) +
                         " ranks: start it without mpirun or srun");
      return std::make_unique<comm::SingleProcessCommunicator>();
    case Launch::mpi_or_alone:
      if (!launcher::present()) {
        log::debug("one process started alone: MPI is not started");
        return std::make_unique<comm::SingleProcessCommunicator>();
      }
      break;
    case Launch::mpi_job:
      break;
  }
  mpi = std::make_unique<comm::MpiRuntime>();
  return std::make_unique<comm::MpiCommunicator>();
}

}  // namespace

int run_main(int argc, char** argv) {
  g_arguments.assign(argv, argv + argc);
  std::vector<std::string> args(argv + 1, argv + argc);
  g_invocation = "satunet";
  for (const std::string& arg : args)
    g_invocation += " " + arg;
  if (args.empty() || asks_for_help(args[0])) {
    print_overview();
    return args.empty() ? 2 : 0;
  }
  // satunet asks satunet-torch which options its commands have (model_command_declares).
  if (args[0] == "--declares" && args.size() == 2)
    return any_command_declares(args[1]) ? 0 : 1;
  if (args[0] == "--version" || args[0] == "version") {
    try {
      std::cout << version_text();
    } catch (const Error& error) {
      return fail("satunet", error.what(), 1);
    }
    return 0;
  }
  const Command* command = find_command(args[0]);
  if (!command)
    return fail("satunet", "unknown command '" + args[0] + "' (see satunet --help)", 2);
  const std::string prefix = "satunet " + command->name;
  args.erase(args.begin());
  std::unique_ptr<comm::MpiRuntime> mpi;
  try {
    if (command->hand_over)
      return command->hand_over();
    options::Given given;
    if (!parse_options(*command, args, given))
      return 0;
    const std::unique_ptr<comm::Communicator> world = start(*command, mpi);
    return command->run(given, *world);
  } catch (const UsageError& error) {
    const std::string message =
        error.what() + std::string(" (see satunet ") + command->name + " --help)";
    if (!mpi) {
      // Before MPI: every rank read the same options and says the same; rank 0 speaks.
      if (log::rank() == 0)
        return fail(prefix, message, 2);
      // A launcher ends the job at the first rank that exits non-zero: the others give rank 0
      // the time to say it.
      std::this_thread::sleep_for(std::chrono::seconds(1));
      return 2;
    }
    fail(with_rank(prefix), message, 2);
    end_after_failure(mpi, 2);
  } catch (const JobError& error) {
    return log::rank() == 0 ? fail(prefix, error.what(), 1) : 1;
  } catch (const Error& error) {
    if (log::level() >= log::Level::debug && !error.where().empty())
      log::debug("raised at ", error.where());
    fail(with_rank(prefix), error.what(), 1);
    end_after_failure(mpi, 1);
  } catch (const std::exception& error) {
    fail(with_rank(prefix), std::string("internal error: ") + error.what(), 1);
    end_after_failure(mpi, 1);
  }
}

}  // namespace satunet::cli
