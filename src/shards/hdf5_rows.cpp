#include "shards/hdf5_rows.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

#include <libdeflate.h>
#include <lz4.h>

#include "common/text.hpp"
#include "shards/shard.hpp"

namespace satunet::shards {

std::string shape_text(const std::vector<hsize_t>& dims, const char* first) {
  std::string text = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i)
      text += ", ";
    text += (i == 0 && first) ? std::string(first) : std::to_string(dims[i]);
  }
  return text + "]";
}

// ---- attributes (scalars on the root group) ----

namespace {

void write_attribute(hid_t object, const std::string& name, hid_t file_type, hid_t memory_type,
                     const void* value, const std::string& path) {
  const Hdf5Handle space(H5Screate(H5S_SCALAR), path, "cannot create a scalar dataspace");
  const Hdf5Handle attribute(
      H5Acreate2(object, name.c_str(), file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT), path,
      "cannot create attribute " + name);
  check_hdf5(H5Awrite(attribute.get(), memory_type, value), path, "cannot write attribute " + name);
}

}  // namespace

void write_int_attribute(hid_t object, const std::string& name, int value,
                         const std::string& path) {
  const std::int32_t stored = value;
  write_attribute(object, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &stored, path);
}

void write_string_attribute(hid_t object, const std::string& name, const std::string& value,
                            const std::string& path) {
  // Fixed length, terminator included: HDF5 refuses zero-sized strings, and "" is valid here.
  const Hdf5Handle type(H5Tcopy(H5T_C_S1), path, "cannot create a string type");
  check_hdf5(H5Tset_size(type.get(), value.size() + 1), path, "cannot size attribute " + name);
  check_hdf5(H5Tset_strpad(type.get(), H5T_STR_NULLTERM), path, "cannot pad attribute " + name);
  write_attribute(object, name, type.get(), type.get(), value.c_str(), path);
}

namespace {

// Opens a scalar attribute: reading an array into one value would overflow the buffer.
Hdf5Handle open_scalar_attribute(hid_t object, const std::string& name, const std::string& path) {
  Hdf5Handle attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT), path,
                       "cannot open attribute " + name);
  const Hdf5Handle space(H5Aget_space(attribute.get()), path, "cannot inspect attribute " + name);
  SHARDS_CHECK(H5Sget_simple_extent_npoints(space.get()) == 1, path, ": attribute ", name,
               " holds more than one value");
  return attribute;
}

}  // namespace

int read_int_attribute(hid_t object, const std::string& name, const std::string& path) {
  const Hdf5Handle attribute = open_scalar_attribute(object, name, path);
  const Hdf5Handle type(H5Aget_type(attribute.get()), path, "cannot inspect attribute " + name);
  SHARDS_CHECK(H5Tget_class(type.get()) == H5T_INTEGER, path, ": attribute ", name,
               " is not an integer");
  std::int32_t value = 0;
  check_hdf5(H5Aread(attribute.get(), H5T_NATIVE_INT32, &value), path,
             "cannot read attribute " + name);
  return value;
}

// Reads both fixed-length strings (what ShardWriter writes) and variable-length ones (what
// h5py writes for a Python str), so shards made by other tools load too.
std::string read_string_attribute(hid_t object, const std::string& name, const std::string& path) {
  const Hdf5Handle attribute = open_scalar_attribute(object, name, path);
  const Hdf5Handle type(H5Aget_type(attribute.get()), path, "cannot inspect attribute " + name);
  SHARDS_CHECK(H5Tget_class(type.get()) == H5T_STRING, path, ": attribute ", name,
               " is not a string");
  const std::string operation = "cannot read attribute " + name;
  if (check_hdf5(H5Tis_variable_str(type.get()), path, operation) > 0) {
    char* text = nullptr;
    check_hdf5(H5Aread(attribute.get(), type.get(), &text), path, operation);
    std::string value = text ? text : "";
    H5free_memory(text);
    return value;
  }
  std::string value(H5Tget_size(type.get()), '\0');
  check_hdf5(H5Aread(attribute.get(), type.get(), value.data()), path, operation);
  value.resize(std::strlen(value.c_str()));  // fixed-length strings may be padded with NULs
  return value;
}

std::string join_names(const std::vector<std::string>& names, const std::string& what,
                       const std::string& path) {
  for (const std::string& name : names)
    SHARDS_CHECK(name.find(',') == std::string::npos, path, ": ", what, " '", name,
                 "' contains a comma, which separates names in the shard");
  return text::join(names, ",");
}

std::vector<std::string> split_names(const std::string& joined) {
  if (joined.empty())
    return {};
  return text::split(joined, ',');
}

// ---- datasets of rows ----

namespace {

// A chunk of `chunk_bytes` values is stored in at most this many bytes: compression may add a
// little (deflate's worst case is 0.03% and a few bytes, LZ4 stores a block that would grow
// as it is, behind 16 bytes of header), the checksum 4.
double most_stored_bytes(double chunk_bytes) {
  return chunk_bytes * 1.01 + 1024;
}

}  // namespace

std::size_t RowDataset::row_bytes() const {
  std::size_t bytes = H5Tget_size(stored_type.get());
  for (hsize_t dim : row_dims)
    bytes *= static_cast<std::size_t>(dim);
  return bytes;
}

std::vector<hsize_t> RowDataset::shape(hsize_t rows) const {
  std::vector<hsize_t> dims{rows};
  dims.insert(dims.end(), row_dims.begin(), row_dims.end());
  return dims;
}

std::vector<hsize_t> RowDataset::stored_shape(const std::string& path) const {
  const Hdf5Handle space(H5Dget_space(handle.get()), path, "cannot inspect " + name);
  const int rank =
      check_hdf5(H5Sget_simple_extent_ndims(space.get()), path, "cannot inspect " + name);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  check_hdf5(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), path,
             "cannot inspect " + name);
  return dims;
}

void RowDataset::resize(hsize_t rows, const std::string& path) {
  const std::vector<hsize_t> dims = shape(rows);
  check_hdf5(H5Dset_extent(handle.get(), dims.data()), path,
             "cannot resize " + name + " to " + shape_text(dims));
}

void RowDataset::append(hsize_t row, hid_t memory_type, const void* data, const std::string& path) {
  resize(row + 1, path);
  const auto [memory_space, file_space] = select_rows(row, 1, path);
  check_hdf5(
      H5Dwrite(handle.get(), memory_type, memory_space.get(), file_space.get(), H5P_DEFAULT, data),
      path, "cannot write tile " + std::to_string(row) + " of " + name);
}

void RowDataset::append_encoded(hsize_t row, const std::vector<std::uint8_t>& chunk,
                                const std::string& path) {
  resize(row + 1, path);
  std::vector<hsize_t> offset(row_dims.size() + 1, 0);
  offset[0] = row;
  check_hdf5(
      H5Dwrite_chunk(handle.get(), H5P_DEFAULT, 0, offset.data(), chunk.size(), chunk.data()), path,
      "cannot write tile " + std::to_string(row) + " of " + name);
}

void RowDataset::read(hsize_t first, hsize_t count, hid_t memory_type, void* data,
                      const std::string& path, hid_t transfer) const {
  if (decodes_rows) {
    read_decoded(first, count, memory_type, data, path);
    return;
  }
  const auto [memory_space, file_space] = select_rows(first, count, path);
  check_hdf5(
      H5Dread(handle.get(), memory_type, memory_space.get(), file_space.get(), transfer, data),
      path,
      "cannot read tiles " + std::to_string(first) + ".." + std::to_string(first + count - 1) +
          " of " + name);
}

std::pair<Hdf5Handle, Hdf5Handle> RowDataset::select_rows(hsize_t first, hsize_t count,
                                                          const std::string& path) const {
  const std::vector<hsize_t> counts = shape(count);
  std::vector<hsize_t> start(counts.size(), 0);
  start[0] = first;
  Hdf5Handle file_space(H5Dget_space(handle.get()), path, "cannot inspect " + name);
  check_hdf5(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start.data(), nullptr,
                                 counts.data(), nullptr),
             path, "cannot select tiles in " + name);
  Hdf5Handle memory_space(H5Screate_simple(static_cast<int>(counts.size()), counts.data(), nullptr),
                          path, "cannot create a dataspace for " + name);
  return {std::move(memory_space), std::move(file_space)};
}

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

}  // namespace

namespace {

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

}  // namespace

namespace {

// HDF5's registered filter 32004 (the HDF Group's H5Zlz4.c), whose layout every LZ4 reader of
// HDF5 expects: the input's size as a big-endian uint64, the block size as a big-endian
// uint32, then each block as its stored size (big-endian uint32) and its LZ4 bytes, or its
// bytes as they are where LZ4 would not make them smaller.
constexpr H5Z_filter_t kLz4Filter = 32004;
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

void register_lz4_filter(const std::string& path) {
  static const H5Z_class2_t lz4_class = {
      H5Z_CLASS_T_VERS, kLz4Filter,     1, 1, "lz4 (HDF5 filter 32004, satunet's)", nullptr,
      nullptr,          lz4_hdf5_filter};
  check_hdf5(H5Zregister(&lz4_class), path, "cannot register HDF5's LZ4 filter");
}

}  // namespace

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

std::string chunk_name(const RowDataset& dataset, hsize_t first_row) {
  return "the chunk at row " + std::to_string(first_row) + " of " + dataset.name;
}

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

std::vector<std::uint8_t> RowDataset::decoded_chunk(hsize_t first_row, std::size_t bytes,
                                                    const std::string& path) const {
  const std::string chunk = chunk_name(*this, first_row);
  std::vector<hsize_t> offset(row_dims.size() + 1, 0);
  offset[0] = first_row;
  hsize_t stored = 0;
  check_hdf5(H5Dget_chunk_storage_size(handle.get(), offset.data(), &stored), path,
             "cannot locate " + chunk);
  SHARDS_CHECK(stored > 0 && static_cast<double>(stored) <= most_stored_bytes(bytes), path, ": ",
               chunk, " is stored in ", stored, " bytes, for ", bytes,
               " bytes of values (damaged?)");
  std::vector<std::uint8_t> data(stored);
  std::uint32_t skipped_filters = 0;
  check_hdf5(H5Dread_chunk(handle.get(), H5P_DEFAULT, offset.data(), &skipped_filters, data.data()),
             path, "cannot read " + chunk);
  SHARDS_CHECK(skipped_filters == 0, path, ": ", chunk, " skips filters of its dataset (damaged?)");
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

void RowDataset::read_decoded(hsize_t first, hsize_t count, hid_t memory_type, void* data,
                              const std::string& path) const {
  const std::size_t stored_row = row_bytes();
  const std::size_t values = stored_row / H5Tget_size(stored_type.get());
  const std::size_t memory_row = values * H5Tget_size(memory_type);
  const bool same_type = check_hdf5(H5Tequal(stored_type.get(), memory_type), path,
                                    "cannot compare the types of " + name) > 0;
  auto* out = static_cast<std::uint8_t*>(data);
  for (hsize_t row = first; row < first + count; ++row, out += memory_row) {
    std::vector<std::uint8_t> values_bytes = decoded_chunk(row, stored_row, path);
    if (!same_type) {
      values_bytes.resize(std::max(stored_row, memory_row));
      check_hdf5(H5Tconvert(stored_type.get(), memory_type, values, values_bytes.data(), nullptr,
                            H5P_DEFAULT),
                 path, "cannot convert the values of " + chunk_name(*this, row));
    }
    std::memcpy(out, values_bytes.data(), memory_row);
  }
}

Hdf5Handle create_checksummed_file(const std::string& temp_path, const std::string& path,
                                   const std::string& operation) {
  // HDF5 1.8's formats and later: the superblock and object headers carry checksums too.
  const Hdf5Handle access(H5Pcreate(H5P_FILE_ACCESS), path, operation);
  check_hdf5(H5Pset_libver_bounds(access.get(), H5F_LIBVER_V18, H5F_LIBVER_LATEST), path,
             operation);
  return Hdf5Handle(H5Fcreate(temp_path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, access.get()), path,
                    operation + " (temporary file " + temp_path + ")");
}

RowDataset create_rows(hid_t file, const std::string& name, hid_t type,
                       std::vector<hsize_t> row_dims, hsize_t rows_per_chunk,
                       Compression compression, const std::string& path) {
  RowDataset dataset;
  dataset.name = "/" + name;
  dataset.row_dims = std::move(row_dims);
  const std::vector<hsize_t> empty = dataset.shape(0);
  std::vector<hsize_t> unlimited = empty;
  unlimited[0] = H5S_UNLIMITED;
  std::vector<hsize_t> chunk = empty;
  chunk[0] = rows_per_chunk;
  const int rank = static_cast<int>(empty.size());
  const std::string operation = "cannot create " + dataset.name;

  const Hdf5Handle space(H5Screate_simple(rank, empty.data(), unlimited.data()), path, operation);
  const Hdf5Handle creation(H5Pcreate(H5P_DATASET_CREATE), path, operation);
  check_hdf5(H5Pset_chunk(creation.get(), rank, chunk.data()), path, operation);
  if (compression.compresses())
    // Shuffle first: grouping the bytes of each value makes the codecs far more effective.
    check_hdf5(H5Pset_shuffle(creation.get()), path, operation);
  if (compression.codec == Compression::Codec::deflate)
    check_hdf5(H5Pset_deflate(creation.get(), static_cast<unsigned>(compression.level)), path,
               operation);
  if (compression.codec == Compression::Codec::lz4) {
    register_lz4_filter(path);
    check_hdf5(H5Pset_filter(creation.get(), kLz4Filter, H5Z_FLAG_MANDATORY, 0, nullptr), path,
               operation);
  }
  // A checksum per chunk, of the bytes stored (so that damage is found before inflating): a
  // flipped bit or a torn copy fails the read, naming the file, rather than training or
  // stitching on damaged pixels. encode_chunk follows this order.
  check_hdf5(H5Pset_fletcher32(creation.get()), path, operation);
  dataset.handle = Hdf5Handle(
      H5Dcreate2(file, name.c_str(), type, space.get(), H5P_DEFAULT, creation.get(), H5P_DEFAULT),
      path, operation);
  return dataset;
}

namespace {

bool same_element_kind(hid_t stored, hid_t expected) {
  const H5T_class_t type_class = H5Tget_class(stored);
  if (type_class != H5Tget_class(expected) || H5Tget_size(stored) != H5Tget_size(expected))
    return false;
  return type_class != H5T_INTEGER || H5Tget_sign(stored) == H5Tget_sign(expected);
}

// The filters satunet writes (create_rows) and h5py's gzip shards use; a chunk through any
// other could not be decoded by read_decoded.
std::vector<ChunkFilter> readable_filters(hid_t creation, const RowDataset& dataset,
                                          const std::string& path) {
  std::vector<ChunkFilter> filters;
  const int count = check_hdf5(H5Pget_nfilters(creation), path, "cannot inspect " + dataset.name);
  for (int i = 0; i < count; ++i) {
    unsigned flags = 0, filter_config = 0;
    std::size_t values = 1;
    unsigned first_value = 0;
    const H5Z_filter_t id = H5Pget_filter2(creation, static_cast<unsigned>(i), &flags, &values,
                                           &first_value, 0, nullptr, &filter_config);
    SHARDS_CHECK(id == H5Z_FILTER_SHUFFLE || id == H5Z_FILTER_DEFLATE || id == kLz4Filter ||
                     id == H5Z_FILTER_FLETCHER32,
                 path, ": ", dataset.name, " is stored through HDF5 filter ", id,
                 ", which satunet does not read (shuffle, deflate, lz4 and fletcher32 only)");
    filters.push_back({id, id == H5Z_FILTER_SHUFFLE && values > 0 ? first_value : 0u});
  }
  return filters;
}

// Refuses chunk shapes and stored sizes that would make a read allocate what a damaged chunk
// index claims; returns the rows per chunk.
hsize_t check_chunks(const RowDataset& dataset, hid_t creation, hid_t type,
                     const std::string& path) {
  const hid_t handle = dataset.handle.get();
  std::vector<hsize_t> chunk(dataset.row_dims.size() + 1);
  SHARDS_CHECK(H5Pget_chunk(creation, static_cast<int>(chunk.size()), chunk.data()) ==
                   static_cast<int>(chunk.size()),
               path, ": ", dataset.name, " has chunks of another rank than its rows");
  const double value_bytes = static_cast<double>(H5Tget_size(type));
  double chunk_bytes = value_bytes, row_bytes = value_bytes;
  for (std::size_t i = 0; i < chunk.size(); ++i)
    chunk_bytes *= static_cast<double>(chunk[i]);
  for (hsize_t dim : dataset.row_dims)
    row_bytes *= static_cast<double>(dim);
  constexpr double kMaxChunkBytes = 64.0 * (1 << 20);
  SHARDS_CHECK(chunk_bytes <= std::max(row_bytes, kMaxChunkBytes), path, ": ", dataset.name,
               " has chunks of ", shape_text(chunk), ", larger than a row and than 64 MiB");
  const Hdf5Handle space(H5Dget_space(handle), path, "cannot inspect " + dataset.name);
  hsize_t chunks = 0;
  check_hdf5(H5Dget_num_chunks(handle, space.get(), &chunks), path,
             "cannot count the chunks of " + dataset.name);
  std::vector<hsize_t> offset(chunk.size());
  for (hsize_t i = 0; i < chunks; ++i) {
    unsigned filters = 0;
    haddr_t address = 0;
    hsize_t stored = 0;
    check_hdf5(
        H5Dget_chunk_info(handle, space.get(), i, offset.data(), &filters, &address, &stored), path,
        "cannot locate a chunk of " + dataset.name);
    SHARDS_CHECK(static_cast<double>(stored) <= most_stored_bytes(chunk_bytes), path, ": ",
                 dataset.name, " chunk ", i, " is stored in ", stored,
                 " bytes, more than its values take (damaged?)");
    SHARDS_CHECK(filters == 0, path, ": ", dataset.name, " chunk ", i,
                 " skips filters of its dataset (damaged?)");
  }
  return chunk[0];
}

// Decodes every chunk once: datasets of many rows per chunk are small, and are then read by
// HDF5 itself.
void check_chunks_decode(const RowDataset& dataset, hsize_t rows_per_chunk,
                         const std::string& path) {
  const std::size_t chunk_bytes = dataset.row_bytes() * rows_per_chunk;
  const hsize_t rows = dataset.stored_shape(path)[0];
  for (hsize_t first = 0; first < rows; first += rows_per_chunk)
    (void)dataset.decoded_chunk(first, chunk_bytes, path);
}

}  // namespace

RowDataset open_rows(hid_t file, const std::string& name, hid_t expected_type,
                     const std::string& expected_type_name, std::vector<hsize_t> row_dims,
                     const std::string& path) {
  RowDataset dataset;
  dataset.handle =
      Hdf5Handle(H5Dopen2(file, name.c_str(), H5P_DEFAULT), path, "cannot open dataset /" + name);
  dataset.name = "/" + name;
  dataset.row_dims = std::move(row_dims);
  dataset.stored_type =
      Hdf5Handle(H5Dget_type(dataset.handle.get()), path, "cannot inspect /" + name);
  SHARDS_CHECK(same_element_kind(dataset.stored_type.get(), expected_type), path, ": /", name,
               " does not hold ", expected_type_name, " values");
  const Hdf5Handle creation(H5Dget_create_plist(dataset.handle.get()), path,
                            "cannot inspect /" + name);
  if (H5Pget_layout(creation.get()) != H5D_CHUNKED)
    return dataset;  // contiguous (h5py's default): HDF5 reads it from the file as it is
  dataset.filters = readable_filters(creation.get(), dataset, path);
  if (std::any_of(dataset.filters.begin(), dataset.filters.end(),
                  [](const ChunkFilter& filter) { return filter.id == kLz4Filter; }))
    register_lz4_filter(path);  // ours, before HDF5 would look for a plugin
  const hsize_t rows_per_chunk =
      check_chunks(dataset, creation.get(), dataset.stored_type.get(), path);
  if (rows_per_chunk == 1)
    dataset.decodes_rows = true;
  else
    check_chunks_decode(dataset, rows_per_chunk, path);
  return dataset;
}

// The number of rows, after checking that every row has the shape the header implies.
hsize_t checked_rows(const RowDataset& dataset, const std::string& path) {
  const std::vector<hsize_t> stored = dataset.stored_shape(path);
  const std::vector<hsize_t> expected = dataset.shape(0);
  const bool consistent = stored.size() == expected.size() &&
                          std::equal(stored.begin() + 1, stored.end(), expected.begin() + 1);
  SHARDS_CHECK(consistent, path, ": ", dataset.name, " has shape ", shape_text(stored),
               ", expected ", shape_text(expected, "N"),
               " (from the bands and tile_size attributes)");
  return stored[0];
}

void write_doubles_attribute(hid_t object, const std::string& name,
                             const std::vector<double>& values, const std::string& path) {
  const hsize_t count = values.size();
  const Hdf5Handle space(H5Screate_simple(1, &count, nullptr), path,
                         "cannot create a dataspace for attribute " + name);
  const Hdf5Handle attribute(
      H5Acreate2(object, name.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), path,
      "cannot create attribute " + name);
  check_hdf5(H5Awrite(attribute.get(), H5T_NATIVE_DOUBLE, values.data()), path,
             "cannot write attribute " + name);
}

std::vector<double> read_doubles_attribute(hid_t object, const std::string& name,
                                           const std::string& path) {
  const Hdf5Handle attribute(H5Aopen(object, name.c_str(), H5P_DEFAULT), path,
                             "cannot open attribute " + name);
  const Hdf5Handle type(H5Aget_type(attribute.get()), path, "cannot inspect attribute " + name);
  SHARDS_CHECK(H5Tget_class(type.get()) == H5T_FLOAT, path, ": attribute ", name,
               " is not floating point");
  const Hdf5Handle space(H5Aget_space(attribute.get()), path, "cannot inspect attribute " + name);
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  check_hdf5(static_cast<int>(count < 0 ? -1 : 0), path, "cannot inspect attribute " + name);
  std::vector<double> values(static_cast<std::size_t>(count));
  check_hdf5(H5Aread(attribute.get(), H5T_NATIVE_DOUBLE, values.data()), path,
             "cannot read attribute " + name);
  return values;
}

bool has_attribute(hid_t object, const std::string& name, const std::string& path) {
  return check_hdf5(H5Aexists(object, name.c_str()), path, "cannot look for attribute " + name) > 0;
}

namespace {

constexpr int kWindowFields = 4;
using WindowRow = std::array<std::int64_t, kWindowFields>;
// Rows are read into a vector<WindowRow> as one contiguous block of int64.
static_assert(sizeof(WindowRow) == kWindowFields * sizeof(std::int64_t));

}  // namespace

RowDataset create_window_rows(hid_t file, Compression compression, const std::string& path) {
  return create_rows(file, "windows", H5T_NATIVE_INT64, {kWindowFields}, kSmallRowsPerChunk,
                     compression, path);
}

RowDataset open_window_rows(hid_t file, const std::string& path) {
  return open_rows(file, "windows", H5T_NATIVE_INT64, "int64", {kWindowFields}, path);
}

void append_window(RowDataset& windows, hsize_t row, const TileWindow& window,
                   const std::string& path) {
  const WindowRow values = {window.x_off, window.y_off, window.width, window.height};
  windows.append(row, H5T_NATIVE_INT64, values.data(), path);
}

std::vector<TileWindow> read_windows(const RowDataset& windows, hsize_t first, hsize_t count,
                                     const std::string& path) {
  std::vector<WindowRow> rows(count);
  if (count > 0)
    windows.read(first, count, H5T_NATIVE_INT64, rows.data(), path);
  std::vector<TileWindow> result;
  result.reserve(rows.size());
  for (const WindowRow& row : rows)
    result.push_back({row[0], row[1], row[2], row[3]});
  return result;
}

}  // namespace satunet::shards
