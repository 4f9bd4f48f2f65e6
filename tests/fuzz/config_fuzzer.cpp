// `--config FILE.ini`: the INI reader every command uses.
#include <sstream>

#include "common/config_file.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  satunet::fuzz::expect_clean([&] { (void)satunet::parse_config(in, "config.ini"); });
  return 0;
}
