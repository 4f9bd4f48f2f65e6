#pragma once
// Backend selection, as Horovod orders its operation managers: the enabled accelerated
// backends first, MPI last as the fallback.
#include <memory>
#include <string>

#include "dist/communicator.hpp"
#include "dist/mpi_communicator.hpp"

namespace satunet::dist {

// `requested`: "auto", "mpi" or "nccl". `tensors_on_gpu`: the model runs on CUDA, so the
// buffers to reduce live on the device. auto = nccl when built and on GPU, else mpi.
std::unique_ptr<Communicator> make_communicator(const std::string& requested,
                                                MpiCommunicator& world, bool tensors_on_gpu);

}  // namespace satunet::dist
