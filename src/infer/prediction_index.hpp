#pragma once
// prediction.json: what a prediction directory holds. Rank 0 writes it last, once every shard
// is committed, so a directory without it is an unfinished prediction.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace satunet::infer {

constexpr int kPredictionIndexSchema = 1;
constexpr const char* kPredictionIndexName = "prediction.json";

struct PredictionShardEntry {
  std::string path;  // relative to the directory
  std::int64_t windows = 0;
};

struct PredictionIndex {
  std::string scene;
  std::int64_t width = 0;
  std::int64_t height = 0;
  std::string crs;  // name, for people; the shards hold the WKT
  std::array<double, 6> geotransform{0, 1, 0, 0, 0, 1};
  int tile = 0;
  int overlap = 0;
  std::string blend;
  std::string tta;
  std::string encoding;
  std::vector<std::string> classes;
  std::int64_t windows = 0;
  std::vector<PredictionShardEntry> shards;
  std::string checkpoint;
  int ranks = 1;
  double seconds = 0;
  std::string command_line;

  // Throws "<dir>: ..." when the directory holds no finished prediction.
  static PredictionIndex load(const std::string& dir);
  static bool present(const std::string& dir);
  void save(const std::string& dir) const;
  std::string to_json() const;
  std::string describe(const std::string& dir) const;  // for `satunet info PRED`
};

}  // namespace satunet::infer
