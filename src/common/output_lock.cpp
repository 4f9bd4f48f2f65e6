#include "common/output_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.hpp"
#include "common/files.hpp"

namespace satunet {

std::string OutputLock::file_in(const std::string& dir) {
  return dir + "/.satunet.lock";
}

OutputLock::OutputLock(const std::string& dir) {
  ensure_directory(dir);
  const std::string path = file_in(dir);
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw Error(dir + ": cannot lock for writing: " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char holder[32] = {0};
    const ssize_t read = ::pread(fd_, holder, sizeof holder - 1, 0);
    ::close(fd_);
    fd_ = -1;
    throw Error(dir + ": in use by another satunet" +
                (read > 0 ? " (pid " + std::string(holder) + ")" : std::string()) +
                ": one job writes a directory at a time");
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // The pid is only for the message above; the lock holds without it.
  }
}

OutputLock::~OutputLock() {
  if (fd_ >= 0)
    ::close(fd_);
}

}  // namespace satunet
