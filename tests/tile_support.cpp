#include "tile_support.hpp"

namespace satunet::test {

std::map<TileKey, StoredTile> read_tiles(const std::string& dataset_dir) {
  const shards::Manifest manifest = shards::Manifest::load(dataset_dir);
  std::map<TileKey, StoredTile> tiles;
  for (const shards::ShardEntry& entry : manifest.shards) {
    const shards::ShardReader reader(dataset_dir + "/" + entry.path);
    const auto& header = reader.header();
    const std::size_t plane = static_cast<std::size_t>(header.tile_size * header.tile_size);
    std::vector<float> image(plane * header.bands);
    for (std::int64_t i = 0; i < reader.tiles(); ++i) {
      StoredTile tile;
      tile.split = header.split;
      tile.window = reader.window(i);
      reader.read_image_as_float(i, image.data());
      tile.image.assign(image.begin(), image.end());
      tile.labels.resize(plane);
      reader.read_labels(i, tile.labels.data());
      tiles[{reader.scene(i), tile.window.x_off, tile.window.y_off}] = std::move(tile);
    }
  }
  return tiles;
}

}  // namespace satunet::test
