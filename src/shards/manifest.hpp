#pragma once
// manifest.json: what a dataset directory holds. Written last by `satunet tile`, so a
// dataset without one is visibly incomplete.
#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/output_directory.hpp"
#include "common/pixel_size_range.hpp"

namespace satunet::shards {

constexpr int kManifestSchemaVersion = 1;
inline const char* const kManifestName = "manifest.json";
inline const char* const kDatasetShardDir = "shards";

// A dataset directory: manifest.json and shards/SPLIT-rRRR-NNNN.h5 (the NNNNth shard of the split
// written by rank RRR).
Product dataset_product();
// Relative to the dataset directory.
std::string dataset_shard_name(const std::string& split, int rank, int index);

struct BandStats {
  std::string name;
  int source_band = 0;  // 1-based band of the scenes
  std::string dtype;
  double mean = 0;
  double std = 0;
  std::int64_t count = 0;  // valid pixels the statistics come from
};

struct SceneEntry {
  std::string path;
  std::int64_t width = 0;
  std::int64_t height = 0;
  std::string crs_wkt;
  std::array<double, 6> geotransform{};
  bool georeferenced = false;
  std::optional<double> nodata;
  // Its ground sample distance (geo::ground_pixel_size_m); none where not georeferenced, and
  // in manifests written before it was recorded.
  std::optional<double> pixel_size_m;
  std::string labels;  // where the labels came from, for people
  std::int64_t tiles = 0;
};

struct ShardEntry {
  std::string path;  // relative to the dataset directory
  std::int64_t tiles = 0;
  std::string split;
  int rank = 0;
};

struct Manifest {
  int schema_version = kManifestSchemaVersion;
  std::string created_by;
  std::string command_line;
  int tile_size = 0;
  int overlap = 0;
  std::string dtype;
  std::vector<std::string> classes;
  std::vector<BandStats> bands;
  std::vector<SceneEntry> scenes;
  std::vector<ShardEntry> shards;
  std::map<std::string, std::int64_t> tiles_per_split;
  std::map<std::string, std::vector<std::int64_t>> class_pixels;  // per split, per class
  std::map<std::string, std::int64_t> dropped;                    // reason -> tiles
  nlohmann::json tiling;  // every tiling parameter, as given

  // Throws "<dir>/manifest.json: ..." for missing files, bad JSON or another schema.
  static Manifest load(const std::string& dataset_dir);
  void save(const std::string& dataset_dir) const;  // atomically
  nlohmann::json to_json() const;
  static Manifest from_json(const nlohmann::json& json, const std::string& origin);
  // From the text of a manifest.json (`origin` names it in errors).
  static Manifest from_text(const std::string& text, const std::string& origin);
  // Sizes and counts that readers rely on, checked before anything is allocated for them.
  void check(const std::string& origin) const;
  std::int64_t total_tiles() const;
  // The ground sample distances of its scenes, from the smallest to the largest of those
  // recorded; none when no scene's is.
  std::optional<PixelSizeRange> pixel_size_range() const;
  // What the dataset holds, for `satunet tile` and `satunet info DATASET`.
  std::string describe(const std::string& dir) const;
};

}  // namespace satunet::shards
