#include "dist/backend.hpp"

#include "dist/versions.hpp"
#ifdef SATUNET_HAVE_NCCL
#include "dist/nccl_communicator.hpp"
#endif

namespace satunet::dist {

std::unique_ptr<Communicator> make_communicator(const std::string& requested,
                                                MpiCommunicator& world, bool tensors_on_gpu) {
  if (requested != "auto" && requested != "mpi" && requested != "nccl")
    throw UsageError("--backend must be auto, mpi or nccl (got '" + requested + "')");
  const bool want_nccl =
      requested == "nccl" || (requested == "auto" && tensors_on_gpu && nccl_built());
  if (!want_nccl)
    return std::make_unique<MpiCommunicator>(world.comm());
#ifdef SATUNET_HAVE_NCCL
  return std::make_unique<NcclCommunicator>(world);
#else
  throw Error(
      "--backend nccl: this satunet was built without NCCL (configure with "
      "-DSATUNET_WITH_NCCL=ON and a CUDA toolkit with NCCL)");
#endif
}

}  // namespace satunet::dist
