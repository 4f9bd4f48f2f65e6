#include "export/protobuf.hpp"

#include <cstring>

namespace satunet::exporting {
namespace {

enum WireType { kVarint = 0, kLengthDelimited = 2, kFixed32 = 5 };

}  // namespace

void ProtoWriter::raw_varint(std::uint64_t value) {
  while (value >= 0x80) {
    data_.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  data_.push_back(static_cast<char>(value));
}

void ProtoWriter::key(int field, int wire_type) {
  raw_varint((static_cast<std::uint64_t>(field) << 3) | static_cast<std::uint64_t>(wire_type));
}

ProtoWriter& ProtoWriter::varint(int field, std::int64_t value) {
  key(field, kVarint);
  raw_varint(static_cast<std::uint64_t>(value));
  return *this;
}

ProtoWriter& ProtoWriter::float32(int field, float value) {
  key(field, kFixed32);
  append_little_endian(data_, value);
  return *this;
}

ProtoWriter& ProtoWriter::bytes(int field, std::string_view value) {
  key(field, kLengthDelimited);
  raw_varint(value.size());
  data_.append(value);
  return *this;
}

void append_little_endian(std::string& out, float value) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  for (int byte = 0; byte < 4; ++byte)
    out.push_back(static_cast<char>((bits >> (8 * byte)) & 0xff));
}

}  // namespace satunet::exporting
