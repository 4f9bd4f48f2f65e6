#pragma once
// A loop spread over threads: for work of a few milliseconds and up per call (blending a row
// of windows, compressing a batch), where starting threads costs little beside it.
#include <algorithm>
#include <cstdint>
#include <future>
#include <vector>

namespace satunet {

// `work(i)` for every i in [0, count), in contiguous parts on `threads` threads (the calling
// one among them). A part's exception comes back here, after every part has ended.
template <typename Work>
void parallel_for(std::int64_t count, int threads, Work work) {
  const std::int64_t parts = std::clamp<std::int64_t>(threads, 1, std::max<std::int64_t>(count, 1));
  auto part = [&](std::int64_t p) {
    for (std::int64_t i = count * p / parts; i < count * (p + 1) / parts; ++i)
      work(i);
  };
  std::vector<std::future<void>> others;
  for (std::int64_t p = 1; p < parts; ++p)
    others.push_back(std::async(std::launch::async, part, p));
  part(0);  // on throwing, the futures' destructors wait for the other parts
  for (std::future<void>& other : others)
    other.get();
}

}  // namespace satunet
