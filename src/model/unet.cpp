#include "model/unet.hpp"

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/hash.hpp"
#include "model/layers.hpp"

namespace satunet::model {
namespace F = torch::nn::functional;
namespace {

std::vector<int64_t> shape_of(const torch::Tensor& tensor) {
  return std::vector<int64_t>(tensor.sizes().begin(), tensor.sizes().end());
}

}  // namespace

void UNetOptions::validate() const {
  if (in_channels() < 1)
    throw UsageError("the model needs at least one input band");
  if (classes() < 2)
    throw UsageError("the model needs at least 2 classes");
  if (base() < 1 || base() > 1024)
    throw UsageError("--base must be in [1, 1024]");
  if (depth() < 1 || depth() > 8)
    throw UsageError("--depth must be in [1, 8]");
  if (!(dropout() >= 0 && dropout() < 1))
    throw UsageError("--dropout must be in [0, 1)");
  if (groups() < 1)
    throw UsageError("--groups must be positive");
  if (encoder() != Encoder::plain) {
    const std::string with =
        " applies to the plain encoder only, not --encoder " + options::enum_name(encoder());
    if (upsampling() != Upsampling::transpose)
      throw UsageError("--upsampling" + with + " (its decoder upsamples by nearest neighbour)");
    if (block() != BlockKind::plain)
      throw UsageError("--block" + with + " (the ResNet's own blocks are residual)");
    if (attention())
      throw UsageError("--attention" + with);
  }
  if (conv3x3_weights() > kMaxParameters)
    throw UsageError("--base " + std::to_string(base()) + " with --depth " +
                     std::to_string(depth()) + " makes a model of at least " +
                     std::to_string(static_cast<std::int64_t>(conv3x3_weights() / 1e6)) +
                     " million parameters, more than the " +
                     std::to_string(static_cast<std::int64_t>(kMaxParameters / 1e6)) +
                     " million satunet builds");
}

int64_t UNetOptions::levels() const {
  return encoder() == Encoder::plain ? depth() : 5;
}

double UNetOptions::conv3x3_weights() const {
  // As the constructor below lays the blocks out: two 3x3 convolutions in each.
  auto block = [](double in, double out) { return 9 * (in * out + out * out); };
  if (encoder() != Encoder::plain) {  // the decoder's alone: the encoder's size is fixed
    const std::vector<int64_t> skips = decoder_skip_channels(encoder());
    const std::vector<int64_t> widths = decoder_channels(base());
    double weights = 0, channels = static_cast<double>(encoder_channels(encoder()).back());
    for (std::size_t i = 0; i < widths.size(); ++i) {
      weights += block(channels + static_cast<double>(skips[i]), static_cast<double>(widths[i]));
      channels = static_cast<double>(widths[i]);
    }
    return weights;
  }
  double weights = 0;
  double channels = static_cast<double>(in_channels());
  for (int64_t level = 0; level < depth(); ++level) {
    const double width = static_cast<double>(base()) * std::pow(2.0, static_cast<double>(level));
    weights += block(channels, width) + block(2 * width, width);  // down and up
    channels = width;
  }
  return weights + block(channels, 2 * channels);  // the bottleneck
}

std::string UNetOptions::describe() const {
  std::ostringstream out;
  if (encoder() != Encoder::plain) {
    out << "U-Net over a " << options::enum_name(encoder()) << " encoder, in " << in_channels()
        << ", classes " << classes() << ", decoder base " << base() << ", norm "
        << options::enum_name(norm()) << ", dropout " << dropout();
    return out.str();
  }
  out << "U-Net in " << in_channels() << ", classes " << classes() << ", base " << base()
      << ", depth " << depth() << ", norm " << options::enum_name(norm()) << ", upsampling "
      << options::enum_name(upsampling()) << ", block " << options::enum_name(block())
      << (attention() ? ", attention gates" : "") << ", dropout " << dropout();
  return out.str();
}

std::string UNetOptions::to_json() const {
  return nlohmann::json{{"in_channels", in_channels()},
                        {"classes", classes()},
                        {"base", base()},
                        {"depth", depth()},
                        {"norm", options::enum_name(norm())},
                        {"upsampling", options::enum_name(upsampling())},
                        {"block", options::enum_name(block())},
                        {"attention", attention()},
                        {"dropout", dropout()},
                        {"groups", groups()},
                        {"encoder", options::enum_name(encoder())}}
      .dump();
}

UNetOptions UNetOptions::from_json(const std::string& text) {
  UNetOptions options;
  try {
    const auto json = nlohmann::json::parse(text);
    options.in_channels(json.at("in_channels"))
        .classes(json.at("classes"))
        .base(json.at("base"))
        .depth(json.at("depth"))
        .norm(options::parse_enum<Norm>(json.at("norm"), "norm"))
        .upsampling(options::parse_enum<Upsampling>(json.at("upsampling"), "upsampling"))
        .block(options::parse_enum<BlockKind>(json.at("block"), "block"))
        .attention(json.at("attention"))
        .dropout(json.at("dropout"))
        .groups(json.at("groups"))
        // Checkpoints from before encoders were built have the plain one.
        .encoder(options::parse_enum<Encoder>(json.value("encoder", "plain"), "encoder"));
    options.validate();
  } catch (const nlohmann::json::exception& error) {
    throw Error(std::string("model description: ") + error.what());
  } catch (const UsageError& error) {
    throw Error(std::string("model description: ") + error.what());
  }
  return options;
}

ConvBlockImpl::ConvBlockImpl(int64_t in, int64_t out, Norm norm, BlockKind kind, int64_t groups)
    : residual_(kind == BlockKind::residual) {
  // A bias before a normalisation is cancelled by it.
  const bool bias = norm == Norm::none;
  conv1_ = register_module("conv1", conv(in, out, 3, bias));
  norm1_ = make_norm(norm, out, groups);
  register_module("norm1", norm1_.ptr());
  conv2_ = register_module("conv2", conv(out, out, 3, bias));
  norm2_ = make_norm(norm, out, groups);
  register_module("norm2", norm2_.ptr());
  if (residual_ && in != out)
    projection_ = register_module("projection", conv(in, out, 1, false));
}

torch::Tensor ConvBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::relu(norm1_.forward(conv1_->forward(x)));
  y = norm2_.forward(conv2_->forward(y));
  if (residual_)
    y = y + (projection_ ? projection_->forward(x) : x);
  return torch::relu(y);
}

DownBlockImpl::DownBlockImpl(int64_t in, int64_t out, Norm norm, BlockKind kind, int64_t groups)
    : conv_(register_module("conv", ConvBlock(in, out, norm, kind, groups))),
      pool_(register_module("pool", torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2)))) {}

DownOutput DownBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor features = conv_->forward(x);
  return {pool_->forward(features), features};
}

AttentionGateImpl::AttentionGateImpl(int64_t gate_channels, int64_t skip_channels, int64_t inner,
                                     Norm norm, int64_t groups) {
  gate_ = register_module("gate", torch::nn::Sequential(conv(gate_channels, inner, 1, true)));
  skip_ = register_module("skip", torch::nn::Sequential(conv(skip_channels, inner, 1, false)));
  psi_ = register_module("psi", torch::nn::Sequential(conv(inner, 1, 1, true)));
  if (norm != Norm::none) {
    gate_->push_back(make_norm(norm, inner, groups));
    skip_->push_back(make_norm(norm, inner, groups));
  }
}

torch::Tensor AttentionGateImpl::forward(const torch::Tensor& gate, const torch::Tensor& skip) {
  const torch::Tensor weight =
      torch::sigmoid(psi_->forward(torch::relu(gate_->forward(gate) + skip_->forward(skip))));
  return skip * weight;
}

// As a 1x1 convolution to four times the channels (each input pixel's 2x2 children side by
// side), then a pixel shuffle. On CPUs LibTorch 1.13 runs a transposed convolution through
// im2col and the BLAS (on Debian netlib's reference sgemm: half of a training step), and a 1x1
// convolution with a dilation (meaningless for a 1x1 kernel) through oneDNN: measured 5 to 20x
// faster forward and backward, on the same parameters, so checkpoints do not change.
torch::Tensor upsample_transposed(const torch::Tensor& x,
                                  torch::nn::ConvTranspose2dImpl& transposed) {
  if (!x.is_cpu())
    return transposed.forward(x);                   // cuDNN's own is fast
  const torch::Tensor& weight = transposed.weight;  // [in, out, 2, 2]
  const int64_t out = weight.size(1);
  const torch::Tensor pointwise =
      weight.permute({1, 2, 3, 0}).reshape({out * 4, weight.size(0), 1, 1});
  const torch::Tensor y = F::conv2d(
      x, pointwise, F::Conv2dFuncOptions().bias(transposed.bias.repeat_interleave(4)).dilation(2));
  return F::pixel_shuffle(y, F::PixelShuffleFuncOptions(2));
}

UpBlockImpl::UpBlockImpl(int64_t in, int64_t out, const UNetOptions& options) {
  if (options.upsampling() == Upsampling::transpose) {
    transpose_ = register_module(
        "transpose",
        torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in, out, 2).stride(2)));
  } else {
    reduce_ = register_module("reduce", conv(in, out, 1, true));
  }
  if (options.attention())
    attention_ = register_module("attention", AttentionGate(out, out, std::max<int64_t>(1, out / 2),
                                                            options.norm(), options.groups()));
  conv_ = register_module(
      "conv", ConvBlock(2 * out, out, options.norm(), options.block(), options.groups()));
}

torch::Tensor UpBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& skip) {
  torch::Tensor up;
  if (transpose_) {
    up = upsample_transposed(x, *transpose_);
  } else {
    up = reduce_->forward(F::interpolate(x, F::InterpolateFuncOptions()
                                                .scale_factor(std::vector<double>{2.0, 2.0})
                                                .mode(torch::kBilinear)
                                                .align_corners(false)));
  }
  const torch::Tensor gated = attention_ ? attention_->forward(up, skip) : skip;
  return conv_->forward(torch::cat({gated, up}, 1));
}

UNetImpl::UNetImpl(const UNetOptions& options) : options_(options) {
  options_.validate();
  dropout_ = register_module("dropout", torch::nn::Dropout2d(options_.dropout()));
  if (options_.encoder() != Encoder::plain) {
    build_over_resnet();
    return;
  }
  down_ = register_module("down", torch::nn::ModuleList());
  up_ = register_module("up", torch::nn::ModuleList());
  int64_t channels = options_.in_channels();
  for (int64_t level = 0; level < options_.depth(); ++level) {
    const int64_t width = options_.base() << level;
    down_->push_back(
        DownBlock(channels, width, options_.norm(), options_.block(), options_.groups()));
    channels = width;
  }
  bottleneck_ = register_module("bottleneck", ConvBlock(channels, 2 * channels, options_.norm(),
                                                        options_.block(), options_.groups()));
  channels *= 2;
  for (int64_t level = options_.depth() - 1; level >= 0; --level) {
    const int64_t width = options_.base() << level;
    up_->push_back(UpBlock(channels, width, options_));
    channels = width;
  }
  head_ = register_module("head", conv(channels, options_.classes(), 1, true));
}

// segmentation_models.pytorch's Unet: the deepest features go up through five decoder
// blocks, each taking the encoder's features of its scale (none at full resolution), and a
// 3x3 head.
void UNetImpl::build_over_resnet() {
  encoder_ = register_module("encoder", ResNetEncoder(options_.encoder(), options_.in_channels()));
  decoder_ = register_module("decoder", torch::nn::ModuleList());
  const std::vector<int64_t> skips = decoder_skip_channels(options_.encoder());
  const std::vector<int64_t> widths = decoder_channels(options_.base());
  int64_t channels = encoder_->channels().back();
  for (std::size_t block = 0; block < widths.size(); ++block) {
    decoder_->push_back(
        DecoderBlock(channels, skips[block], widths[block], options_.norm(), options_.groups()));
    channels = widths[block];
  }
  head_ = register_module(
      "head",
      torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, options_.classes(), 3).padding(1)));
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(head_->weight);
  torch::nn::init::zeros_(head_->bias);
}

torch::Tensor UNetImpl::forward(const torch::Tensor& x) {
  return forward(x, nullptr);
}

torch::Tensor UNetImpl::forward_over_resnet(const torch::Tensor& x, ShapeTrace* trace) {
  std::vector<torch::Tensor> features = encoder_->forward(x);
  if (trace)
    for (const torch::Tensor& feature : features)
      trace->encoder.push_back(shape_of(feature));
  torch::Tensor y = dropout_->forward(features.back());
  features.pop_back();
  if (trace)
    trace->bottleneck = shape_of(y);
  for (const auto& module : *decoder_) {
    torch::Tensor skip;
    if (!features.empty()) {
      skip = features.back();
      features.pop_back();
    }
    y = module->as<DecoderBlock>()->forward(y, skip);
    if (trace)
      trace->decoder.push_back(shape_of(y));
  }
  return y;
}

torch::Tensor UNetImpl::forward(const torch::Tensor& x, ShapeTrace* trace) {
  MODEL_CHECK(x.dim() == 4 && x.size(1) == options_.in_channels(), "the model expects input [N, ",
              options_.in_channels(), ", H, W], got ", x.sizes());
  const int64_t multiple = int64_t{1} << options_.levels();
  if (x.size(2) % multiple != 0 || x.size(3) % multiple != 0)
    throw Error("input of " + std::to_string(x.size(3)) + " x " + std::to_string(x.size(2)) +
                " pixels: a U-Net of " + std::to_string(options_.levels()) +
                " levels needs sizes divisible by " + std::to_string(multiple));
  torch::Tensor y = encoder_ ? forward_over_resnet(x, trace) : forward_plain(x, trace);
  y = head_->forward(y);
  if (trace)
    trace->output = shape_of(y);
  return y;
}

torch::Tensor UNetImpl::forward_plain(const torch::Tensor& x, ShapeTrace* trace) {
  std::vector<torch::Tensor> skips;
  torch::Tensor y = x;
  for (const auto& module : *down_) {
    DownOutput out = module->as<DownBlock>()->forward(y);
    skips.push_back(out.features);
    y = out.pooled;
    if (trace)
      trace->encoder.push_back(shape_of(y));
  }
  y = dropout_->forward(bottleneck_->forward(y));
  if (trace)
    trace->bottleneck = shape_of(y);
  for (const auto& module : *up_) {
    y = module->as<UpBlock>()->forward(y, skips.back());
    skips.pop_back();
    if (trace)
      trace->decoder.push_back(shape_of(y));
  }
  return y;
}

EncoderWeights UNetImpl::load_encoder_weights(const std::string& path,
                                              const std::vector<std::string>& bands) {
  if (!encoder_)
    throw UsageError("encoder weights need a ResNet encoder, not the plain one");
  return model::load_encoder_weights(*encoder_, options_.encoder(), path, bands);
}

int64_t UNetImpl::parameter_count() const {
  int64_t count = 0;
  for (const auto& parameter : parameters())
    count += parameter.numel();
  return count;
}

std::uint64_t state_digest(torch::nn::Module& module) {
  std::vector<torch::Tensor> state = module.parameters();
  for (const torch::Tensor& buffer : module.buffers())
    state.push_back(buffer);
  std::uint64_t digest = 0;
  for (const torch::Tensor& tensor : state) {
    const torch::Tensor values = tensor.to(torch::kCPU).contiguous();
    const auto* bytes = static_cast<const unsigned char*>(values.data_ptr());
    const auto size = static_cast<std::size_t>(values.numel() * values.element_size());
    for (std::size_t i = 0; i + 8 <= size; i += 8) {
      std::uint64_t word = 0;
      std::memcpy(&word, bytes + i, 8);
      digest = hash(digest, word);
    }
    for (std::size_t i = size - size % 8; i < size; ++i)
      digest = hash(digest, bytes[i]);
  }
  return digest;
}

void set_threads(int threads) {
  torch::set_num_threads(std::max(1, threads));
}

bool bf16_autocast(Precision precision, bool on_gpu) {
  if (precision == Precision::bf16 && !on_gpu)
    throw UsageError("--precision bf16 needs a GPU: bf16 autocast runs on CUDA");
  return on_gpu && precision != Precision::fp32;
}

}  // namespace satunet::model
