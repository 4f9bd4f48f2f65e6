// `satunet tile` on several ranks cuts exactly the tiles one rank cuts.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "dist/mpi_communicator.hpp"
#include "synth/synth.hpp"
#include "tile_support.hpp"
#include "tiling/tiler.hpp"

namespace satunet::tiling {
namespace fs = std::filesystem;

TEST(MpiTile, SameTilesAndStatisticsOnAnyRankCount) {
  dist::MpiCommunicator world;
  const std::string base =
      std::string(SATUNET_TEST_TMP) + "/MpiTile.np" + std::to_string(world.size());
  synth::SynthOptions scene;
  scene.out_dir = base + "/scene";
  scene.size = 400;
  scene.seed = 9;
  if (world.rank() == 0) {
    fs::remove_all(base);
    synth::synthesize(scene);
  }
  world.barrier();

  TileOptions options;
  options.scenes = {{scene.out_dir + "/scene.tif",
                     "",
                     {{"building", scene.out_dir + "/buildings.geojson"},
                      {"road", scene.out_dir + "/roads.geojson"}}}};
  options.width_field = "width_m";
  options.tile = 64;
  options.overlap = 16;
  options.val_fraction = 0.2;
  options.split_block = 2;
  options.keep_empty = 0.5;
  options.shard_tiles = 7;
  options.out_dir = base + "/parallel";
  const shards::Manifest parallel = tile_dataset(options, world);
  if (world.rank() != 0)
    return;

  dist::MpiCommunicator self(MPI_COMM_SELF);
  options.out_dir = base + "/serial";
  const shards::Manifest serial = tile_dataset(options, self);

  std::set<int> writers;
  for (const auto& shard : parallel.shards)
    writers.insert(shard.rank);
  EXPECT_EQ(static_cast<int>(writers.size()), world.size()) << "every rank writes its own shards";
  EXPECT_EQ(parallel.tiles_per_split, serial.tiles_per_split);
  EXPECT_EQ(parallel.class_pixels, serial.class_pixels);
  EXPECT_EQ(parallel.dropped, serial.dropped);
  ASSERT_EQ(parallel.bands.size(), serial.bands.size());
  for (std::size_t b = 0; b < serial.bands.size(); ++b) {
    EXPECT_EQ(parallel.bands[b].count, serial.bands[b].count);
    EXPECT_NEAR(parallel.bands[b].mean, serial.bands[b].mean, 1e-9 * serial.bands[b].mean);
    EXPECT_NEAR(parallel.bands[b].std, serial.bands[b].std, 1e-9 * serial.bands[b].std);
  }
  const auto many = test::read_tiles(base + "/parallel");
  const auto one = test::read_tiles(base + "/serial");
  ASSERT_EQ(many.size(), one.size());
  for (const auto& [key, tile] : one) {
    const auto found = many.find(key);
    ASSERT_NE(found, many.end()) << "tile missing on " << world.size() << " ranks";
    EXPECT_EQ(found->second.split, tile.split);
    EXPECT_EQ(found->second.image, tile.image);
    EXPECT_EQ(found->second.labels, tile.labels);
  }
}

}  // namespace satunet::tiling
