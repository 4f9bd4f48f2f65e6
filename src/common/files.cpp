#include "common/files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/error.hpp"

namespace satunet {
namespace fs = std::filesystem;
namespace {

void fsync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags);
  if (fd < 0)
    return;  // best effort: some file systems refuse opening directories
  ::fsync(fd);
  ::close(fd);
}

std::string temp_name_for(const std::string& final_path) {
  const fs::path path(final_path);
  // Keep the extension last so that drivers choosing by extension still recognise it.
  return (path.parent_path() / ("." + path.stem().string() + ".partial-" +
                                std::to_string(::getpid()) + path.extension().string()))
      .string();
}

}  // namespace

PendingFile::PendingFile(std::string final_path)
    : final_path_(std::move(final_path)), temp_path_(temp_name_for(final_path_)) {}

PendingFile::~PendingFile() {
  if (!committed_)
    std::remove(temp_path_.c_str());
}

void PendingFile::commit() {
  COMMON_CHECK(file_exists(temp_path_), final_path_, ": nothing was written to ", temp_path_);
  fsync_path(temp_path_, O_RDONLY);
  if (std::rename(temp_path_.c_str(), final_path_.c_str()) != 0)
    throw Error(final_path_ + ": cannot rename " + temp_path_ +
                " into place: " + std::strerror(errno));
  const fs::path parent = fs::path(final_path_).parent_path();
  fsync_path(parent.empty() ? "." : parent.string(), O_RDONLY | O_DIRECTORY);
  committed_ = true;
}

void ensure_directory(const std::string& path) {
  std::error_code error;
  fs::create_directories(path, error);
  if (error || !fs::is_directory(path))
    throw Error(path + ": cannot create directory: " +
                (error ? error.message() : std::string("a file of that name exists")));
}

bool file_exists(const std::string& path) {
  std::error_code error;
  return fs::exists(path, error);
}

void write_text_file(const std::string& path, const std::string& contents) {
  PendingFile pending(path);
  {
    std::ofstream out(pending.temp_path(), std::ios::binary);
    out << contents;
    out.flush();
    if (!out)
      throw Error(path + ": cannot write: " + std::strerror(errno));
  }
  pending.commit();
}

}  // namespace satunet
