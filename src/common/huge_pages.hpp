#pragma once
// Memory for large, long-lived buffers (batches of windows, bands of rows): aligned to and
// advised for huge pages where Linux offers them (transparent huge pages, "madvise" mode), so
// that a 2 MB page faults in once where 512 small ones would each; in a VM a fresh small page
// costs more than the work then done in it. Not zeroed.
#include <sys/mman.h>

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <string>

#include "common/error.hpp"

namespace satunet {

inline std::shared_ptr<void> huge_page_memory(std::size_t bytes) {
  constexpr std::size_t kHugePage = std::size_t{2} << 20;
  const std::size_t size = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* memory = std::aligned_alloc(kHugePage, size == 0 ? kHugePage : size);
  if (!memory)
    throw Error("cannot allocate " + std::to_string(size >> 20) + " MiB");
#ifdef MADV_HUGEPAGE
  madvise(memory, size, MADV_HUGEPAGE);  // advice only: small pages without it
#endif
  return std::shared_ptr<void>(memory, [](void* allocated) { std::free(allocated); });
}

}  // namespace satunet
