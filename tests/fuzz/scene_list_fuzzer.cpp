// `tile --scenes FILE.csv`: the scene list.
#include "fuzz_input.hpp"
#include "tiling/scene_list.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = satunet::fuzz::input_file(data, size, ".csv");
  satunet::fuzz::expect_clean([&] { (void)satunet::tiling::read_scene_list(path); });
  return 0;
}
