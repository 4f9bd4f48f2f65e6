// The satunet binary's stand-ins for what needs LibTorch (see command.hpp): each hands the
// process over to satunet-torch, beside this binary, with the same command line. It happens
// before MPI starts and before any output, so a job's ranks each become satunet-torch's.
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "cli/command.hpp"
#include "common/error.hpp"

namespace satunet::cli {
namespace {

constexpr const char* kTorchBinary = "satunet-torch";

// Beside this binary, links resolved: where the build and an install put both.
std::string torch_binary() {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  return (error ? std::filesystem::path(kTorchBinary) : self.parent_path() / kTorchBinary).string();
}

[[noreturn]] void hand_over() {
  const std::string binary = torch_binary();
  std::vector<std::string> words = arguments();
  std::vector<char*> argv;
  for (std::string& word : words)
    argv.push_back(word.data());
  argv.push_back(nullptr);
  std::cout.flush();  // exec drops what a stream still holds
  std::fflush(nullptr);
  ::execv(binary.c_str(), argv.data());
  throw Error(binary + ": cannot run it (" + std::strerror(errno) +
              "); satunet runs its model's commands there: build or install it beside satunet");
}

Command handed_over(const CommandText& text) {
  Command command;
  command.name = text.name;
  command.summary = text.summary;
  command.usage = text.usage;
  command.hand_over = []() -> int { hand_over(); };
  return command;
}

}  // namespace

Command train_command() {
  return handed_over(kTrainText);
}

Command predict_command() {
  return handed_over(kPredictText);
}

Command export_command() {
  return handed_over(kExportText);
}

bool model_command_declares(const std::string& name) {
  // Rare (an INI file's top-level key that no command of this binary has): a process is cheap.
  const std::string binary = torch_binary();
  const pid_t child = ::fork();
  if (child < 0)
    throw Error(std::string("cannot start ") + kTorchBinary + ": " + std::strerror(errno));
  if (child == 0) {
    ::execl(binary.c_str(), binary.c_str(), "--declares", name.c_str(), nullptr);
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
    throw Error(binary + ": cannot run it to read its options; satunet runs its model's " +
                "commands there: build or install it beside satunet");
  return WEXITSTATUS(status) == 0;
}

std::string describe_checkpoint(const std::string&, bool) {
  hand_over();
}

std::string libtorch_description() {
  hand_over();
}

}  // namespace satunet::cli
