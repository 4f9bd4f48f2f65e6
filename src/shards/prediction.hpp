#pragma once
// Prediction shards: the file boundary between `satunet predict` and `satunet stitch`. Each rank
// writes one file of the windows it predicted; the stitcher needs nothing else.
//
// Layout of one prediction shard (schema version kPredictionSchemaVersion):
//   /probabilities [N, C, T, T]  per-class probabilities, uint8 (p * 255, rounded) or IEEE
//                                float16; one chunk per window
//   /valid         [N, T, T]     uint8, 1 where the scene has data, 0 for nodata and padding
//   /windows       [N, 4]        int64 x_off, y_off, width, height: the part of the window inside
//                                the scene (the top-left width x height of the T x T arrays)
//   /index         [N]           int64 the window's number in the scene's row-major window grid
//   attributes on the root group:
//     kind = "satunet prediction", schema_version, rank, ranks, and the PredictionMeta:
//     tile_size, overlap, windows_total, encoding ("uint8" or "float16"), blend, tta,
//     class_names (comma-separated), scene path, scene_size (width, height), crs_wkt,
//     geotransform (6 doubles), checkpoint
//
// prediction.json (written last by rank 0, so a directory without it is unfinished) holds the
// same PredictionMeta and the list of shards.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/options.hpp"
#include "common/output_directory.hpp"
#include "shards/shard.hpp"

namespace satunet::shards {

constexpr int kPredictionSchemaVersion = 1;

constexpr int kPredictionIndexSchema = 1;
inline const char* const kPredictionIndexName = "prediction.json";

// How stored probabilities are encoded.
enum class ProbabilityEncoding { uint8, float16 };
// How overlapping windows are weighted when stitched.
enum class Blend { gaussian, cosine, uniform };
// Test-time augmentation: none, or the mean of the four flipped views.
enum class Tta { none, flips };

inline const options::EnumNames<ProbabilityEncoding>& enum_names(ProbabilityEncoding) {
  static const options::EnumNames<ProbabilityEncoding> names{
      {ProbabilityEncoding::uint8, "uint8"}, {ProbabilityEncoding::float16, "float16"}};
  return names;
}
inline const options::EnumNames<Blend>& enum_names(Blend) {
  static const options::EnumNames<Blend> names{
      {Blend::gaussian, "gaussian"}, {Blend::cosine, "cosine"}, {Blend::uniform, "uniform"}};
  return names;
}
inline const options::EnumNames<Tta>& enum_names(Tta) {
  static const options::EnumNames<Tta> names{{Tta::none, "none"}, {Tta::flips, "flips"}};
  return names;
}

// What a prediction is: the scene and its grid, the windows, the model's classes. Written into
// every shard and into prediction.json.
struct PredictionMeta {
  std::string scene;
  std::int64_t scene_width = 0;
  std::int64_t scene_height = 0;
  std::string crs_wkt;
  std::array<double, 6> geotransform{0, 1, 0, 0, 0, 1};
  int tile_size = 0;
  int overlap = 0;
  std::int64_t windows_total = 0;  // in the whole prediction, over all ranks' shards
  ProbabilityEncoding encoding = ProbabilityEncoding::uint8;
  Blend blend = Blend::gaussian;
  Tta tta = Tta::none;
  std::vector<std::string> class_names;
  std::string checkpoint;

  int classes() const { return static_cast<int>(class_names.size()); }
};

// One rank's shard.
struct PredictionHeader : PredictionMeta {
  int schema_version = kPredictionSchemaVersion;
  int rank = 0;
  int ranks = 1;
};

struct PredictionShardEntry {
  std::string path;  // relative to the directory
  std::int64_t windows = 0;
};

// A prediction directory: prediction.json (written last: without it a prediction is unfinished)
// and shards/rank-R-of-N.h5, one per rank.
Product prediction_product();
// Relative to the prediction directory.
std::string prediction_shard_name(int rank, int ranks);
// The shards of an earlier or killed prediction (maybe from more ranks) and their temporaries:
// only files named as prediction shards go, nothing else in DIR/shards.
void remove_prediction_shards(const std::string& dir);
// A prediction that only carried the windows to the stitcher: its index, shards and lock, and
// the directories where nothing else is left in them.
void remove_prediction(const std::string& dir, int ranks);

// prediction.json: the meta, the shards, and how the prediction was made.
struct PredictionIndex : PredictionMeta {
  std::string crs;  // the CRS's name, for people
  std::vector<PredictionShardEntry> shards;
  int ranks = 1;
  double seconds = 0;
  std::string command_line;

  // Throws "<dir>: ..." when the directory holds no finished prediction.
  static PredictionIndex load(const std::string& dir);
  // From the text of a prediction.json (`path` names it in errors); sizes and counts checked.
  static PredictionIndex from_json(const std::string& text, const std::string& path);
  static bool present(const std::string& dir);
  void check(const std::string& path) const;
  void save(const std::string& dir) const;
  std::string to_json() const;
  std::string describe(const std::string& dir) const;  // for `satunet info PRED`
};

// IEEE half precision <-> float, for the float16 encoding.
std::uint16_t float_to_half(float value);
float half_to_float(std::uint16_t bits);
// The probability a stored uint8 stands for (written as p * 255, rounded); every reader of
// stored probabilities decodes them here, so that their sums agree to the bit.
inline float uint8_probability(std::uint8_t stored) {
  return static_cast<float>(stored) * (1.0f / 255.0f);
}

// One window's chunks as the shard's filters store them (encode_chunk), made on any thread.
struct EncodedWindow {
  std::vector<std::uint8_t> probabilities;
  std::vector<std::uint8_t> valid;
};

class PredictionWriter {
 public:
  PredictionWriter(const std::string& path, const PredictionHeader& header,
                   Compression compression);
  ~PredictionWriter();  // an uncommitted shard is removed
  PredictionWriter(const PredictionWriter&) = delete;
  PredictionWriter& operator=(const PredictionWriter&) = delete;

  // probabilities: C*T*T values in the header's encoding (uint8, or float16 bits);
  // valid: T*T bytes.
  void append(std::int64_t index, const TileWindow& window, const void* probabilities,
              const std::uint8_t* valid);
  // A window compressed as this shard's datasets store it; safe on any thread (no HDF5), so
  // that many threads compress while one appends: HDF5's filters would run on the appending
  // thread alone.
  EncodedWindow encode(const void* probabilities, const std::uint8_t* valid) const;
  void append(std::int64_t index, const TileWindow& window, const EncodedWindow& encoded);
  std::int64_t windows() const;
  void commit();

 private:
  struct Impl;
  template <typename WriteWindow>
  void append_row(std::int64_t index, const TileWindow& window, WriteWindow write_window);
  std::unique_ptr<Impl> impl_;
};

class PredictionReader {
 public:
  // Refuses other schemas, training shards and files of another kind, naming the file.
  explicit PredictionReader(const std::string& path);
  ~PredictionReader();
  PredictionReader(PredictionReader&&) noexcept;
  PredictionReader& operator=(PredictionReader&&) noexcept;

  const PredictionHeader& header() const;
  const std::string& path() const;
  std::int64_t windows() const;
  std::vector<TileWindow> window_rows() const;
  std::vector<std::int64_t> indices() const;
  // Row `row` of the file: C*T*T probabilities in [0, 1], and T*T validity bytes.
  void read(std::int64_t row, float* probabilities, std::uint8_t* valid) const;
  // The same with the probabilities as stored: C*T*T values of the header's encoding (uint8,
  // or float16 bits), decoded by uint8_probability or half_to_float.
  void read_stored(std::int64_t row, void* probabilities, std::uint8_t* valid) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace satunet::shards
