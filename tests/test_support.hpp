#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace satunet::test {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the satunet binary with `args` (no shell), capturing both streams. A positive
// `max_file_bytes` limits the size of every file it writes (RLIMIT_FSIZE), to provoke
// write failures.
CommandResult run_satunet(const std::vector<std::string>& args, long max_file_bytes = 0);

// In a forked child: forget the test's MPI job, so that what it starts (satunet, or mpirun) is a
// job of its own rather than a stray rank of the test's.
void leave_mpi_job();

// A fresh empty directory for the current test, under the build tree.
std::string fresh_directory(const std::string& name);

std::string real_data(const std::string& relative);

// All pixels of one band, converted to T.
std::vector<std::uint8_t> read_band_u8(const std::string& path, int band = 1);
std::vector<double> read_band_f64(const std::string& path, int band = 1);

std::string file_bytes(const std::string& path);

}  // namespace satunet::test
