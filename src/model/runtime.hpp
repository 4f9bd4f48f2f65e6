#pragma once
// What LibTorch brings to this process, without LibTorch's headers for the caller.
#include <string>

namespace satunet::model {

// The GPUs LibTorch can use on this node: 0 without CUDA or without a device.
int cuda_devices();
// "1.13.0 (CPU)", or "2.11.0 (CUDA 13.0, cuDNN 91002, 1 GPU)".
std::string libtorch_description();

}  // namespace satunet::model
