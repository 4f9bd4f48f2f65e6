#include "test_support.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <unistd.h>
#include <csignal>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "geo/gdal.hpp"
#include "geo/raster.hpp"

namespace satunet::test {
namespace fs = std::filesystem;

void leave_mpi_job() {
  for (const char* name :
       {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "PMI_RANK",
        "PMIX_RANK", "PMIX_NAMESPACE", "PMIX_SERVER_URI2", "PMIX_SERVER_URI3",
        "OMPI_MCA_orte_hnp_uri", "OMPI_MCA_ess"})
    unsetenv(name);
}

CommandResult run_satunet(const std::vector<std::string>& args, long max_file_bytes) {
  const fs::path dir = fresh_directory("run");
  const std::string out_path = (dir / "stdout").string();
  const std::string err_path = (dir / "stderr").string();
  const pid_t child = fork();
  if (child == 0) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(SATUNET_BINARY));
    for (const std::string& arg : args)
      argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    if (!freopen(out_path.c_str(), "w", stdout) || !freopen(err_path.c_str(), "w", stderr))
      _exit(126);
    leave_mpi_job();
    if (max_file_bytes > 0) {
      const rlimit limit{static_cast<rlim_t>(max_file_bytes), static_cast<rlim_t>(max_file_bytes)};
      setrlimit(RLIMIT_FSIZE, &limit);
      signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG
    }
    execv(SATUNET_BINARY, argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(child, &status, 0);
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = file_bytes(out_path);
  result.err = file_bytes(err_path);
  return result;
}

std::string fresh_directory(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "none";
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  const fs::path dir =
      fs::path(SATUNET_TEST_TMP) / test / (name + (rank ? std::string("-r") + rank : ""));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string real_data(const std::string& relative) {
  return (fs::path(SATUNET_REAL_DATA) / relative).string();
}

template <typename T>
std::vector<T> read_band(const std::string& path, int band, GDALDataType type) {
  const geo::Raster raster = geo::Raster::open(path);
  const auto& info = raster.info();
  std::vector<T> values(static_cast<std::size_t>(info.width * info.height));
  raster.read({0, 0, info.width, info.height}, {band}, type, values.data());
  return values;
}

std::vector<std::uint8_t> read_band_u8(const std::string& path, int band) {
  return read_band<std::uint8_t>(path, band, GDT_Byte);
}

std::vector<double> read_band_f64(const std::string& path, int band) {
  return read_band<double>(path, band, GDT_Float64);
}

std::string file_bytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

}  // namespace satunet::test
