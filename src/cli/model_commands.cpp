// What needs LibTorch besides the model's commands themselves (see command.hpp).
#include "cli/command.hpp"
#include "model/checkpoint_info.hpp"
#include "model/runtime.hpp"

namespace satunet::cli {

std::string describe_checkpoint(const std::string& path, bool json) {
  return model::describe_checkpoint_file(path, json);
}

bool model_command_declares(const std::string& name) {
  return any_command_declares(name);  // this binary has the model's commands
}

std::string libtorch_description() {
  return model::libtorch_description();
}

}  // namespace satunet::cli
