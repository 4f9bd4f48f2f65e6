#include "export/onnx_unet.hpp"

#include <map>
#include <set>
#include <variant>

#include "common/error.hpp"

namespace satunet::exporting {
namespace {

using Ints = std::vector<std::int64_t>;

Ints pair_of(const torch::ExpandingArray<2>& values) {
  return {(*values)[0], (*values)[1]};
}

Ints pads_of(const torch::ExpandingArray<2>& padding) {
  return {(*padding)[0], (*padding)[1], (*padding)[0], (*padding)[1]};  // begins, then ends
}

std::vector<float> values_of(const torch::Tensor& tensor) {
  const torch::Tensor flat = tensor.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel());
}

// The alternative T of a module option, or null: LibTorch 1.13 holds such options in a
// c10::variant, 2.x in a std::variant; the get_if of either is found by argument-dependent
// lookup.
template <typename T, typename Variant>
const T* alternative(const Variant& variant) {
  using std::get_if;
  return get_if<T>(&variant);
}

// ONNX's pads of a convolution's options (transposed or not): the zeros it pads with, by sizes.
template <typename Options>
Ints zero_pads(const std::string& name, const Options& options) {
  const auto* padding = alternative<torch::ExpandingArray<2>>(options.padding());
  if (!padding || !alternative<torch::enumtype::kZeros>(options.padding_mode()))
    throw Error("cannot export the model's " + name + " to ONNX: not zero-padded by given sizes");
  return pads_of(*padding);
}

// The weights of a 1x1 convolution that averages each group's channels: [C, C] row-major.
std::vector<float> group_averaging(std::int64_t channels, std::int64_t groups) {
  const std::int64_t per_group = channels / groups;
  std::vector<float> weights(static_cast<std::size_t>(channels * channels), 0.0f);
  for (std::int64_t out = 0; out < channels; ++out)
    for (std::int64_t in = 0; in < channels; ++in)
      if (out / per_group == in / per_group)
        weights[static_cast<std::size_t>(out * channels + in)] =
            1.0f / static_cast<float>(per_group);
  return weights;
}

// Writes the graph of one model: the layers by their module's type, satunet's blocks by the
// forward passes of unet.cpp and resnet.cpp, which they follow step by step.
class UNetEmitter {
 public:
  UNetEmitter(model::UNetImpl& model, OnnxGraph& graph) : options_(model.options()), graph_(graph) {
    for (const auto& item : model.named_modules("", /*include_self=*/false))
      modules_[item.key()] = item.value();
    for (const auto& item : model.named_parameters())
      state_[item.key()] = item.value();
    for (const auto& item : model.named_buffers())
      state_[item.key()] = item.value();
  }

  std::string emit(const std::string& input) {
    const std::string logits =
        options_.encoder() == model::Encoder::plain ? plain(input) : over_resnet(input);
    check_every_weight_used();
    return logits;
  }

 private:
  // ---- layers, by their module's type ----
  std::string layer(const std::string& name, std::string x) {
    torch::nn::Module& found = module(name);
    if (auto* convolution = found.as<torch::nn::Conv2d>())
      return conv(name, *convolution, x);
    if (auto* norm = found.as<torch::nn::BatchNorm2d>())
      return batch_norm(name, *norm, x);
    if (auto* norm = found.as<torch::nn::GroupNorm>())
      return group_norm(name, *norm, x);
    if (found.as<torch::nn::ReLU>())
      return relu(x, name);
    if (found.as<torch::nn::Identity>() || found.as<torch::nn::Dropout2d>())
      return x;  // dropout too: eval mode
    if (found.as<torch::nn::Sequential>()) {
      for (const auto& child : found.named_children())
        x = layer(name + "." + child.key(), x);
      return x;
    }
    throw Error("cannot export the model's " + name + " (" + found.name() + ") to ONNX");
  }

  std::string conv(const std::string& name, torch::nn::Conv2dImpl& module, const std::string& x) {
    const auto& options = module.options;
    std::vector<std::string> inputs{x, weight(name + ".weight")};
    if (module.bias.defined())
      inputs.push_back(weight(name + ".bias"));
    return graph_.node("Conv", inputs, name,
                       {attribute("kernel_shape", pair_of(options.kernel_size())),
                        attribute("strides", pair_of(options.stride())),
                        attribute("pads", zero_pads(name, options)),
                        attribute("dilations", pair_of(options.dilation())),
                        attribute("group", options.groups())});
  }

  std::string batch_norm(const std::string& name, torch::nn::BatchNorm2dImpl& module,
                         const std::string& x) {
    used_.insert(name + ".num_batches_tracked");  // training's count, of no use here
    return graph_.node("BatchNormalization",
                       {x, weight(name + ".weight"), weight(name + ".bias"),
                        weight(name + ".running_mean"), weight(name + ".running_var")},
                       name, {attribute("epsilon", static_cast<float>(module.options.eps()))});
  }

  // Opset 13 has no group norm, and OpenCV's DNN module cannot run the Reshape, Shape and
  // InstanceNormalization pattern PyTorch exports it as on inputs of a size given at run time.
  // So the group statistics come from per-channel averages instead: a 1x1 convolution averages
  // them over each group's channels (which all hold H x W values), and the broadcasts stay
  // [N, C, 1, 1], which every runtime reads.
  std::string group_norm(const std::string& name, torch::nn::GroupNormImpl& module,
                         const std::string& x) {
    const std::int64_t channels = module.options.num_channels();
    const std::string average =
        graph_.constant(name + ".group_average", {channels, channels, 1, 1},
                        group_averaging(channels, module.options.num_groups()));
    const auto group_mean = [&](const std::string& value, const std::string& label) {
      const std::string pooled = graph_.node("GlobalAveragePool", {value}, label + "_channels");
      return graph_.node("Conv", {pooled, average}, label, {attribute("kernel_shape", Ints{1, 1})});
    };
    const std::string centred =
        graph_.node("Sub", {x, group_mean(x, name + ".mean")}, name + ".centred");
    const std::string squares = graph_.node("Mul", {centred, centred}, name + ".squares");
    const std::string variance = group_mean(squares, name + ".variance");
    const std::string epsilon =
        graph_.constant(name + ".epsilon", {1}, {static_cast<float>(module.options.eps())});
    const std::string deviation = graph_.node(
        "Sqrt", {graph_.node("Add", {variance, epsilon}, name + ".variance_eps")}, name + ".std");
    const std::string scale =
        graph_.node("Mul",
                    {graph_.node("Reciprocal", {deviation}, name + ".inverse_std"),
                     weight(name + ".weight", {channels, 1, 1})},
                    name + ".scale");
    return graph_.node("Add",
                       {graph_.node("Mul", {centred, scale}, name + ".scaled"),
                        weight(name + ".bias", {channels, 1, 1})},
                       name);
  }

  std::string transposed_conv(const std::string& name, const std::string& x) {
    auto* module = this->module(name).as<torch::nn::ConvTranspose2d>();
    if (!module)
      throw Error("cannot export the model's " + name + " to ONNX: not a transposed convolution");
    const auto& options = module->options;
    return graph_.node("ConvTranspose", {x, weight(name + ".weight"), weight(name + ".bias")}, name,
                       {attribute("kernel_shape", pair_of(options.kernel_size())),
                        attribute("strides", pair_of(options.stride())),
                        attribute("pads", zero_pads(name, options)),
                        attribute("output_padding", pair_of(options.output_padding())),
                        attribute("dilations", pair_of(options.dilation())),
                        attribute("group", options.groups())});
  }

  std::string max_pool(const std::string& name, Ints kernel, Ints strides, Ints pads,
                       const std::string& x) {
    return graph_.node("MaxPool", {x}, name,
                       {attribute("kernel_shape", kernel), attribute("strides", strides),
                        attribute("pads", pads)});
  }

  // x2, as LibTorch's interpolate with a scale factor of 2: bilinear without aligned corners,
  // or nearest (the source pixel floor(i / 2)).
  std::string upsample(const std::string& name, const std::string& x, bool bilinear) {
    if (scales_.empty())
      scales_ = graph_.constant("upsampling_scales", {4}, {1.0f, 1.0f, 2.0f, 2.0f});
    std::vector<OnnxAttribute> attributes;
    if (bilinear) {
      attributes = {attribute("mode", std::string("linear")),
                    attribute("coordinate_transformation_mode", std::string("pytorch_half_pixel"))};
    } else {
      attributes = {attribute("mode", std::string("nearest")),
                    attribute("coordinate_transformation_mode", std::string("asymmetric")),
                    attribute("nearest_mode", std::string("floor"))};
    }
    return graph_.node("Resize", {x, "", scales_}, name, attributes);  // no region of interest
  }

  std::string relu(const std::string& x, const std::string& name) {
    return graph_.node("Relu", {x}, name);
  }
  std::string concat(const std::vector<std::string>& inputs, const std::string& name) {
    return graph_.node("Concat", inputs, name, {attribute("axis", std::int64_t{1})});
  }

  // ---- the plain U-Net (unet.cpp) ----
  std::string plain(const std::string& input) {
    std::vector<std::string> skips;
    std::string y = input;
    for (std::int64_t level = 0; level < options_.depth(); ++level) {
      const std::string block = "down." + std::to_string(level);
      skips.push_back(conv_block(block + ".conv", y));
      const auto* pool = module(block + ".pool").as<torch::nn::MaxPool2d>();
      if (!pool)
        throw Error("cannot export the model's " + block + ".pool to ONNX: not a max pooling");
      y = max_pool(block + ".pool", pair_of(pool->options.kernel_size()),
                   pair_of(pool->options.stride()), pads_of(pool->options.padding()), skips.back());
    }
    y = layer("dropout", conv_block("bottleneck", y));
    for (std::int64_t level = 0; level < options_.depth(); ++level) {
      y = up_block("up." + std::to_string(level), y, skips.back());
      skips.pop_back();
    }
    return layer("head", y);
  }

  std::string conv_block(const std::string& prefix, const std::string& x) {
    std::string y = relu(layer(prefix + ".norm1", layer(prefix + ".conv1", x)), prefix + ".relu1");
    y = layer(prefix + ".norm2", layer(prefix + ".conv2", y));
    if (options_.block() == model::BlockKind::residual) {
      const std::string shortcut =
          has(prefix + ".projection") ? layer(prefix + ".projection", x) : x;
      y = graph_.node("Add", {y, shortcut}, prefix + ".residual");
    }
    return relu(y, prefix + ".relu2");
  }

  std::string up_block(const std::string& prefix, const std::string& x, const std::string& skip) {
    const std::string up = has(prefix + ".transpose")
                               ? transposed_conv(prefix + ".transpose", x)
                               : layer(prefix + ".reduce", upsample(prefix + ".upsample", x, true));
    const std::string gated =
        has(prefix + ".attention") ? attention_gate(prefix + ".attention", up, skip) : skip;
    return conv_block(prefix + ".conv", concat({gated, up}, prefix + ".concat"));
  }

  std::string attention_gate(const std::string& prefix, const std::string& gate,
                             const std::string& skip) {
    const std::string sum = graph_.node(
        "Add", {layer(prefix + ".gate", gate), layer(prefix + ".skip", skip)}, prefix + ".sum");
    const std::string relevance = graph_.node(
        "Sigmoid", {layer(prefix + ".psi", relu(sum, prefix + ".relu"))}, prefix + ".sigmoid");
    return graph_.node("Mul", {skip, relevance}, prefix);
  }

  // ---- a ResNet under segmentation_models.pytorch's decoder (resnet.cpp) ----
  std::string over_resnet(const std::string& input) {
    std::vector<std::string> features{
        relu(layer("encoder.bn1", layer("encoder.conv1", input)), "encoder.relu")};
    using model::StemPooling;
    std::string y = max_pool("encoder.maxpool", {StemPooling::kernel, StemPooling::kernel},
                             {StemPooling::stride, StemPooling::stride},
                             Ints(4, StemPooling::padding), features.back());
    for (int stage = 1; has("encoder.layer" + std::to_string(stage)); ++stage) {
      const std::string prefix = "encoder.layer" + std::to_string(stage) + ".";
      for (int unit = 0; has(prefix + std::to_string(unit)); ++unit)
        y = residual_unit(prefix + std::to_string(unit), y);
      features.push_back(y);
    }
    y = layer("dropout", features.back());
    features.pop_back();
    for (int block = 0; has("decoder." + std::to_string(block)); ++block) {
      std::string skip;
      if (!features.empty()) {
        skip = features.back();
        features.pop_back();
      }
      y = decoder_block("decoder." + std::to_string(block), y, skip);
    }
    return layer("head", y);
  }

  std::string residual_unit(const std::string& prefix, const std::string& x) {
    std::string y = relu(layer(prefix + ".bn1", layer(prefix + ".conv1", x)), prefix + ".relu1");
    y = layer(prefix + ".bn2", layer(prefix + ".conv2", y));
    if (has(prefix + ".conv3"))  // a bottleneck
      y = layer(prefix + ".bn3", layer(prefix + ".conv3", relu(y, prefix + ".relu2")));
    const std::string shortcut = has(prefix + ".downsample") ? layer(prefix + ".downsample", x) : x;
    return relu(graph_.node("Add", {y, shortcut}, prefix + ".residual"), prefix + ".relu");
  }

  std::string decoder_block(const std::string& prefix, const std::string& x,
                            const std::string& skip) {
    std::string y = upsample(prefix + ".upsample", x, false);
    if (!skip.empty())
      y = concat({y, skip}, prefix + ".concat");
    return layer(prefix + ".conv2", layer(prefix + ".conv1", y));
  }

  // ---- the model's parts ----
  bool has(const std::string& name) const { return modules_.count(name) > 0; }

  torch::nn::Module& module(const std::string& name) {
    const auto found = modules_.find(name);
    if (found == modules_.end())
      throw Error("cannot export the model to ONNX: it has no module " + name);
    return *found->second;
  }

  // The tensor `name` of the model's state as a constant, in `dims` if given.
  std::string weight(const std::string& name, const Ints& dims = {}) {
    const auto found = state_.find(name);
    if (found == state_.end() || !found->second.defined())
      throw Error("cannot export the model to ONNX: it has no " + name);
    used_.insert(name);
    const torch::Tensor& tensor = found->second;
    const Ints shape = dims.empty() ? Ints(tensor.sizes().begin(), tensor.sizes().end()) : dims;
    return graph_.constant(name, shape, values_of(tensor));
  }

  // A weight the graph left out would be a silently different model.
  void check_every_weight_used() const {
    for (const auto& [name, tensor] : state_)
      if (!used_.count(name))
        throw Error("cannot export the model to ONNX: its " + name +
                    " has no place in the graph written for it");
  }

  const model::UNetOptions options_;
  OnnxGraph& graph_;
  std::map<std::string, std::shared_ptr<torch::nn::Module>> modules_;
  std::map<std::string, torch::Tensor> state_;
  std::set<std::string> used_;
  std::string scales_;
};

}  // namespace

std::string emit_unet(model::UNetImpl& model, OnnxGraph& graph, const std::string& input) {
  torch::NoGradGuard no_grad;
  return UNetEmitter(model, graph).emit(input);
}

}  // namespace satunet::exporting
