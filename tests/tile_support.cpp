#include "tile_support.hpp"

#include "dist/mpi_communicator.hpp"
#include "synth/synth.hpp"
#include "tiling/tiler.hpp"

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

std::string make_synthetic_dataset(const std::string& dir, std::int64_t size, double val_fraction,
                                   int split_block) {
  synth::SynthOptions scene;
  scene.out_dir = dir + "/scene";
  scene.size = size;
  scene.seed = 3;
  synth::synthesize(scene);
  tiling::TileOptions tiles;
  tiles.scenes = {{scene.out_dir + "/scene.tif",
                   "",
                   {{"building", scene.out_dir + "/buildings.geojson"},
                    {"road", scene.out_dir + "/roads.geojson"}}}};
  tiles.width_field = "width_m";
  tiles.tile = 64;
  tiles.overlap = 0;
  tiles.val_fraction = val_fraction;
  tiles.split_block = split_block;
  tiles.out_dir = dir + "/dataset";
  dist::MpiCommunicator self(MPI_COMM_SELF);
  tiling::tile_dataset(tiles, self);
  return tiles.out_dir;
}

}  // namespace satunet::test
