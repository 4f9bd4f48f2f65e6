#pragma once
#include <string>

namespace satunet::comm {

// "Open MPI v4.1.4, ..." (first line of MPI_Get_library_version).
std::string mpi_version();
// "2.28.9", or "not built" when satunet was built without the NCCL backend.
std::string nccl_version();
bool nccl_built();
// "runtime 13.0, driver 13.0" from the CUDA runtime satunet's NCCL backend links, or "not built".
std::string cuda_version();

}  // namespace satunet::comm
