#include "shards/compression.hpp"

#include "common/error.hpp"

namespace satunet::shards {

void check_compression(const Compression& compression, const std::string& path) {
  if (compression.codec == Compression::Codec::deflate &&
      (compression.level < 1 || compression.level > 9))
    throw Error(path + ": deflate compression level must be 1 to 9, got " +
                std::to_string(compression.level));
}

void parse(const std::string& text, const std::string& option, Compression& value) {
  if (text == "lz4") {
    value = Compression::lz4();
    return;
  }
  if (text.size() == 1 && text[0] >= '0' && text[0] <= '9') {
    value = Compression::deflate(text[0] - '0');
    return;
  }
  throw UsageError(option + " must be 0 (none), 1..9 (deflate level) or lz4 (got '" + text + "')");
}

std::string show(const Compression& value) {
  switch (value.codec) {
    case Compression::Codec::deflate:
      return std::to_string(value.level);
    case Compression::Codec::lz4:
      return "lz4";
    case Compression::Codec::none:
      break;
  }
  return "0";
}

}  // namespace satunet::shards
