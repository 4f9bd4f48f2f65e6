#include "infer/prediction_index.hpp"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/text.hpp"

namespace satunet::infer {
namespace {

std::string index_path(const std::string& dir) {
  return dir + "/" + kPredictionIndexName;
}

}  // namespace

bool PredictionIndex::present(const std::string& dir) {
  return file_exists(index_path(dir));
}

PredictionIndex PredictionIndex::load(const std::string& dir) {
  const std::string path = index_path(dir);
  if (!file_exists(path))
    throw Error(dir + ": no " + kPredictionIndexName +
                ": not a prediction directory, or satunet predict did not finish");
  std::ifstream in(path);
  PredictionIndex index;
  try {
    const nlohmann::json json = nlohmann::json::parse(in);
    const int schema = json.at("schema_version").get<int>();
    if (schema != kPredictionIndexSchema)
      throw Error(path + ": prediction schema version " + std::to_string(schema) +
                  ", this satunet reads version " + std::to_string(kPredictionIndexSchema));
    index.scene = json.at("scene").get<std::string>();
    index.width = json.at("width").get<std::int64_t>();
    index.height = json.at("height").get<std::int64_t>();
    index.crs = json.at("crs").get<std::string>();
    index.geotransform = json.at("geotransform").get<std::array<double, 6>>();
    index.tile = json.at("tile").get<int>();
    index.overlap = json.at("overlap").get<int>();
    index.blend = json.at("blend").get<std::string>();
    index.tta = json.at("tta").get<std::string>();
    index.encoding = json.at("encoding").get<std::string>();
    index.classes = json.at("classes").get<std::vector<std::string>>();
    index.windows = json.at("windows").get<std::int64_t>();
    for (const auto& shard : json.at("shards"))
      index.shards.push_back(
          {shard.at("path").get<std::string>(), shard.at("windows").get<std::int64_t>()});
    index.checkpoint = json.at("checkpoint").get<std::string>();
    index.ranks = json.at("ranks").get<int>();
    index.seconds = json.at("seconds").get<double>();
    index.command_line = json.at("command_line").get<std::string>();
  } catch (const nlohmann::json::exception& error) {
    throw Error(path + ": corrupt prediction index: " + error.what());
  }
  return index;
}

std::string PredictionIndex::to_json() const {
  nlohmann::json shard_list = nlohmann::json::array();
  for (const PredictionShardEntry& shard : shards)
    shard_list.push_back({{"path", shard.path}, {"windows", shard.windows}});
  const nlohmann::json json = {{"schema_version", kPredictionIndexSchema},
                               {"kind", "satunet prediction"},
                               {"scene", scene},
                               {"width", width},
                               {"height", height},
                               {"crs", crs},
                               {"geotransform", geotransform},
                               {"tile", tile},
                               {"overlap", overlap},
                               {"blend", blend},
                               {"tta", tta},
                               {"encoding", encoding},
                               {"classes", classes},
                               {"windows", windows},
                               {"shards", shard_list},
                               {"checkpoint", checkpoint},
                               {"ranks", ranks},
                               {"seconds", seconds},
                               {"command_line", command_line}};
  return json.dump(2);
}

void PredictionIndex::save(const std::string& dir) const {
  write_text_file(index_path(dir), to_json() + "\n");
}

std::string PredictionIndex::describe(const std::string& dir) const {
  std::ostringstream out;
  out << "prediction: " << dir << " (" << windows << " windows in " << shards.size()
      << " shards, from " << ranks << " ranks in " << seconds << " s)\n"
      << "scene:      " << scene << " (" << width << " x " << height << ", " << crs << ")\n"
      << "windows:    " << tile << " px, overlap " << overlap << ", blend " << blend << ", tta "
      << tta << ", probabilities " << encoding << "\n"
      << "classes:    " << text::join(classes, ", ") << "\n"
      << "checkpoint: " << checkpoint << "\n";
  for (const PredictionShardEntry& shard : shards)
    out << "  " << shard.path << ": " << shard.windows << " windows\n";
  return out.str();
}

}  // namespace satunet::infer
