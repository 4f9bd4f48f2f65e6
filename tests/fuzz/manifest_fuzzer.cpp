// A dataset's manifest.json, as `train`, `info` and `predict --bands` read it.
#include "fuzz_input.hpp"
#include "shards/manifest.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  satunet::fuzz::expect_clean([&] {
    const auto manifest = satunet::shards::Manifest::from_text(text, "manifest.json");
    (void)manifest.describe("dataset");
    (void)manifest.total_tiles();
  });
  return 0;
}
