#include "model/encoder_weights.hpp"

#include <fstream>
#include <iterator>
#include <numeric>
#include <sstream>

#include "common/error.hpp"
#include "common/text.hpp"

namespace satunet::model {

torch::Tensor first_layer_weights(const torch::Tensor& rgb, int64_t bands) {
  if (bands == 1)
    return rgb.sum(1, /*keepdim=*/true);
  std::vector<torch::Tensor> per_band;
  for (int64_t band = 0; band < bands; ++band)
    per_band.push_back(rgb.select(1, band % 3));
  return torch::stack(per_band, 1) * (3.0 / static_cast<double>(bands));
}

namespace {

const char* const kConversion =
    "python3 -c \"import sys, torch; torch.save(dict(torch.load(sys.argv[1], "
    "map_location='cpu')), sys.argv[2])\" IN.pth OUT.pt";

// The entry of a state dict that names the first layer's bands, rather than holding a tensor.
const char* const kBandsEntry = "bands";

c10::Dict<c10::IValue, c10::IValue> read_state_dict(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(path + ": cannot open the encoder weights");
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  const std::string unreadable =
      path +
      ": not a state dict saved as a plain dict in torch.save's zip format; "
      "torchvision's files convert with: " +
      kConversion;
  if (bytes.size() < 4 || std::string(bytes.data(), 2) != "PK")
    throw Error(unreadable);
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const c10::Error&) {
    throw Error(unreadable);  // LibTorch cannot read an OrderedDict, which torch.save writes
  }
  if (!value.isGenericDict())
    throw Error(unreadable);
  return value.toGenericDict();
}

// The file's "bands" entry: one name per input channel of its first layer; empty without one.
std::vector<std::string> named_bands(const c10::Dict<c10::IValue, c10::IValue>& state,
                                     const std::string& path) {
  if (!state.contains(kBandsEntry))
    return {};
  const c10::IValue entry = state.at(kBandsEntry);
  const std::string not_names = path + ": its \"bands\" entry is not a list of band names";
  if (!entry.isList())
    throw Error(not_names);
  std::vector<std::string> names;
  for (const c10::IValue& name : entry.toListRef()) {
    if (!name.isString())
      throw Error(not_names);
    names.push_back(name.toStringRef());
  }
  return names;
}

// The channels of a first layer whose inputs are `file_bands` that the dataset's `bands` take,
// in the dataset's order.
std::vector<int64_t> channels_of(const std::vector<std::string>& bands,
                                 const std::vector<std::string>& file_bands,
                                 const std::string& path) {
  std::vector<int64_t> channels;
  for (const std::string& band : bands) {
    int64_t found = -1;
    for (std::size_t i = 0; i < file_bands.size() && found < 0; ++i)
      if (text::band_key(file_bands[i]) == text::band_key(band))
        found = static_cast<int64_t>(i);
    if (found < 0)
      throw Error(path + ": the dataset's band " + band + " is not among the weights' bands " +
                  text::join(file_bands, ",") +
                  " (name the scene's bands as the weights do: tile --bands, or GDAL band "
                  "descriptions)");
    channels.push_back(found);
  }
  return channels;
}

std::string shape_text(const torch::Tensor& tensor) {
  std::ostringstream text;
  text << tensor.sizes();
  return text.str();
}

// The first layer's weights for the dataset's `bands` from the file's `weight`.
torch::Tensor first_layer_for(const torch::Tensor& weight, const std::vector<std::string>& bands,
                              const std::vector<std::string>& file_bands, const std::string& path,
                              EncoderWeights& loaded) {
  if (!file_bands.empty()) {
    if (weight.dim() != 4 || weight.size(1) != static_cast<int64_t>(file_bands.size()))
      throw Error(path + ": names " + std::to_string(file_bands.size()) +
                  " bands, but its conv1.weight is " + shape_text(weight));
    const std::vector<int64_t> channels = channels_of(bands, file_bands, path);
    for (const int64_t channel : channels)
      loaded.selected.push_back(file_bands[static_cast<std::size_t>(channel)]);
    std::vector<int64_t> in_order(file_bands.size());
    std::iota(in_order.begin(), in_order.end(), 0);
    loaded.adapted = channels != in_order;
    return weight.index_select(1, torch::tensor(channels, torch::kLong));
  }
  const auto dataset_bands = static_cast<int64_t>(bands.size());
  if (weight.dim() == 4 && weight.size(1) == 3 && dataset_bands != 3) {
    loaded.adapted = true;
    return first_layer_weights(weight, dataset_bands);
  }
  if (weight.dim() == 4 && weight.size(1) != dataset_bands)
    throw Error(path + ": its first layer takes " + std::to_string(weight.size(1)) +
                " bands and the dataset has " + std::to_string(dataset_bands) +
                ": add the names of its bands to the file (a \"bands\" entry, see README) to "
                "choose the dataset's among them");
  return weight;
}

}  // namespace

EncoderWeights load_encoder_weights(ResNetEncoderImpl& encoder, Encoder kind,
                                    const std::string& path,
                                    const std::vector<std::string>& bands) {
  const auto state = read_state_dict(path);
  const std::vector<std::string> file_bands = named_bands(state, path);
  const std::string kind_name = options::enum_name(kind);
  auto targets = encoder.named_parameters();
  for (const auto& buffer : encoder.named_buffers())
    targets.insert(buffer.key(), buffer.value());
  EncoderWeights loaded;
  torch::NoGradGuard no_grad;
  for (const auto& entry : state) {
    if (entry.key().isString() && entry.key().toStringRef() == kBandsEntry)
      continue;
    if (!entry.key().isString() || !entry.value().isTensor())
      throw Error(path + ": not a state dict (its entries are not named tensors)");
    const std::string& name = entry.key().toStringRef();
    torch::Tensor* target = targets.find(name);
    if (!target) {
      if (name.rfind("fc.", 0) != 0)
        throw Error(path + ": " + name + " is not in a torchvision " + kind_name);
      ++loaded.skipped;
      continue;
    }
    torch::Tensor value = entry.value().toTensor();
    if (name == "conv1.weight")
      value = first_layer_for(value, bands, file_bands, path, loaded);
    if (!value.sizes().equals(target->sizes()))
      throw Error(path + ": " + name + " is " + shape_text(value) + ", a torchvision " + kind_name +
                  "'s " + shape_text(*target));
    target->copy_(value);
    ++loaded.tensors;
  }
  for (const auto& target : targets) {
    // Files from before PyTorch 0.4.1 have no batch counters, which only momentum-less
    // batch norm uses.
    const bool counter = target.key().find("num_batches_tracked") != std::string::npos;
    if (!counter && !state.contains(target.key()))
      throw Error(path + ": has no " + target.key() + ": not a torchvision " + kind_name +
                  " state dict");
  }
  return loaded;
}

}  // namespace satunet::model
