// A prediction directory's prediction.json, as `stitch` and `info` read it.
#include "fuzz_input.hpp"
#include "shards/prediction.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  satunet::fuzz::expect_clean([&] {
    const auto index = satunet::shards::PredictionIndex::from_json(text, "prediction.json");
    (void)index.describe("pred");
  });
  return 0;
}
