// The prediction directory (see prediction.hpp): prediction.json, its index, and the names of
// its shards.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/labels.hpp"
#include "common/output_lock.hpp"
#include "common/text.hpp"
#include "shards/prediction.hpp"
#include "shards/shard.hpp"

namespace satunet::shards {
namespace {

std::string index_path(const std::string& dir) {
  return dir + "/" + kPredictionIndexName;
}

template <typename E>
E enum_from(const nlohmann::json& json, const char* key) {
  return options::parse_enum<E>(json.at(key).get<std::string>(), key);
}

constexpr const char* kShardDir = "shards";

bool is_prediction_shard(const std::string& name) {
  const bool shard = name.rfind("rank-", 0) == 0 || name.rfind(".rank-", 0) == 0;
  return shard && name.find("-of-") != std::string::npos && name.find(".h5") != std::string::npos;
}

}  // namespace

Product prediction_product() {
  return {"a prediction", {kPredictionIndexName}, {kPredictionIndexName}};
}

std::string prediction_shard_name(int rank, int ranks) {
  return std::string(kShardDir) + "/rank-" + std::to_string(rank) + "-of-" + std::to_string(ranks) +
         ".h5";
}

void remove_prediction_shards(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string shards = dir + "/" + kShardDir;
  try {
    ensure_directory(shards);
    for (const auto& entry : fs::directory_iterator(shards))
      if (is_prediction_shard(entry.path().filename().string()))
        fs::remove(entry.path());
  } catch (const fs::filesystem_error& error) {
    throw Error(dir + ": " + error.what());
  }
}

void remove_prediction(const std::string& dir, int ranks) {
  namespace fs = std::filesystem;
  std::error_code ignored;
  fs::remove(index_path(dir), ignored);
  for (int rank = 0; rank < ranks; ++rank)
    fs::remove(dir + "/" + prediction_shard_name(rank, ranks), ignored);
  fs::remove(dir + "/" + kShardDir, ignored);  // only when empty
  fs::remove(OutputLock::file_in(dir), ignored);
  fs::remove(dir, ignored);  // only when empty
}

bool PredictionIndex::present(const std::string& dir) {
  return file_exists(index_path(dir));
}

PredictionIndex PredictionIndex::load(const std::string& dir) {
  const std::string path = index_path(dir);
  if (!file_exists(path))
    throw Error(dir + ": no " + kPredictionIndexName +
                ": not a prediction directory, or satunet predict did not finish");
  return from_json(read_file(path), path);
}

PredictionIndex PredictionIndex::from_json(const std::string& text, const std::string& path) {
  PredictionIndex index;
  try {
    const nlohmann::json json = nlohmann::json::parse(text);
    const int schema = json.at("schema_version").get<int>();
    if (schema != kPredictionIndexSchema)
      throw Error(path + ": prediction schema version " + std::to_string(schema) +
                  ", this satunet reads version " + std::to_string(kPredictionIndexSchema));
    index.scene = json.at("scene").get<std::string>();
    index.scene_width = json.at("width").get<std::int64_t>();
    index.scene_height = json.at("height").get<std::int64_t>();
    index.crs = json.at("crs").get<std::string>();
    index.crs_wkt = json.value("crs_wkt", std::string());
    index.geotransform = json.at("geotransform").get<std::array<double, 6>>();
    index.tile_size = json.at("tile").get<int>();
    index.overlap = json.at("overlap").get<int>();
    index.blend = enum_from<Blend>(json, "blend");
    index.tta = enum_from<Tta>(json, "tta");
    index.encoding = enum_from<ProbabilityEncoding>(json, "encoding");
    index.class_names = json.at("classes").get<std::vector<std::string>>();
    index.windows_total = json.at("windows").get<std::int64_t>();
    for (const auto& shard : json.at("shards"))
      index.shards.push_back(
          {shard.at("path").get<std::string>(), shard.at("windows").get<std::int64_t>()});
    index.checkpoint = json.at("checkpoint").get<std::string>();
    index.ranks = json.at("ranks").get<int>();
    index.seconds = json.at("seconds").get<double>();
    index.command_line = json.at("command_line").get<std::string>();
  } catch (const nlohmann::json::exception& error) {
    throw Error(path + ": corrupt prediction index: " + error.what());
  } catch (const UsageError& error) {
    throw Error(path + ": corrupt prediction index: " + error.what());
  }
  index.check(path);
  return index;
}

void PredictionIndex::check(const std::string& path) const {
  auto invalid = [&](const std::string& what) {
    throw Error(path + ": corrupt prediction index: " + what);
  };
  if (scene_width < 1 || scene_height < 1)
    invalid("a scene of " + std::to_string(scene_width) + " x " + std::to_string(scene_height) +
            " pixels");
  if (tile_size < 1 || tile_size > kMaxTileSize || overlap < 0 || overlap >= tile_size)
    invalid("windows of " + std::to_string(tile_size) + " px overlapping by " +
            std::to_string(overlap) + " (1 to " + std::to_string(kMaxTileSize) + " px)");
  if (class_names.empty() || class_names.size() > static_cast<std::size_t>(kMaxClasses))
    invalid(std::to_string(class_names.size()) + " classes (1 to " + std::to_string(kMaxClasses) +
            ")");
  if (windows_total < 0 || ranks < 1)
    invalid("a negative window count or no rank");
  for (const PredictionShardEntry& shard : shards)
    if (shard.windows < 0)
      invalid(shard.path + " has a negative window count");
}

std::string PredictionIndex::to_json() const {
  nlohmann::json shard_list = nlohmann::json::array();
  for (const PredictionShardEntry& shard : shards)
    shard_list.push_back({{"path", shard.path}, {"windows", shard.windows}});
  const nlohmann::json json = {{"schema_version", kPredictionIndexSchema},
                               {"kind", "satunet prediction"},
                               {"scene", scene},
                               {"width", scene_width},
                               {"height", scene_height},
                               {"crs", crs},
                               {"crs_wkt", crs_wkt},
                               {"geotransform", geotransform},
                               {"tile", tile_size},
                               {"overlap", overlap},
                               {"blend", options::enum_name(blend)},
                               {"tta", options::enum_name(tta)},
                               {"encoding", options::enum_name(encoding)},
                               {"classes", class_names},
                               {"windows", windows_total},
                               {"shards", shard_list},
                               {"checkpoint", checkpoint},
                               {"ranks", ranks},
                               {"seconds", seconds},
                               {"command_line", command_line}};
  return json.dump(2);
}

void PredictionIndex::save(const std::string& dir) const {
  write_file(index_path(dir), to_json() + "\n");
}

std::string PredictionIndex::describe(const std::string& dir) const {
  std::ostringstream out;
  out << "prediction: " << dir << " (" << windows_total << " windows in " << shards.size()
      << " shards, from " << ranks << " ranks in " << seconds << " s)\n"
      << "scene:      " << scene << " (" << scene_width << " x " << scene_height << ", " << crs
      << ")\n"
      << "windows:    " << tile_size << " px, overlap " << overlap << ", blend "
      << options::enum_name(blend) << ", tta " << options::enum_name(tta) << ", probabilities "
      << options::enum_name(encoding) << "\n"
      << "classes:    " << text::join(class_names, ", ") << "\n"
      << "checkpoint: " << checkpoint << "\n";
  for (const PredictionShardEntry& shard : shards)
    out << "  " << shard.path << ": " << shard.windows << " windows\n";
  return out.str();
}

}  // namespace satunet::shards
