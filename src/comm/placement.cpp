#include "comm/placement.hpp"

#include "comm/versions.hpp"
#include "common/log.hpp"
#ifdef SATUNET_HAVE_NCCL
#include "comm/nccl_communicator.hpp"
#endif

namespace satunet::comm {

int runtime_gpus() {
#ifdef SATUNET_HAVE_NCCL
  return cuda_device_count();
#else
  return 0;
#endif
}

int gpu_of_rank(const Communicator& world, int gpus) {
  COMM_CHECK(gpus > 0, "no GPU to place rank ", world.rank(), " on");
  if (world.local_size() > gpus && world.local_rank() == 0)
    log::warn(world.local_size(), " ranks share ", gpus, " GPUs on this node");
  return world.local_rank() % gpus;
}

const options::Table<int>& threads_option_table() {
  static const auto table =
      options::Table<int>()
          .value_at(
              "threads", [](int& threads) -> int& { return threads; },
              "threads per rank (for LibTorch, GDAL's decoding, compression and blending); 0: "
              "cores per node / ranks per node")
          .in_range(0, kMaxThreadsPerRank)
          .meaning(0, "automatic");
  return table;
}

Placement place(std::optional<Backend> backend, Device device, const Communicator& world,
                int gpus) {
  const std::string rank = std::to_string(world.rank());
  Placement placement;
  if (!backend) {
    if (device == Device::cuda && gpus == 0)
      throw Error("--device cuda: no GPU present on rank " + rank +
                  " (LibTorch without CUDA, or no device visible)");
    placement.on_gpu = device == Device::cuda || (device == Device::automatic && gpus > 0);
  } else if (*backend == Backend::nccl) {
    if (device == Device::cpu)
      throw UsageError("--backend nccl reduces GPU memory: not with --device cpu");
    if (!nccl_built())
      throw Error(
          "--backend nccl: this satunet was built without NCCL (configure with "
          "-DSATUNET_WITH_NCCL=ON and a CUDA toolkit with NCCL)");
    if (gpus == 0)
      throw Error("--backend nccl: no GPU present on rank " + rank +
                  "; use --backend mpi to train on CPUs");
    placement.backend = Backend::nccl;
    placement.on_gpu = true;
  } else if (*backend == Backend::automatic && device != Device::cpu && gpus > 0 && nccl_built()) {
    placement.backend = Backend::nccl;
    placement.on_gpu = true;
  } else if (device == Device::cuda) {
    // MPI reduces host memory: the GPU's buffers go through it (ranks may then share a GPU,
    // which NCCL refuses).
    if (gpus == 0)
      throw Error("--device cuda: no GPU present on rank " + rank +
                  " (LibTorch without CUDA, or no device visible)");
    placement.on_gpu = true;
  }
  if (placement.on_gpu)
    placement.gpu = gpu_of_rank(world, gpus);
  return placement;
}

std::unique_ptr<Communicator> make_communicator(const Placement& placement, Communicator& world) {
  if (placement.backend != Backend::nccl)
    return world.duplicate();
#ifdef SATUNET_HAVE_NCCL
  return std::make_unique<NcclCommunicator>(world, placement.gpu);
#else
  throw Error("--backend nccl: this satunet was built without NCCL");
#endif
}

}  // namespace satunet::comm
