// HDF5 shards: a dataset's tiles (ShardReader) and a prediction's windows (PredictionReader),
// header and every tile read back.
#include <vector>

#include "fuzz_input.hpp"
#include "shards/prediction.hpp"
#include "shards/shard.hpp"

namespace {

// Tiles are read into buffers of the size the header declares, up to what a fuzzing process
// can hold (the readers bound it at kMaxTileValues, which is more).
constexpr std::int64_t kMostValuesRead = std::int64_t{1} << 22;

void read_dataset_shard(const std::string& path) {
  const satunet::shards::ShardReader reader(path);
  const auto& header = reader.header();
  const std::int64_t values = std::int64_t{header.tile_size} * header.tile_size * header.bands;
  if (values > kMostValuesRead)
    return;
  std::vector<float> image(static_cast<std::size_t>(values));
  std::vector<std::uint8_t> labels(static_cast<std::size_t>(header.tile_size) * header.tile_size);
  for (std::int64_t tile = 0; tile < std::min<std::int64_t>(reader.tiles(), 16); ++tile) {
    reader.read_image_as_float(tile, image.data());
    reader.read_labels(tile, labels.data());
  }
  (void)reader.windows();
}

void read_prediction_shard(const std::string& path) {
  const satunet::shards::PredictionReader reader(path);
  const auto& header = reader.header();
  const std::int64_t plane = std::int64_t{header.tile_size} * header.tile_size;
  if (plane * header.classes() > kMostValuesRead)
    return;
  std::vector<float> probabilities(static_cast<std::size_t>(plane * header.classes()));
  std::vector<std::uint8_t> valid(static_cast<std::size_t>(plane));
  for (std::int64_t row = 0; row < std::min<std::int64_t>(reader.windows(), 16); ++row)
    reader.read(row, probabilities.data(), valid.data());
  (void)reader.indices();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = satunet::fuzz::input_file(data, size, ".h5");
  satunet::fuzz::expect_clean([&] { read_dataset_shard(path); });
  satunet::fuzz::expect_clean([&] { read_prediction_shard(path); });
  return 0;
}
