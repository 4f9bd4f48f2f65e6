#pragma once
// What a checkpoint holds, for `satunet info C.pt`, without LibTorch's headers for the caller.
#include <string>

namespace satunet::model {

// Lines for people, or JSON. Throws "<path>: ..." for missing, corrupt or foreign files.
std::string describe_checkpoint_file(const std::string& path, bool json);

}  // namespace satunet::model
