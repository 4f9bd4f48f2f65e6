#pragma once
// Protocol buffers' wire format, written field by field: as much of it as ONNX's messages need
// (varints, 32-bit floats, length-delimited bytes and nested messages). satunet writes its
// ONNX files with this rather than libprotobuf, so that the build links no new library.
#include <cstdint>
#include <string>
#include <string_view>

namespace satunet::exporting {

class ProtoWriter {
 public:
  // int32, int64, enums and bools (negative numbers take ten bytes, as protobuf writes them).
  ProtoWriter& varint(int field, std::int64_t value);
  ProtoWriter& float32(int field, float value);
  ProtoWriter& bytes(int field, std::string_view value);  // strings too
  ProtoWriter& message(int field, const ProtoWriter& nested) { return bytes(field, nested.data_); }

  const std::string& data() const { return data_; }

 private:
  void key(int field, int wire_type);
  void raw_varint(std::uint64_t value);

  std::string data_;
};

// The bytes of `value` in little-endian order, as protobuf stores floats and ONNX raw data.
void append_little_endian(std::string& out, float value);

}  // namespace satunet::exporting
