#pragma once
// Where a rank computes and how its ranks talk, decided in one place for train, predict and
// bench. As Horovod orders its operation managers: the enabled accelerated backend first,
// MPI last as the fallback. One process per GPU: the rank's GPU is its node-local rank modulo
// the GPUs of the node.
#include <memory>
#include <optional>
#include <string>

#include "comm/communicator.hpp"
#include "common/options.hpp"

namespace satunet::comm {

enum class Backend { automatic, mpi, nccl };
enum class Device { automatic, cpu, cuda };

inline const options::EnumNames<Backend>& enum_names(Backend) {
  static const options::EnumNames<Backend> names{
      {Backend::automatic, "auto"}, {Backend::mpi, "mpi"}, {Backend::nccl, "nccl"}};
  return names;
}
inline const options::EnumNames<Device>& enum_names(Device) {
  static const options::EnumNames<Device> names{
      {Device::automatic, "auto"}, {Device::cpu, "cpu"}, {Device::cuda, "cuda"}};
  return names;
}

// --threads of every command that computes on threads (train, tile, predict): threads per
// rank, 0 (automatic) to kMaxThreadsPerRank; threads_per_rank() reads it.
const options::Table<int>& threads_option_table();

struct Placement {
  Backend backend = Backend::mpi;  // never automatic
  bool on_gpu = false;
  int gpu = -1;  // the CUDA device when on_gpu
};

// `gpus`: the GPUs the compute library can use on this node (LibTorch's count, or the CUDA
// runtime's for bench).
// - Jobs whose ranks exchange device buffers (train, bench) give a `backend`: auto is nccl on
//   the GPU where NCCL is built and a GPU is there, else mpi on the CPU (the MPI backend
//   reduces host memory); nccl needs both. With mpi (or auto without NCCL) `device` cuda puts
//   the rank on its GPU all the same, its buffers reduced through host memory.
// - Jobs that only coordinate over MPI (predict) give no backend and choose the `device`:
//   auto is the GPU when there is one.
// Throws, naming the rank, when a GPU is required and there is none.
Placement place(std::optional<Backend> backend, Device device, const Communicator& world, int gpus);

// The GPUs the CUDA runtime sees on this node, for device buffers without LibTorch (bench,
// tests); 0 where satunet is built without NCCL.
int runtime_gpus();

// The rank's GPU among `gpus`; warns when ranks of a node share one.
int gpu_of_rank(const Communicator& world, int gpus);

// The communicator for gradients or benchmarks: a duplicate of `world` (mpi), or NCCL
// bootstrapped over `world` on the placement's GPU.
std::unique_ptr<Communicator> make_communicator(const Placement& placement, Communicator& world);

}  // namespace satunet::comm
