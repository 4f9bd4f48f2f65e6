#pragma once
// What the fuzz targets share: how an input reaches a reader that takes a path, and the rule
// that every rejection is a satunet::Error (naming the file) - anything else thrown, or any
// crash, is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>

#include "common/error.hpp"

namespace satunet::fuzz {

// The input as a file named with `extension` (the readers choose nothing by it, but their
// messages name it); one per process, rewritten for each input.
inline std::string input_file(const std::uint8_t* data, std::size_t size,
                              const std::string& extension) {
  static const std::string path = [&] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir ? dir : "/tmp") + "/satunet-fuzz-" + std::to_string(::getpid()) +
           extension;
  }();
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// Runs `read`; an Error is a clean rejection, anything else aborts (a finding).
template <typename Read>
void expect_clean(Read&& read) {
  try {
    read();
  } catch (const Error&) {
    // refused with a message: as it should be
  } catch (const std::exception& error) {
    std::fprintf(stderr, "finding: not a satunet::Error: %s\n", error.what());
    std::abort();
  }
}

}  // namespace satunet::fuzz
