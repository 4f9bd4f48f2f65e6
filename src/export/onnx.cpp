#include "export/onnx.hpp"

#include "common/error.hpp"
#include "export/protobuf.hpp"

namespace satunet::exporting {
namespace {

// onnx.proto's enumerations.
constexpr std::int64_t kFloatType = 1;  // TensorProto.DataType.FLOAT
enum AttributeType { kFloat = 1, kInt = 2, kString = 3, kInts = 7 };

ProtoWriter attribute_proto(const OnnxAttribute& attribute) {
  ProtoWriter proto;
  proto.bytes(1, attribute.name);
  switch (attribute.kind) {
    case OnnxAttribute::Kind::real:
      proto.float32(2, attribute.real).varint(20, kFloat);
      break;
    case OnnxAttribute::Kind::integer:
      proto.varint(3, attribute.integer).varint(20, kInt);
      break;
    case OnnxAttribute::Kind::text:
      proto.bytes(4, attribute.text).varint(20, kString);
      break;
    case OnnxAttribute::Kind::integers:
      for (const std::int64_t value : attribute.integers)
        proto.varint(8, value);
      proto.varint(20, kInts);
      break;
  }
  return proto;
}

// ValueInfoProto: a float tensor of the given dims.
ProtoWriter value_info(const OnnxValue& value) {
  ProtoWriter shape;
  for (const OnnxDim& dim : value.dims) {
    ProtoWriter dimension;
    if (dim.name.empty())
      dimension.varint(1, dim.size);
    else
      dimension.bytes(2, dim.name);
    shape.message(1, dimension);
  }
  ProtoWriter tensor;
  tensor.varint(1, kFloatType).message(2, shape);
  ProtoWriter type;
  type.message(1, tensor);
  ProtoWriter info;
  info.bytes(1, value.name).message(2, type);
  return info;
}

}  // namespace

OnnxAttribute attribute(const std::string& name, std::int64_t value) {
  OnnxAttribute made;
  made.name = name;
  made.kind = OnnxAttribute::Kind::integer;
  made.integer = value;
  return made;
}

OnnxAttribute attribute(const std::string& name, float value) {
  OnnxAttribute made;
  made.name = name;
  made.kind = OnnxAttribute::Kind::real;
  made.real = value;
  return made;
}

OnnxAttribute attribute(const std::string& name, const std::string& value) {
  OnnxAttribute made;
  made.name = name;
  made.kind = OnnxAttribute::Kind::text;
  made.text = value;
  return made;
}

OnnxAttribute attribute(const std::string& name, const std::vector<std::int64_t>& values) {
  OnnxAttribute made;
  made.name = name;
  made.kind = OnnxAttribute::Kind::integers;
  made.integers = values;
  return made;
}

std::string OnnxGraph::unique(const std::string& name) {
  std::string candidate = name;
  for (int suffix = 2; names_.count(candidate); ++suffix)
    candidate = name + "_" + std::to_string(suffix);
  names_.insert(candidate);
  return candidate;
}

std::string OnnxGraph::constant(const std::string& name, const std::vector<std::int64_t>& dims,
                                std::vector<float> values) {
  std::size_t count = 1;
  for (const std::int64_t dim : dims)
    count *= static_cast<std::size_t>(dim);
  if (count != values.size())
    throw Error("ONNX constant " + name + ": " + std::to_string(values.size()) +
                " values for its " + std::to_string(count) + " elements");
  constants_.push_back({unique(name), dims, std::move(values)});
  return constants_.back().name;
}

std::string OnnxGraph::node(const std::string& op, const std::vector<std::string>& inputs,
                            const std::string& output, std::vector<OnnxAttribute> attributes) {
  nodes_.push_back({op, inputs, unique(output), std::move(attributes)});
  return nodes_.back().output;
}

void OnnxGraph::add_metadata(const std::string& key, const std::string& value) {
  metadata_.emplace_back(key, value);
}

std::string OnnxGraph::serialise(const std::string& graph_name) const {
  ProtoWriter graph;
  for (const Node& node : nodes_) {
    ProtoWriter proto;
    for (const std::string& input : node.inputs)
      proto.bytes(1, input);
    proto.bytes(2, node.output).bytes(3, node.output).bytes(4, node.op);
    for (const OnnxAttribute& attribute : node.attributes)
      proto.message(5, attribute_proto(attribute));
    graph.message(1, proto);
  }
  graph.bytes(2, graph_name);
  for (const Constant& constant : constants_) {
    ProtoWriter tensor;
    for (const std::int64_t dim : constant.dims)
      tensor.varint(1, dim);
    tensor.varint(2, kFloatType).bytes(8, constant.name);
    std::string raw;
    raw.reserve(constant.values.size() * 4);
    for (const float value : constant.values)
      append_little_endian(raw, value);
    tensor.bytes(9, raw);
    graph.message(5, tensor);
  }
  graph.message(11, value_info(input_)).message(12, value_info(output_));

  ProtoWriter model;
  model.varint(1, kOnnxIrVersion).bytes(2, "satunet").bytes(3, SATUNET_VERSION);
  if (!doc_.empty())
    model.bytes(6, doc_);
  model.message(7, graph);
  ProtoWriter opset;
  opset.varint(2, kOnnxOpset);  // the default domain: no domain field
  model.message(8, opset);
  for (const auto& [key, value] : metadata_) {
    ProtoWriter entry;
    entry.bytes(1, key).bytes(2, value);
    model.message(14, entry);
  }
  return model.data();
}

}  // namespace satunet::exporting
