#include "common/files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

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

constexpr const char* kPartialMark = ".partial-";

std::string temp_name_for(const std::string& final_path) {
  const fs::path path(final_path);
  // Keep the extension last so that drivers choosing by extension still recognise it.
  return (path.parent_path() / ("." + path.stem().string() + kPartialMark +
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

void remove_abandoned_temporaries(const std::string& dir) {
  std::error_code error;
  for (fs::directory_iterator entry(dir, error), end; !error && entry != end;
       entry.increment(error)) {
    const std::string name = entry->path().filename().string();
    if (name.front() == '.' && name.find(kPartialMark) != std::string::npos)
      fs::remove(entry->path(), error);
  }
}

void remove_abandoned_temporaries_of(const std::string& final_path) {
  const fs::path path(final_path);
  const std::string prefix = "." + path.stem().string() + kPartialMark;
  std::error_code error;
  for (fs::directory_iterator entry(path.parent_path(), error), end; !error && entry != end;
       entry.increment(error))
    if (entry->path().filename().string().rfind(prefix, 0) == 0)
      fs::remove(entry->path(), error);
}

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ignored;
  return fs::weakly_canonical(a, ignored) == fs::weakly_canonical(b, ignored);
}

bool lies_inside(const std::string& path, const std::string& dir) {
  std::error_code ignored;
  const fs::path inner = fs::weakly_canonical(path, ignored);
  const fs::path outer = fs::weakly_canonical(dir, ignored);
  auto outer_part = outer.begin();
  for (auto inner_part = inner.begin(); outer_part != outer.end(); ++inner_part, ++outer_part) {
    // A trailing separator gives an empty last element: it matches anything.
    if (outer_part->empty())
      return true;
    if (inner_part == inner.end() || *inner_part != *outer_part)
      return false;
  }
  return true;
}

void check_not_an_input(const std::string& path, const std::vector<std::string>& inputs) {
  for (const std::string& input : inputs)
    if (!input.empty() && same_file(path, input))
      throw Error(path + ": is an input of this command (" + input + "); write elsewhere");
    else if (!input.empty() && lies_inside(path, input))
      throw Error(path + ": lies inside " + input + ", an input of this command; write elsewhere");
}

void check_output_path(const std::string& path, bool overwrite,
                       const std::vector<std::string>& inputs) {
  check_not_an_input(path, inputs);
  // Refused now, not when the work is done.
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty() && !fs::is_directory(parent))
    throw Error(path + ": no directory " + parent.string() + " to write it in");
  if (fs::is_directory(path))
    throw Error(path + ": is a directory, not a file");
  if (file_exists(path) && !overwrite)
    throw Error(path + ": exists; --overwrite replaces it");
}

void check_distinct_outputs(const std::vector<std::string>& outputs) {
  for (std::size_t i = 0; i < outputs.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (!outputs[i].empty() && !outputs[j].empty() && same_file(outputs[i], outputs[j]))
        throw UsageError(outputs[i] + " is named for two outputs");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(path + ": cannot read: " + std::strerror(errno));
  // Into one string of the file's size (a stream's buffer and then its copy would hold it
  // twice), then whatever a file without a size (a pipe, /proc) or grown meanwhile holds.
  std::error_code unknown;
  const std::uintmax_t size = fs::file_size(path, unknown);
  std::string contents;
  if (!unknown && size > 0) {
    contents.resize(static_cast<std::size_t>(size));
    in.read(contents.data(), static_cast<std::streamsize>(size));
    contents.resize(static_cast<std::size_t>(in.gcount()));
  }
  if (in.good()) {
    std::ostringstream rest;
    rest << in.rdbuf();
    contents += rest.str();
  }
  if (in.bad())
    throw Error(path + ": cannot read: " + std::strerror(errno));
  return contents;
}

void write_file(const std::string& path, const std::string& contents) {
  PendingFile pending(path);
  const int fd =
      ::open(pending.temp_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw Error(path + ": cannot write: " + std::strerror(errno));
  std::size_t written = 0;
  while (written < contents.size()) {
    const ssize_t now = ::write(fd, contents.data() + written, contents.size() - written);
    if (now < 0 && errno == EINTR)
      continue;
    if (now <= 0) {
      const int failure = now < 0 ? errno : ENOSPC;
      ::close(fd);
      throw Error(path + ": cannot write: " + std::strerror(failure));
    }
    written += static_cast<std::size_t>(now);
  }
  if (::close(fd) != 0)
    throw Error(path + ": cannot write: " + std::strerror(errno));
  pending.commit();
}

}  // namespace satunet
