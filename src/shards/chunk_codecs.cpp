#include "shards/chunk_codecs.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include <libdeflate.h>
#include <lz4.h>

#include "shards/hdf5_handle.hpp"
#include "shards/shard.hpp"

namespace satunet::shards {

namespace {

// HDF5's filter 4 (H5checksum.c): Fletcher's checksum over big-endian 16-bit words, sums
// folded every 360 words so that they cannot overflow.
std::uint32_t fletcher32(const std::uint8_t* data, std::size_t bytes) {
  std::uint32_t sum1 = 0, sum2 = 0;
  std::size_t words = bytes / 2;
  while (words) {
    std::size_t block = std::min<std::size_t>(words, 360);
    words -= block;
    for (; block; --block, data += 2) {
      sum1 += static_cast<std::uint32_t>(data[0] << 8 | data[1]);
      sum2 += sum1;
    }
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  }
  if (bytes % 2) {
    sum1 += static_cast<std::uint32_t>(*data << 8);
    sum2 += sum1;
    sum1 = (sum1 & 0xffff) + (sum1 >> 16);
    sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  }
  sum1 = (sum1 & 0xffff) + (sum1 >> 16);
  sum2 = (sum2 & 0xffff) + (sum2 >> 16);
  return sum2 << 16 | sum1;
}

// One compressor per thread and level, one decompressor per thread: they hold their working
// memory (hundreds of kB) from call to call.
libdeflate_compressor& compressor(int level) {
  struct Owned {
    libdeflate_compressor* compressor = nullptr;
    ~Owned() { libdeflate_free_compressor(compressor); }
  };
  thread_local std::array<Owned, 13> compressors;  // libdeflate's levels 0-12
  Owned& owned = compressors.at(static_cast<std::size_t>(level));
  if (!owned.compressor)
    owned.compressor = libdeflate_alloc_compressor(level);
  SHARDS_CHECK(owned.compressor, "cannot make a deflate compressor of level ", level);
  return *owned.compressor;
}

libdeflate_decompressor& decompressor() {
  struct Owned {
    libdeflate_decompressor* decompressor = libdeflate_alloc_decompressor();
    ~Owned() { libdeflate_free_decompressor(decompressor); }
  };
  thread_local Owned owned;
  SHARDS_CHECK(owned.decompressor, "cannot make a deflate decompressor");
  return *owned.decompressor;
}

// HDF5's shuffle filter and its inverse: byte b of every value grouped together (forward), or
// back in the values' order. Bytes beyond the last whole value stay where they are.
enum class Shuffle { forward, back };
std::vector<std::uint8_t> shuffle_bytes(const std::uint8_t* in, std::size_t bytes,
                                        std::size_t value_bytes, Shuffle direction) {
  std::vector<std::uint8_t> out(in, in + bytes);
  const std::size_t values = value_bytes > 1 ? bytes / value_bytes : 0;
  for (std::size_t b = 0; b < value_bytes && values > 1; ++b)
    for (std::size_t v = 0; v < values; ++v) {
      if (direction == Shuffle::forward)
        out[b * values + v] = in[v * value_bytes + b];
      else
        out[v * value_bytes + b] = in[b * values + v];
    }
  return out;
}

// HDF5's registered filter 32004 (the HDF Group's H5Zlz4.c), whose layout every LZ4 reader of
// HDF5 expects: the input's size as a big-endian uint64, the block size as a big-endian
// uint32, then each block as its stored size (big-endian uint32) and its LZ4 bytes, or its
// bytes as they are where LZ4 would not make them smaller.
constexpr std::size_t kLz4HeaderBytes = 12;
constexpr std::size_t kLz4BlockBytes = std::size_t{1} << 30;  // the plugin's default

void put_big_endian(std::uint8_t* out, std::uint64_t value, int bytes) {
  for (int i = bytes - 1; i >= 0; --i, value >>= 8)
    out[i] = static_cast<std::uint8_t>(value & 0xff);
}

std::uint64_t get_big_endian(const std::uint8_t* in, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i)
    value = value << 8 | in[i];
  return value;
}

std::vector<std::uint8_t> lz4_compress(const std::uint8_t* in, std::size_t bytes) {
  SHARDS_CHECK(bytes > 0, "LZ4 chunks hold at least one byte");
  const std::size_t block = std::min(bytes, kLz4BlockBytes);
  std::vector<std::uint8_t> out(kLz4HeaderBytes);
  put_big_endian(out.data(), bytes, 8);
  put_big_endian(out.data() + 8, block, 4);
  for (std::size_t done = 0; done < bytes;) {
    const int size = static_cast<int>(std::min(block, bytes - done));
    const std::size_t at = out.size();
    out.resize(at + 4 + static_cast<std::size_t>(LZ4_compressBound(size)));
    auto* stored_at = reinterpret_cast<char*>(out.data() + at + 4);
    int stored = LZ4_compress_default(reinterpret_cast<const char*>(in + done), stored_at, size,
                                      LZ4_compressBound(size));
    SHARDS_CHECK(stored > 0, "LZ4 of a ", size, "-byte block failed");
    if (stored >= size) {
      std::memcpy(stored_at, in + done, static_cast<std::size_t>(size));
      stored = size;
    }
    put_big_endian(out.data() + at, static_cast<std::uint64_t>(stored), 4);
    out.resize(at + 4 + static_cast<std::size_t>(stored));
    done += static_cast<std::size_t>(size);
  }
  return out;
}

// The inverse, into exactly `bytes` bytes: what the header claims, every block's size and
// every LZ4 sequence is checked against the buffers (the plugin itself trusts them).
std::vector<std::uint8_t> lz4_decompress_exactly(const std::uint8_t* stored,
                                                 std::size_t stored_bytes, std::size_t bytes,
                                                 const std::string& chunk,
                                                 const std::string& path) {
  const auto damaged = [&](const std::string& what) {
    return Error(path + ": " + chunk + " " + what + " (damaged?)");
  };
  if (stored_bytes < kLz4HeaderBytes)
    throw damaged("is too short for its LZ4 header");
  if (get_big_endian(stored, 8) != bytes)
    throw damaged("claims " + std::to_string(get_big_endian(stored, 8)) + " bytes, not the " +
                  std::to_string(bytes) + " of its values");
  const std::size_t block =
      std::min<std::size_t>(bytes, static_cast<std::size_t>(get_big_endian(stored + 8, 4)));
  if (block == 0 && bytes > 0)
    throw damaged("has LZ4 blocks of 0 bytes");
  std::vector<std::uint8_t> out(bytes);
  std::size_t at = kLz4HeaderBytes;
  for (std::size_t done = 0; done < bytes;) {
    const std::size_t size = std::min(block, bytes - done);
    if (stored_bytes - at < 4)
      throw damaged("ends inside its LZ4 blocks");
    const std::size_t stored_size = static_cast<std::size_t>(get_big_endian(stored + at, 4));
    at += 4;
    if (stored_size > stored_bytes - at)
      throw damaged("has an LZ4 block longer than the chunk");
    if (stored_size == size) {
      std::memcpy(out.data() + done, stored + at, size);
    } else {
      const int decoded = LZ4_decompress_safe(
          reinterpret_cast<const char*>(stored + at), reinterpret_cast<char*>(out.data() + done),
          static_cast<int>(stored_size), static_cast<int>(size));
      if (decoded != static_cast<int>(size))
        throw damaged("does not decompress to its " + std::to_string(bytes) + " bytes");
    }
    at += stored_size;
    done += size;
  }
  if (at != stored_bytes)
    throw damaged("has bytes after its LZ4 blocks");
  return out;
}

std::vector<std::uint8_t> deflate_compress(const std::uint8_t* in, std::size_t bytes, int level) {
  libdeflate_compressor& deflate = compressor(level);
  std::vector<std::uint8_t> out(libdeflate_zlib_compress_bound(&deflate, bytes));
  const std::size_t size = libdeflate_zlib_compress(&deflate, in, bytes, out.data(), out.size());
  SHARDS_CHECK(size > 0, "deflate of a ", bytes, "-byte tile failed");
  out.resize(size);
  return out;
}

// The same codec as an HDF5 filter, for what HDF5 itself filters: rows written with
// H5Dwrite, and datasets of many rows per chunk, which open_rows decodes with
// lz4_decompress_exactly first. Registered by satunet, so that no plugin's decoder sees the
// shards' bytes.
std::size_t lz4_hdf5_filter(unsigned flags, std::size_t, const unsigned[], std::size_t bytes,
                            std::size_t* buffer_size, void** buffer) noexcept {
  try {
    const auto* in = static_cast<const std::uint8_t*>(*buffer);
    std::vector<std::uint8_t> out;
    if (flags & H5Z_FLAG_REVERSE) {
      // A chunk holds kMaxTileValues of 8 bytes at most: 2 GiB.
      constexpr std::uint64_t kMostBytes = std::uint64_t{1} << 31;
      const std::uint64_t claimed = bytes >= 8 ? get_big_endian(in, 8) : 0;
      if (claimed == 0 || claimed > kMostBytes)
        return 0;
      out = lz4_decompress_exactly(in, bytes, static_cast<std::size_t>(claimed), "an LZ4 chunk",
                                   "HDF5");
    } else {
      out = lz4_compress(in, bytes);
    }
    void* result = H5allocate_memory(out.size(), false);
    if (!result)
      return 0;
    std::memcpy(result, out.data(), out.size());
    H5free_memory(*buffer);
    *buffer = result;
    *buffer_size = out.size();
    return out.size();
  } catch (...) {
    return 0;  // HDF5 reports the read or write as failed
  }
}

}  // namespace

void register_lz4_filter(const std::string& path) {
  static const H5Z_class2_t lz4_class = {
      H5Z_CLASS_T_VERS, kLz4Filter,     1, 1, "lz4 (HDF5 filter 32004, satunet's)", nullptr,
      nullptr,          lz4_hdf5_filter};
  check_hdf5(H5Zregister(&lz4_class), path, "cannot register HDF5's LZ4 filter");
}

std::vector<std::uint8_t> encode_chunk(const void* data, std::size_t bytes, std::size_t value_bytes,
                                       Compression compression) {
  const auto* raw = static_cast<const std::uint8_t*>(data);
  std::vector<std::uint8_t> chunk;
  if (compression.compresses()) {
    const std::vector<std::uint8_t> shuffled =
        shuffle_bytes(raw, bytes, value_bytes, Shuffle::forward);
    chunk = compression.codec == Compression::Codec::lz4
                ? lz4_compress(shuffled.data(), bytes)
                : deflate_compress(shuffled.data(), bytes, compression.level);
  } else {
    chunk.assign(raw, raw + bytes);
  }
  // Stored as HDF5 stores it (UINT32ENCODE): little-endian whatever the machine.
  const std::uint32_t checksum = fletcher32(chunk.data(), chunk.size());
  for (int shift = 0; shift < 32; shift += 8)
    chunk.push_back(static_cast<std::uint8_t>(checksum >> shift));
  return chunk;
}

namespace {

void check_fletcher32(const std::vector<std::uint8_t>& bytes, const std::string& chunk,
                      const std::string& path) {
  SHARDS_CHECK(bytes.size() >= 4, path, ": ", chunk, " is too short for its checksum (damaged?)");
  const std::size_t data_bytes = bytes.size() - 4;
  const std::uint8_t* stored = bytes.data() + data_bytes;
  const std::uint32_t stored_sum =
      static_cast<std::uint32_t>(stored[0]) | static_cast<std::uint32_t>(stored[1]) << 8 |
      static_cast<std::uint32_t>(stored[2]) << 16 | static_cast<std::uint32_t>(stored[3]) << 24;
  const std::uint32_t sum = fletcher32(bytes.data(), data_bytes);
  // HDF5 accepts the byte-swapped sum that its 1.6 releases wrote, and so do we.
  const std::uint32_t swapped =
      (sum & 0xff) << 24 | (sum & 0xff00) << 8 | (sum >> 8 & 0xff00) | sum >> 24;
  SHARDS_CHECK(stored_sum == sum || stored_sum == swapped, path, ": ", chunk,
               ": data error detected by Fletcher32 checksum");
}

std::vector<std::uint8_t> inflate_exactly(const std::vector<std::uint8_t>& compressed,
                                          std::size_t bytes, const std::string& chunk,
                                          const std::string& path) {
  std::vector<std::uint8_t> inflated(bytes);
  std::size_t size = 0;
  const libdeflate_result status = libdeflate_zlib_decompress(
      &decompressor(), compressed.data(), compressed.size(), inflated.data(), bytes, &size);
  SHARDS_CHECK(status == LIBDEFLATE_SUCCESS && size == bytes, path, ": ", chunk,
               " does not inflate to its ", bytes, " bytes (damaged?)");
  return inflated;
}

}  // namespace

std::vector<std::uint8_t> decode_chunk(std::vector<std::uint8_t> data,
                                       const std::vector<ChunkFilter>& filters, std::size_t bytes,
                                       const std::string& chunk, const std::string& path) {
  // Each filter's input size, known for all but the compressor's output.
  std::vector<std::size_t> input_bytes;
  std::size_t size = bytes;
  for (const ChunkFilter& filter : filters) {
    input_bytes.push_back(size);
    if (filter.id == H5Z_FILTER_FLETCHER32)
      size += 4;
  }
  for (std::size_t i = filters.size(); i-- > 0;) {
    switch (filters[i].id) {
      case H5Z_FILTER_FLETCHER32:
        check_fletcher32(data, chunk, path);
        data.resize(data.size() - 4);
        break;
      case H5Z_FILTER_DEFLATE:
        data = inflate_exactly(data, input_bytes[i], chunk, path);
        break;
      case kLz4Filter:
        data = lz4_decompress_exactly(data.data(), data.size(), input_bytes[i], chunk, path);
        break;
      default:
        data = shuffle_bytes(data.data(), data.size(), filters[i].value_bytes, Shuffle::back);
    }
  }
  SHARDS_CHECK(data.size() == bytes, path, ": ", chunk, " holds ", data.size(), " bytes, not the ",
               bytes, " of its values (damaged?)");
  return data;
}

}  // namespace satunet::shards
