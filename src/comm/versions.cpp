#include "comm/versions.hpp"

#include <mpi.h>

#ifdef SATUNET_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>
#endif

namespace satunet::comm {

std::string mpi_version() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int length = 0;
  MPI_Get_library_version(text, &length);
  std::string version(text, static_cast<std::size_t>(length));
  const auto end = version.find_first_of(",\n");
  return version.substr(0, end);
}

std::string nccl_version() {
#ifdef SATUNET_HAVE_NCCL
  int code = 0;
  if (ncclGetVersion(&code) != ncclSuccess)
    return "built, version unknown";
  // NCCL_VERSION(X,Y,Z) = X*10000 + Y*100 + Z since 2.9.
  return std::to_string(code / 10000) + "." + std::to_string(code / 100 % 100) + "." +
         std::to_string(code % 100);
#else
  return "not built";
#endif
}

std::string cuda_version() {
#ifdef SATUNET_HAVE_NCCL
  auto text = [](int code) {
    return code > 0 ? std::to_string(code / 1000) + "." + std::to_string(code % 1000 / 10)
                    : std::string("none");
  };
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  return "runtime " + text(runtime) + ", driver " + text(driver);
#else
  return "not built";
#endif
}

bool nccl_built() {
#ifdef SATUNET_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

}  // namespace satunet::comm
