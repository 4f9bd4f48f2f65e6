#pragma once
// An ONNX model being built: constants, nodes, the graph's input and output, metadata, then
// serialised as onnx.proto's ModelProto (field numbers from onnx/onnx.proto). Float tensors
// only: satunet's models need no other.
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace satunet::exporting {

// The operator set the graphs are written for: ONNX Runtime, OpenCV's DNN module and the
// Deepness QGIS plugin all read it.
constexpr std::int64_t kOnnxOpset = 13;
// The IR version that opset 13 came with (ONNX 1.8).
constexpr std::int64_t kOnnxIrVersion = 7;

struct OnnxAttribute {
  enum class Kind { integer, real, text, integers };
  std::string name;
  Kind kind = Kind::integer;
  std::int64_t integer = 0;
  float real = 0;
  std::string text;
  std::vector<std::int64_t> integers;
};
OnnxAttribute attribute(const std::string& name, std::int64_t value);
OnnxAttribute attribute(const std::string& name, float value);
OnnxAttribute attribute(const std::string& name, const std::string& value);
OnnxAttribute attribute(const std::string& name, const std::vector<std::int64_t>& values);

// One dimension of a graph input or output: a size, or a name for a size given at run time.
struct OnnxDim {
  std::int64_t size = 0;
  std::string name;  // dim_param when set
};

struct OnnxValue {
  std::string name;
  std::vector<OnnxDim> dims;  // float32 elements
};

class OnnxGraph {
 public:
  // A float32 constant (an initializer); returns its name.
  std::string constant(const std::string& name, const std::vector<std::int64_t>& dims,
                       std::vector<float> values);
  // A node of operator `op` (the default domain) with one output, named after `output` (made
  // unique); returns that name. An input "" is an optional one left out.
  std::string node(const std::string& op, const std::vector<std::string>& inputs,
                   const std::string& output, std::vector<OnnxAttribute> attributes = {});

  void set_input(OnnxValue input) { input_ = std::move(input); }
  void set_output(OnnxValue output) { output_ = std::move(output); }
  // metadata_props: ONNX Runtime's custom metadata map, where the Deepness plugin reads its keys.
  void add_metadata(const std::string& key, const std::string& value);
  void set_doc(std::string doc) { doc_ = std::move(doc); }

  // The ModelProto's bytes: opset kOnnxOpset, producer satunet.
  std::string serialise(const std::string& graph_name) const;

 private:
  struct Node {
    std::string op;
    std::vector<std::string> inputs;
    std::string output;
    std::vector<OnnxAttribute> attributes;
  };
  struct Constant {
    std::string name;
    std::vector<std::int64_t> dims;
    std::vector<float> values;
  };
  std::string unique(const std::string& name);

  std::vector<Constant> constants_;
  std::vector<Node> nodes_;
  OnnxValue input_, output_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  std::string doc_;
  std::set<std::string> names_;
};

}  // namespace satunet::exporting
