#include "model/checkpoint.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/files.hpp"
#include "common/zip_check.hpp"
#include "model/checkpoint_info.hpp"

namespace satunet::model {
namespace {

nlohmann::json bands_json(const std::vector<BandNormalisation>& bands) {
  nlohmann::json json = nlohmann::json::array();
  for (const auto& band : bands) {
    json.push_back({{"name", band.name}, {"mean", band.mean}, {"std", band.std}});
    if (!band.dtype.empty())
      json.back()["dtype"] = band.dtype;
  }
  return json;
}

std::vector<BandNormalisation> bands_from_json(const std::string& text) {
  std::vector<BandNormalisation> bands;
  for (const auto& band : nlohmann::json::parse(text))
    bands.push_back(
        {band.at("name"), band.at("mean"), band.at("std"), band.value("dtype", std::string())});
  return bands;
}

nlohmann::json pixel_size_json(const PixelSizeRange& range) {
  return {{"min", range.min_m}, {"max", range.max_m}};
}

// Absent from checkpoints written before it was recorded.
std::optional<PixelSizeRange> read_pixel_size(torch::serialize::InputArchive& archive) {
  c10::IValue value;
  if (!archive.try_read("pixel_size_m", value) || !value.isString())
    return std::nullopt;
  const auto json = nlohmann::json::parse(value.toStringRef());
  return PixelSizeRange{json.at("min").get<double>(), json.at("max").get<double>()};
}

std::string read_string(torch::serialize::InputArchive& archive, const std::string& key,
                        const std::string& path) {
  c10::IValue value;
  if (!archive.try_read(key, value) || !value.isString())
    throw Error(path + ": not a satunet checkpoint (no '" + key + "')");
  return value.toStringRef();
}

int64_t read_int(torch::serialize::InputArchive& archive, const std::string& key,
                 const std::string& path) {
  c10::IValue value;
  if (!archive.try_read(key, value) || !value.isInt())
    throw Error(path + ": not a satunet checkpoint (no '" + key + "')");
  return value.toInt();
}

}  // namespace

void save_checkpoint(const std::string& path, UNet& model, const CheckpointMeta& meta,
                     const CheckpointExtras& extras) {
  torch::serialize::OutputArchive archive;
  archive.write("satunet_schema", c10::IValue(kCheckpointSchemaVersion));
  archive.write("model_options", c10::IValue(meta.model.to_json()));
  archive.write("classes", c10::IValue(nlohmann::json(meta.classes).dump()));
  archive.write("bands", c10::IValue(bands_json(meta.bands).dump()));
  archive.write("epoch", c10::IValue(meta.epoch));
  archive.write("step", c10::IValue(meta.step));
  archive.write("tile_size", c10::IValue(static_cast<int64_t>(meta.tile_size)));
  if (meta.pixel_size)
    archive.write("pixel_size_m", c10::IValue(pixel_size_json(*meta.pixel_size).dump()));
  archive.write("created_by", c10::IValue(meta.created_by));
  archive.write("training", c10::IValue(meta.training));
  torch::serialize::OutputArchive weights;
  model->save(weights);
  archive.write("model", weights);
  for (const auto& [name, extra] : extras.archives)
    archive.write(name, *extra);

  // Into memory first: LibTorch's archive writer throws from its destructor when the file
  // system fails it (a full disk), which ends the process; a failed write of the bytes is an
  // error naming the file, and leaves the previous checkpoint as it was.
  std::ostringstream bytes;
  try {
    archive.save_to(bytes);
  } catch (const c10::Error& error) {
    throw Error(path + ": cannot write checkpoint: " + error.what_without_backtrace());
  }
  try {
    write_file(path, bytes.str());
  } catch (const Error& error) {
    throw Error(std::string(error.what()) + " (checkpoint)");
  }
}

namespace {

// A header describing a larger model than the file could hold is refused before the model is
// built (a damaged or hostile header must not drive an allocation of gigabytes).
void check_size_fits(const std::string& path, const UNetOptions& model, std::size_t bytes) {
  const double needed = model.conv3x3_weights() * sizeof(float);
  if (needed > static_cast<double>(bytes))
    throw Error(path + ": describes a model (" + model.describe() + ") of at least " +
                std::to_string(static_cast<std::int64_t>(needed / (1 << 20))) +
                " MiB of weights, but the file is " + std::to_string(bytes >> 20) +
                " MiB: truncated, or not this model's");
}

}  // namespace

namespace {

std::optional<int64_t> averaged_updates(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive average;
  torch::Tensor updates;
  if (!archive.try_read(kWeightAverage, average) || !average.try_read(kAveragedUpdates, updates))
    return std::nullopt;
  return updates.item<int64_t>();
}

}  // namespace

LoadedCheckpoint load_checkpoint(const std::string& path) {
  if (!file_exists(path))
    throw Error(path + ": no such checkpoint");
  // A file that is no zip archive at all is refused from its tail, before it is read whole.
  check_zip_end_record(path);
  // Read whole and checked before LibTorch parses it: LibTorch does not check the CRCs.
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const Error& error) {
    throw Error(std::string(error.what()) + " (checkpoint)");
  }
  check_zip_integrity(bytes, path);
  const std::size_t file_bytes = bytes.size();
  LoadedCheckpoint loaded;
  try {
    // From the bytes in place (a stream over them would copy them all). Onto the CPU wherever
    // it was written: LibTorch 2.x would restore a GPU run's tensors onto its GPU (1.13 did
    // not), and a checkpoint must load on a machine without one.
    loaded.archive.load_from(bytes.data(), bytes.size(), torch::Device(torch::kCPU));
  } catch (const std::exception& error) {
    // LibTorch throws more than c10::Error here (its TorchScript parser's reports too).
    throw Error(path + ": not a LibTorch checkpoint (cannot read the archive)");
  }
  std::string().swap(bytes);  // the archive holds what it read
  auto& archive = loaded.archive;
  const int64_t schema = read_int(archive, "satunet_schema", path);
  if (schema != kCheckpointSchemaVersion)
    throw Error(path + ": checkpoint schema version " + std::to_string(schema) +
                ", this satunet reads version " + std::to_string(kCheckpointSchemaVersion));
  CheckpointMeta& meta = loaded.meta;
  try {
    meta.model = UNetOptions::from_json(read_string(archive, "model_options", path));
    meta.classes = nlohmann::json::parse(read_string(archive, "classes", path))
                       .get<std::vector<std::string>>();
    meta.bands = bands_from_json(read_string(archive, "bands", path));
    meta.pixel_size = read_pixel_size(archive);
  } catch (const nlohmann::json::exception& error) {
    throw Error(path + ": corrupt checkpoint metadata: " + error.what());
  } catch (const Error& error) {
    throw Error(path + ": corrupt checkpoint metadata: " + error.what());
  }
  check_size_fits(path, meta.model, file_bytes);
  meta.epoch = read_int(archive, "epoch", path);
  meta.step = read_int(archive, "step", path);
  meta.tile_size = static_cast<int>(read_int(archive, "tile_size", path));
  meta.created_by = read_string(archive, "created_by", path);
  meta.training = read_string(archive, "training", path);
  meta.averaged_updates = averaged_updates(archive);
  loaded.model = UNet(meta.model);
  torch::serialize::InputArchive weights;
  try {
    archive.read("model", weights);
    loaded.model->load(weights);
  } catch (const std::exception& error) {
    throw Error(path + ": the weights do not fit the model it describes (" + meta.model.describe() +
                ")");
  }
  return loaded;
}

namespace {

std::string checkpoint_json(const std::string& path, const LoadedCheckpoint& loaded) {
  const CheckpointMeta& meta = loaded.meta;
  return nlohmann::json{
      {"kind", "checkpoint"},
      {"path", path},
      {"architecture", meta.model.describe()},
      {"model", nlohmann::json::parse(meta.model.to_json())},
      {"parameters", loaded.model->parameter_count()},
      {"classes", meta.classes},
      {"bands", bands_json(meta.bands)},
      {"tile_size", meta.tile_size},
      {"pixel_size_m", meta.pixel_size ? pixel_size_json(*meta.pixel_size) : nlohmann::json()},
      {"epoch", meta.epoch},
      {"step", meta.step},
      {"averaged_updates",
       meta.averaged_updates ? nlohmann::json(*meta.averaged_updates) : nlohmann::json()},
      {"created_by", meta.created_by}}
      .dump(2);
}

std::string describe_pixel_size(const PixelSizeRange& range) {
  std::ostringstream out;
  out << std::setprecision(3) << range.min_m;
  if (range.max_m > range.min_m)
    out << " to " << range.max_m;
  out << " m";
  return out.str();
}

std::string describe_checkpoint(const std::string& path, const LoadedCheckpoint& loaded) {
  const CheckpointMeta& meta = loaded.meta;
  std::ostringstream out;
  out << "checkpoint: " << path << " (" << meta.created_by << ")\n"
      << "model:      " << meta.model.describe() << "\n"
      << "parameters: " << loaded.model->parameter_count() << "\n"
      << "classes:    ";
  for (std::size_t c = 0; c < meta.classes.size(); ++c)
    out << (c ? ", " : "") << c << "=" << meta.classes[c];
  out << "\nbands:      ";
  for (std::size_t b = 0; b < meta.bands.size(); ++b)
    out << (b ? ", " : "") << meta.bands[b].name << " ("
        << (meta.bands[b].dtype.empty() ? "" : meta.bands[b].dtype + ", ") << "mean "
        << meta.bands[b].mean << ", std " << meta.bands[b].std << ")";
  out << "\ntile size:  " << meta.tile_size;
  if (meta.pixel_size)
    out << "\npixel size: " << describe_pixel_size(*meta.pixel_size)
        << " on the ground (its training scenes')";
  out << "\ntraining:   epoch " << meta.epoch << ", step " << meta.step << "\n";
  if (meta.averaged_updates)
    out << "weights:    the average of " << *meta.averaged_updates
        << " updates (--ema); the live weights are kept for --resume\n";
  return out.str();
}

}  // namespace

std::string describe_checkpoint_file(const std::string& path, bool json) {
  const LoadedCheckpoint loaded = load_checkpoint(path);
  return json ? checkpoint_json(path, loaded) + "\n" : describe_checkpoint(path, loaded);
}

}  // namespace satunet::model
