#pragma once
// The chunk filters of satunet's HDF5 datasets computed without HDF5 — shuffle, deflate
// (libdeflate), LZ4 (HDF5's registered filter 32004) and Fletcher-32 — so that many threads can
// encode while one writes, and a damaged chunk is decoded with every size checked. Internal to
// the shards library.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "shards/compression.hpp"

namespace satunet::shards {

// HDF5's registered number of the LZ4 filter (the HDF Group's H5Zlz4.c).
constexpr H5Z_filter_t kLz4Filter = 32004;

// One filter of a dataset's pipeline, as a reader decodes it.
struct ChunkFilter {
  H5Z_filter_t id = H5Z_FILTER_NONE;
  unsigned value_bytes = 0;  // the shuffle's; 0 for the others
};

// One chunk as create_rows' filters store it — shuffle (values of more than one byte) and the
// codec when `compression` compresses, then HDF5's Fletcher-32 checksum — computed without
// HDF5, so that many threads can encode while one writes. Deflate is libdeflate's, in the zlib
// format HDF5's filter reads: 2x zlib's speed at level 1, and smaller.
std::vector<std::uint8_t> encode_chunk(const void* data, std::size_t bytes, std::size_t value_bytes,
                                       Compression compression);

// `stored`, the bytes of one chunk as HDF5 stores them, passed back through `filters` (in the
// order they were applied when writing): exactly `bytes` long, or an error naming `chunk` of
// `path`.
std::vector<std::uint8_t> decode_chunk(std::vector<std::uint8_t> stored,
                                       const std::vector<ChunkFilter>& filters, std::size_t bytes,
                                       const std::string& chunk, const std::string& path);

// satunet's LZ4 codec as HDF5's filter 32004, for what HDF5 itself filters; registered before
// HDF5 would look for a plugin, so that no plugin's decoder sees the shards' bytes.
void register_lz4_filter(const std::string& path);

}  // namespace satunet::shards
