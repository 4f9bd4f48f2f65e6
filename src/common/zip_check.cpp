#include "common/zip_check.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/error.hpp"

namespace satunet {
namespace {

// Signatures and fixed sizes of the zip format (PKWARE APPNOTE 6.3, sections 4.3 and 4.5).
constexpr std::uint32_t kLocalHeader = 0x04034b50;
constexpr std::uint32_t kCentralHeader = 0x02014b50;
constexpr std::uint32_t kEndRecord = 0x06054b50;
constexpr std::uint32_t kZip64EndRecord = 0x06064b50;
constexpr std::uint32_t kZip64Locator = 0x07064b50;
constexpr std::size_t kEndRecordSize = 22;
constexpr std::size_t kLocatorSize = 20;
constexpr std::size_t kCentralHeaderSize = 46;
constexpr std::size_t kLocalHeaderSize = 30;
constexpr std::uint16_t kZip64Extra = 0x0001;
constexpr std::uint32_t kInZip64 = 0xffffffff;  // a 32-bit field whose value is in the extra
constexpr std::uint16_t kStored = 0;
constexpr std::uint16_t kDeflated = 8;

// Little-endian reads, each checked against the end of the archive.
class Reader {
 public:
  Reader(std::string_view bytes, const std::string& path) : bytes_(bytes), path_(path) {}

  std::uint64_t read(std::uint64_t offset, int size) const {
    require(offset, static_cast<std::uint64_t>(size), "a field");
    std::uint64_t value = 0;
    for (int i = size - 1; i >= 0; --i)
      value = (value << 8) | static_cast<unsigned char>(bytes_[offset + static_cast<unsigned>(i)]);
    return value;
  }
  std::uint16_t u16(std::uint64_t offset) const {
    return static_cast<std::uint16_t>(read(offset, 2));
  }
  std::uint32_t u32(std::uint64_t offset) const {
    return static_cast<std::uint32_t>(read(offset, 4));
  }
  std::uint64_t u64(std::uint64_t offset) const { return read(offset, 8); }

  void require(std::uint64_t offset, std::uint64_t size, const std::string& what) const {
    if (offset > bytes_.size() || size > bytes_.size() - offset)
      fail(what + " lies past the end of the file (truncated?)");
  }
  [[noreturn]] void fail(const std::string& problem) const {
    throw Error(path_ + ": damaged archive: " + problem);
  }
  std::string_view slice(std::uint64_t offset, std::uint64_t size) const {
    require(offset, size, "an entry");
    return bytes_.substr(offset, size);
  }
  std::uint64_t size() const { return bytes_.size(); }
  const std::string& path() const { return path_; }

 private:
  std::string_view bytes_;
  const std::string& path_;
};

struct Directory {
  std::uint64_t entries = 0;
  std::uint64_t offset = 0;
};

std::uint64_t find_end_record(const Reader& in) {
  if (in.size() < kEndRecordSize)
    throw Error(in.path() +
                ": not a zip archive, or a truncated one (shorter than its end record)");
  // The end record is last, followed by a comment of at most 65535 bytes.
  const std::uint64_t lowest =
      in.size() >= kEndRecordSize + 0xffff ? in.size() - kEndRecordSize - 0xffff : 0;
  for (std::uint64_t at = in.size() - kEndRecordSize + 1; at-- > lowest;)
    if (in.u32(at) == kEndRecord)
      return at;
  throw Error(in.path() + ": not a zip archive, or a truncated one (no end record)");
}

Directory read_directory(const Reader& in) {
  const std::uint64_t end = find_end_record(in);
  Directory directory{in.u16(end + 10), in.u32(end + 16)};
  const bool zip64 = directory.entries == 0xffff || directory.offset == kInZip64;
  if (zip64) {
    if (end < kLocatorSize || in.u32(end - kLocatorSize) != kZip64Locator)
      in.fail("a zip64 archive without its locator");
    const std::uint64_t record = in.u64(end - kLocatorSize + 8);
    if (in.u32(record) != kZip64EndRecord)
      in.fail("no zip64 end record where its locator points");
    directory.entries = in.u64(record + 32);
    directory.offset = in.u64(record + 48);
  }
  return directory;
}

struct Entry {
  std::string name;
  std::uint16_t method = 0;
  std::uint32_t crc = 0;
  std::uint64_t compressed = 0;
  std::uint64_t uncompressed = 0;
  std::uint64_t local_header = 0;
};

// Replaces the fields whose 32-bit value says "in the zip64 extra", in the extra's order.
void apply_zip64_extra(const Reader& in, std::uint64_t extra, std::uint64_t extra_end,
                       Entry& entry) {
  while (extra + 4 <= extra_end) {
    const std::uint16_t id = in.u16(extra);
    const std::uint16_t size = in.u16(extra + 2);
    std::uint64_t field = extra + 4;
    if (id == kZip64Extra) {
      for (std::uint64_t* value : {&entry.uncompressed, &entry.compressed, &entry.local_header}) {
        if (*value != kInZip64)
          continue;
        if (field + 8 > extra + 4 + size)
          in.fail("entry '" + entry.name + "' has a short zip64 extra field");
        *value = in.u64(field);
        field += 8;
      }
      return;
    }
    extra += 4 + static_cast<std::uint64_t>(size);
  }
}

Entry read_entry(const Reader& in, std::uint64_t& at) {
  if (in.u32(at) != kCentralHeader)
    in.fail("the central directory is damaged");
  Entry entry;
  entry.method = in.u16(at + 10);
  entry.crc = in.u32(at + 16);
  entry.compressed = in.u32(at + 20);
  entry.uncompressed = in.u32(at + 24);
  const std::uint16_t name_size = in.u16(at + 28);
  const std::uint16_t extra_size = in.u16(at + 30);
  const std::uint16_t comment_size = in.u16(at + 32);
  entry.local_header = in.u32(at + 42);
  entry.name = std::string(in.slice(at + kCentralHeaderSize, name_size));
  const std::uint64_t extra = at + kCentralHeaderSize + name_size;
  in.require(extra, extra_size, "an extra field");
  apply_zip64_extra(in, extra, extra + extra_size, entry);
  at = extra + extra_size + comment_size;
  return entry;
}

std::uint32_t crc_of_stored(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (std::size_t done = 0; done < bytes.size();) {
    // zlib takes 32-bit lengths.
    const auto chunk = static_cast<uInt>(std::min<std::size_t>(bytes.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), chunk);
    done += chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

// Inflated a buffer at a time (a declared size is never trusted for an allocation); false
// when the stream is damaged or does not inflate to `size` bytes.
bool crc_of_deflated(std::string_view bytes, std::uint64_t size, std::uint32_t& crc_out) {
  z_stream stream{};
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK)
    return false;
  std::vector<Bytef> buffer(1 << 16);
  uLong crc = crc32(0L, Z_NULL, 0);
  std::uint64_t inflated = 0;
  std::size_t given = 0;
  int status = Z_OK;
  while (status == Z_OK) {
    if (stream.avail_in == 0 && given < bytes.size()) {
      // zlib takes 32-bit lengths.
      const auto chunk = static_cast<uInt>(std::min<std::size_t>(bytes.size() - given, 1u << 30));
      stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + given));
      stream.avail_in = chunk;
      given += chunk;
    }
    stream.next_out = buffer.data();
    stream.avail_out = static_cast<uInt>(buffer.size());
    status = inflate(&stream, Z_NO_FLUSH);
    const std::size_t produced = buffer.size() - stream.avail_out;
    crc = crc32(crc, buffer.data(), static_cast<uInt>(produced));
    inflated += produced;
    if (inflated > size || (status == Z_BUF_ERROR && stream.avail_in == 0))
      break;
  }
  inflateEnd(&stream);
  crc_out = static_cast<std::uint32_t>(crc);
  return status == Z_STREAM_END && inflated == size;
}

void check_entry(const Reader& in, const Entry& entry) {
  const std::uint64_t local = entry.local_header;
  if (in.u32(local) != kLocalHeader)
    in.fail("entry '" + entry.name + "' has no local header where the directory says");
  const std::uint64_t data = local + kLocalHeaderSize + in.u16(local + 26) +
                             static_cast<std::uint64_t>(in.u16(local + 28));
  const std::string_view bytes = in.slice(data, entry.compressed);
  std::uint32_t crc = 0;
  if (entry.method == kStored) {
    if (entry.compressed != entry.uncompressed)
      in.fail("stored entry '" + entry.name + "' has two sizes");
    crc = crc_of_stored(bytes);
  } else if (entry.method == kDeflated) {
    if (!crc_of_deflated(bytes, entry.uncompressed, crc))
      in.fail("entry '" + entry.name + "' does not inflate to its size");
  } else {
    in.fail("entry '" + entry.name + "' is compressed by method " + std::to_string(entry.method) +
            ", which LibTorch does not write");
  }
  if (crc != entry.crc)
    in.fail("entry '" + entry.name + "' does not match its CRC-32 (a flipped bit or a torn copy)");
}

}  // namespace

void check_zip_end_record(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  const std::streamoff size = in ? static_cast<std::streamoff>(in.tellg()) : -1;
  if (size < 0)
    throw Error(path + ": cannot read: " + std::strerror(errno));
  const std::streamoff tail =
      std::min<std::streamoff>(size, static_cast<std::streamoff>(kEndRecordSize + 0xffff));
  std::string bytes(static_cast<std::size_t>(tail), '\0');
  in.seekg(size - tail);
  in.read(bytes.data(), tail);
  if (!in)
    throw Error(path + ": cannot read: " + std::strerror(errno));
  find_end_record(Reader(bytes, path));
}

void check_zip_integrity(std::string_view archive, const std::string& path) {
  const Reader in(archive, path);
  const Directory directory = read_directory(in);
  if (directory.entries == 0)
    in.fail("an empty archive");
  std::uint64_t at = directory.offset;
  for (std::uint64_t i = 0; i < directory.entries; ++i)
    check_entry(in, read_entry(in, at));
}

}  // namespace satunet
