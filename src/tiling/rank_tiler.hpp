#pragma once
// One rank's share of the tiling: contiguous runs of tile rows, read strip by strip, cut into
// tiles, filtered (nodata, empty, guard), counted and summarised into band statistics, and
// handed to the rank's shard sink.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/communicator.hpp"
#include "common/running_stats.hpp"
#include "shards/manifest.hpp"
#include "tiling/grid.hpp"
#include "tiling/scene.hpp"

namespace satunet::tiling {

// What one rank produced, merged into the manifest on rank 0.
struct RankResult {
  std::vector<shards::ShardEntry> shards;
  std::map<std::string, std::int64_t> tiles;
  std::map<std::string, std::vector<std::int64_t>> class_pixels;
  std::map<std::string, std::int64_t> dropped;
  std::vector<RunningStats> stats;
  std::vector<std::int64_t> scene_tiles;

  // Travels between ranks as JSON.
  nlohmann::json to_json() const {
    nlohmann::json shards_json = nlohmann::json::array();
    for (const auto& shard : shards)
      shards_json.push_back({shard.path, shard.tiles, shard.split, shard.rank});
    nlohmann::json stats_json = nlohmann::json::array();
    for (const auto& s : stats)
      stats_json.push_back({s.count, s.mean, s.m2});
    return {{"shards", shards_json}, {"tiles", tiles},      {"class_pixels", class_pixels},
            {"dropped", dropped},    {"stats", stats_json}, {"scene_tiles", scene_tiles}};
  }
  static RankResult from_json(const nlohmann::json& json) {
    RankResult result;
    for (const auto& shard : json.at("shards"))
      result.shards.push_back({shard[0], shard[1], shard[2], shard[3]});
    result.tiles = json.at("tiles").get<std::map<std::string, std::int64_t>>();
    result.class_pixels =
        json.at("class_pixels").get<std::map<std::string, std::vector<std::int64_t>>>();
    result.dropped = json.at("dropped").get<std::map<std::string, std::int64_t>>();
    for (const auto& s : json.at("stats"))
      result.stats.push_back({s[0].get<std::int64_t>(), s[1].get<double>(), s[2].get<double>()});
    result.scene_tiles = json.at("scene_tiles").get<std::vector<std::int64_t>>();
    return result;
  }
};

// Collective only in that every rank calls it with the same scenes and plan; each returns its
// own result.
RankResult tile_rank_rows(const TileOptions& options, comm::Communicator& comm,
                          std::vector<Scene>& scenes, const SplitPlan& plan);

}  // namespace satunet::tiling
