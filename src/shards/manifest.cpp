#include "shards/manifest.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "common/error.hpp"
#include "common/files.hpp"
#include "common/labels.hpp"
#include "shards/shard.hpp"

namespace satunet::shards {

Product dataset_product() {
  return {"a dataset", {kManifestName, kDatasetShardDir}, {kManifestName, kDatasetShardDir}};
}

std::string dataset_shard_name(const std::string& split, int rank, int index) {
  char name[64];
  std::snprintf(name, sizeof name, "-r%03d-%04d.h5", rank, index);
  return std::string(kDatasetShardDir) + "/" + split + name;
}

nlohmann::json Manifest::to_json() const {
  nlohmann::json bands_json = nlohmann::json::array();
  for (const BandStats& band : bands)
    bands_json.push_back({{"name", band.name},
                          {"source_band", band.source_band},
                          {"dtype", band.dtype},
                          {"mean", band.mean},
                          {"std", band.std},
                          {"count", band.count}});
  nlohmann::json scenes_json = nlohmann::json::array();
  for (const SceneEntry& scene : scenes)
    scenes_json.push_back(
        {{"path", scene.path},
         {"width", scene.width},
         {"height", scene.height},
         {"crs_wkt", scene.crs_wkt},
         {"geotransform", scene.geotransform},
         {"georeferenced", scene.georeferenced},
         {"nodata", scene.nodata ? nlohmann::json(*scene.nodata) : nlohmann::json()},
         {"pixel_size_m",
          scene.pixel_size_m ? nlohmann::json(*scene.pixel_size_m) : nlohmann::json()},
         {"labels", scene.labels},
         {"tiles", scene.tiles}});
  nlohmann::json shards_json = nlohmann::json::array();
  for (const ShardEntry& shard : shards)
    shards_json.push_back({{"path", shard.path},
                           {"tiles", shard.tiles},
                           {"split", shard.split},
                           {"rank", shard.rank}});
  return {{"schema_version", schema_version},
          {"created_by", created_by},
          {"command_line", command_line},
          {"tile_size", tile_size},
          {"overlap", overlap},
          {"dtype", dtype},
          {"classes", classes},
          {"bands", bands_json},
          {"scenes", scenes_json},
          {"shards", shards_json},
          {"tiles_per_split", tiles_per_split},
          {"class_pixels", class_pixels},
          {"dropped", dropped},
          {"tiling", tiling}};
}

Manifest Manifest::from_json(const nlohmann::json& json, const std::string& origin) {
  Manifest manifest;
  try {
    manifest.schema_version = json.at("schema_version").get<int>();
    if (manifest.schema_version != kManifestSchemaVersion)
      throw Error(origin + ": manifest schema version " + std::to_string(manifest.schema_version) +
                  ", this satunet reads version " + std::to_string(kManifestSchemaVersion));
    manifest.created_by = json.value("created_by", "");
    manifest.command_line = json.value("command_line", "");
    manifest.tile_size = json.at("tile_size").get<int>();
    manifest.overlap = json.at("overlap").get<int>();
    manifest.dtype = json.at("dtype").get<std::string>();
    manifest.classes = json.at("classes").get<std::vector<std::string>>();
    for (const auto& band : json.at("bands"))
      manifest.bands.push_back({band.at("name"), band.at("source_band"), band.at("dtype"),
                                band.at("mean"), band.at("std"), band.at("count")});
    for (const auto& scene : json.at("scenes")) {
      SceneEntry entry;
      entry.path = scene.at("path");
      entry.width = scene.at("width");
      entry.height = scene.at("height");
      entry.crs_wkt = scene.at("crs_wkt");
      entry.geotransform = scene.at("geotransform").get<std::array<double, 6>>();
      entry.georeferenced = scene.at("georeferenced");
      if (!scene.at("nodata").is_null())
        entry.nodata = scene.at("nodata").get<double>();
      if (scene.contains("pixel_size_m") && !scene.at("pixel_size_m").is_null())
        entry.pixel_size_m = scene.at("pixel_size_m").get<double>();
      entry.labels = scene.value("labels", "");
      entry.tiles = scene.value("tiles", 0);
      manifest.scenes.push_back(entry);
    }
    for (const auto& shard : json.at("shards"))
      manifest.shards.push_back(
          {shard.at("path"), shard.at("tiles"), shard.at("split"), shard.value("rank", 0)});
    manifest.tiles_per_split =
        json.at("tiles_per_split").get<std::map<std::string, std::int64_t>>();
    manifest.class_pixels =
        json.at("class_pixels").get<std::map<std::string, std::vector<std::int64_t>>>();
    manifest.dropped = json.value("dropped", std::map<std::string, std::int64_t>{});
    manifest.tiling = json.value("tiling", nlohmann::json::object());
  } catch (const nlohmann::json::exception& error) {
    throw Error(origin + ": not a valid satunet manifest: " + error.what());
  }
  manifest.check(origin);
  return manifest;
}

void Manifest::check(const std::string& origin) const {
  auto invalid = [&](const std::string& what) {
    throw Error(origin + ": not a valid satunet manifest: " + what);
  };
  if (tile_size < 1 || tile_size > kMaxTileSize)
    invalid("tile_size " + std::to_string(tile_size) + " (1 to " + std::to_string(kMaxTileSize) +
            ")");
  if (bands.empty() || bands.size() > static_cast<std::size_t>(kMaxBands))
    invalid(std::to_string(bands.size()) + " bands (1 to " + std::to_string(kMaxBands) + ")");
  if (classes.size() < 2 || classes.size() > static_cast<std::size_t>(kMaxClasses))
    invalid(std::to_string(classes.size()) + " classes (2 to " + std::to_string(kMaxClasses) + ")");
  for (const auto& [split, pixels] : class_pixels) {
    if (pixels.size() != classes.size())
      invalid("class_pixels of split '" + split + "' has " + std::to_string(pixels.size()) +
              " counts for " + std::to_string(classes.size()) + " classes");
    for (std::int64_t count : pixels)
      if (count < 0)
        invalid("a negative count in class_pixels of split '" + split + "'");
  }
  for (const ShardEntry& shard : shards)
    if (shard.tiles < 0)
      invalid(shard.path + " has a negative tile count");
}

Manifest Manifest::load(const std::string& dataset_dir) {
  const std::string path = dataset_dir + "/" + kManifestName;
  if (!file_exists(path))
    throw Error(path + ": no manifest (not a dataset directory, or its tiling did not finish)");
  return from_text(read_file(path), path);
}

Manifest Manifest::from_text(const std::string& text, const std::string& origin) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    throw Error(origin + ": corrupt manifest: " + error.what());
  }
  return from_json(json, origin);
}

void Manifest::save(const std::string& dataset_dir) const {
  write_file(dataset_dir + "/" + kManifestName, to_json().dump(2) + "\n");
}

std::int64_t Manifest::total_tiles() const {
  std::int64_t total = 0;
  for (const auto& [split, tiles] : tiles_per_split)
    total += tiles;
  return total;
}

std::optional<PixelSizeRange> Manifest::pixel_size_range() const {
  std::optional<PixelSizeRange> range;
  for (const SceneEntry& scene : scenes) {
    if (!scene.pixel_size_m)
      continue;
    const double size = *scene.pixel_size_m;
    range = range ? PixelSizeRange{std::min(range->min_m, size), std::max(range->max_m, size)}
                  : PixelSizeRange{size, size};
  }
  return range;
}

std::string Manifest::describe(const std::string& dir) const {
  std::ostringstream out;
  out.precision(6);
  out << "dataset:    " << dir << " (" << created_by << ", schema " << schema_version << ")\n";
  out << "tiles:      " << total_tiles() << " of " << tile_size << " x " << tile_size
      << " px, overlap " << overlap << ", " << dtype;
  for (const auto& [split, tiles] : tiles_per_split)
    out << ", " << split << " " << tiles;
  out << "\n";
  out << "dropped:   ";
  for (const auto& [reason, tiles] : dropped)
    out << " " << reason << " " << tiles;
  out << "\n";
  out << "shards:     " << shards.size() << "\n";
  out << "classes:\n";
  for (std::size_t c = 0; c < classes.size(); ++c) {
    out << "  " << c << " " << classes[c];
    for (const auto& [split, counts] : class_pixels) {
      std::int64_t total = 0;
      for (std::int64_t count : counts)
        total += count;
      const double share =
          total ? 100.0 * static_cast<double>(counts[c]) / static_cast<double>(total) : 0;
      out << "  " << split << " " << counts[c] << " px (" << share << "%)";
    }
    out << "\n";
  }
  out << "bands:\n";
  for (const BandStats& band : bands)
    out << "  " << band.source_band << " " << band.name << " (" << band.dtype << "): mean "
        << band.mean << ", std " << band.std << " over " << band.count << " px\n";
  out << "scenes:\n";
  for (const SceneEntry& scene : scenes) {
    out << "  " << scene.path << ": " << scene.width << " x " << scene.height << ", ";
    if (scene.pixel_size_m)
      out << std::setprecision(3) << *scene.pixel_size_m << std::setprecision(6) << " m pixels, ";
    out << scene.tiles << " tiles, labels from " << scene.labels << "\n";
  }
  return out.str();
}

}  // namespace satunet::shards
