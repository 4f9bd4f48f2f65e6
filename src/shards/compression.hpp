#pragma once
// How the chunks of a shard (training tiles, predictions) are compressed. Three codecs, all
// behind HDF5's shuffle filter and read by any HDF5 program:
//   none      only the Fletcher-32 checksum;
//   deflate   HDF5's own filter (1..9), read everywhere;
//   lz4       HDF5's registered filter 32004: five times deflate 1's speed at a larger size;
//             read by h5py (hdf5plugin), and by any HDF5 program where Debian's
//             hdf5-filter-plugin (or the HDF Group's plugins) is installed.
// On the command line and in config files: 0 (none), 1..9 (deflate level) or lz4.
#include <string>

namespace satunet::shards {

struct Compression {
  enum class Codec { none, deflate, lz4 };
  Codec codec = Codec::none;
  int level = 0;  // deflate's, 1..9

  static Compression none() { return {}; }
  static Compression deflate(int level) {
    return level == 0 ? none() : Compression{Codec::deflate, level};
  }
  static Compression lz4() { return {Codec::lz4, 0}; }
  bool compresses() const { return codec != Codec::none; }
  bool operator==(const Compression& other) const {
    return codec == other.codec && level == other.level;
  }
};

// The --compress option's help, for every command that writes shards.
constexpr const char* kCompressHelp =
    "compression of the shards: 0 = none, 1..9 = deflate level, lz4 (HDF5 filter 32004)";

// Refuses a deflate level outside 1..9, naming the file being written.
void check_compression(const Compression& compression, const std::string& path);

// "0" .. "9", "lz4"; anything else is a UsageError naming the option.
void parse(const std::string& text, const std::string& option, Compression& value);
std::string show(const Compression& value);

}  // namespace satunet::shards
