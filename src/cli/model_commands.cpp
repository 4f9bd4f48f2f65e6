// What needs LibTorch besides the model's commands themselves (see command.hpp).
#include "cli/command.hpp"
#include "model/checkpoint_info.hpp"
#include "model/runtime.hpp"

namespace satunet::cli {

std::string describe_checkpoint(const std::string& path, bool json) {
  return model::describe_checkpoint_file(path, json);
}

std::string libtorch_description() {
  return model::libtorch_description();
}

}  // namespace satunet::cli
