#pragma once
// What LibTorch brings to this process, without LibTorch's headers for the caller.
#include <string>

namespace satunet::model {

// The GPUs LibTorch can use on this node: 0 without CUDA or without a device.
int cuda_devices();
// "1.13.0 (CPU)", or "2.11.0 (CUDA 13.0, cuDNN 91002, 1 GPU)".
std::string libtorch_description();

// The kernels LibTorch may choose (--deterministic). By default cuDNN's autotuner times the
// convolution algorithms once per shape and keeps the fastest, as PyTorch's
// cudnn.benchmark = True does: the fastest, but the choice (and so the last bits of a result)
// may differ from run to run. Deterministic: LibTorch's deterministic algorithms only (a warning
// where an operation has none) and cuDNN's deterministic ones, chosen without timing, so a run
// repeats bitwise on the same GPU. CPUs are unaffected by either cuDNN setting.
void choose_algorithms(bool deterministic);

// Keeps the memory LibTorch frees inside the process for its next use. A training step or a
// batch of windows frees and reallocates the same activation buffers every time; glibc would
// hand each one (above 128 KB) back to the kernel and take a fresh one, whose every page then
// faults in and is zeroed again: measured, a fifth of a 2-rank training step. Memory stays at
// the peak a step needs, which it reaches anyway.
void keep_freed_memory();

}  // namespace satunet::model
