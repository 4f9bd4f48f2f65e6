#include <H5public.h>
#include <gdal.h>

#include <sstream>

#include "cli/command.hpp"
#include "comm/versions.hpp"

namespace satunet::cli {

std::string version_text() {
  unsigned major = 0, minor = 0, release = 0;
  H5get_libversion(&major, &minor, &release);
  std::ostringstream out;
  out << "satunet " << SATUNET_VERSION << "\n"
      << "LibTorch: " << libtorch_description() << "\n"
      << "CUDA:     " << comm::cuda_version() << "\n"
      << "GDAL:     " << GDALVersionInfo("RELEASE_NAME") << "\n"
      << "HDF5:     " << major << "." << minor << "." << release << "\n"
      << "MPI:      " << comm::mpi_version() << "\n"
      << "NCCL:     " << comm::nccl_version() << "\n";
  return out.str();
}

}  // namespace satunet::cli
