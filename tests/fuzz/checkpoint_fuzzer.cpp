// Checkpoints (`predict`, `info`, `train --resume`): the archive's integrity, the metadata and
// the weights they describe.
#include "fuzz_input.hpp"
#include "model/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = satunet::fuzz::input_file(data, size, ".pt");
  satunet::fuzz::expect_clean([&] { (void)satunet::model::load_checkpoint(path); });
  return 0;
}
