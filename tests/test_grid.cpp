#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "common/error.hpp"
#include "test_support.hpp"
#include "tiling/grid.hpp"
#include "tiling/scene_list.hpp"

#include <fstream>

namespace satunet::tiling {

TEST(TileGrid, OffsetsCoverTheScene) {
  EXPECT_EQ(tile_offsets(1000, 256, 224), (std::vector<std::int64_t>{0, 224, 448, 672, 896}));
  EXPECT_EQ(tile_offsets(256, 256, 224), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(tile_offsets(100, 256, 256), (std::vector<std::int64_t>{0}));
  EXPECT_EQ(tile_offsets(512, 256, 256), (std::vector<std::int64_t>{0, 256}));
  EXPECT_EQ(tile_offsets(513, 256, 256), (std::vector<std::int64_t>{0, 256, 512}));
}

TEST(TileGrid, SplitHasTheValFractionAndNoOverlapAcrossSplits) {
  const int tile = 64, stride = 48, block = 4;
  const std::vector<SplitPlan::SceneGrid> grids{{40, 40}, {13, 7}};
  const SplitPlan plan(grids, tile, stride, block, 0.2, 11);
  const std::int64_t blocks = 10 * 10 + 4 * 2;
  EXPECT_EQ(plan.val_blocks(), std::llround(0.2 * blocks));
  std::int64_t val = 0, guard = 0, train = 0;
  for (int scene = 0; scene < 2; ++scene) {
    for (std::int64_t r = 0; r < grids[scene].rows; ++r) {
      for (std::int64_t c = 0; c < grids[scene].columns; ++c) {
        const Split split = plan.split_of(scene, c, r);
        val += split == Split::val;
        guard += split == Split::guard;
        train += split == Split::train;
        if (split != Split::train)
          continue;
        // No val tile may share a pixel with this train tile.
        for (std::int64_t r2 = 0; r2 < grids[scene].rows; ++r2)
          for (std::int64_t c2 = 0; c2 < grids[scene].columns; ++c2)
            if (std::abs(r2 - r) * stride < tile && std::abs(c2 - c) * stride < tile) {
              ASSERT_NE(plan.split_of(scene, c2, r2), Split::val)
                  << "train (" << c << "," << r << ") overlaps val (" << c2 << "," << r2 << ")";
            }
      }
    }
  }
  EXPECT_GT(val, 0);
  EXPECT_GT(guard, 0);
  EXPECT_GT(train, val);
  // Another seed picks other blocks.
  const SplitPlan other(grids, tile, stride, block, 0.2, 12);
  int differences = 0;
  for (std::int64_t r = 0; r < 40; ++r)
    for (std::int64_t c = 0; c < 40; ++c)
      differences += plan.split_of(0, c, r) != other.split_of(0, c, r);
  EXPECT_GT(differences, 0);
}

TEST(TileGrid, NoOverlapMeansNoGuards) {
  const SplitPlan plan({{20, 20}}, 64, 64, 4, 0.3, 1);
  for (std::int64_t r = 0; r < 20; ++r)
    for (std::int64_t c = 0; c < 20; ++c)
      EXPECT_NE(plan.split_of(0, c, r), Split::guard);
}

TEST(TileGrid, RunningStatsMergeMatchesDirectComputation) {
  std::mt19937 rng(3);
  std::normal_distribution<double> normal(100, 15);
  std::vector<double> values(10000);
  for (double& value : values)
    value = normal(rng);
  double sum = 0;
  for (double value : values)
    sum += value;
  const double mean = sum / values.size();
  double m2 = 0;
  for (double value : values)
    m2 += (value - mean) * (value - mean);
  // Merge in uneven groups, as ranks and tiles do.
  RunningStats total;
  std::size_t begin = 0;
  for (std::size_t size : {1u, 999u, 3000u, 17u, 5983u}) {
    RunningStats part;
    double part_sum = 0;
    for (std::size_t i = begin; i < begin + size; ++i)
      part_sum += values[i];
    part.count = static_cast<std::int64_t>(size);
    part.mean = part_sum / size;
    for (std::size_t i = begin; i < begin + size; ++i)
      part.m2 += (values[i] - part.mean) * (values[i] - part.mean);
    total.merge(part);
    begin += size;
  }
  EXPECT_EQ(total.count, 10000);
  EXPECT_NEAR(total.mean, mean, 1e-9);
  EXPECT_NEAR(total.variance(), m2 / 10000, 1e-7);
}

TEST(TileGrid, SceneListCsv) {
  const std::string dir = test::fresh_directory("csv");
  std::ofstream(dir + "/scenes.csv") << "image,mask,labels\n"
                                        "a.tif,,building=b.geojson;road=/abs/r.geojson\n"
                                        "# a comment\n"
                                        "/data/c.tif,c_mask.tif,\n";
  const auto scenes = read_scene_list(dir + "/scenes.csv");
  ASSERT_EQ(scenes.size(), 2u);
  EXPECT_EQ(scenes[0].image, dir + "/a.tif");
  ASSERT_EQ(scenes[0].labels.size(), 2u);
  EXPECT_EQ(scenes[0].labels[0].class_name, "building");
  EXPECT_EQ(scenes[0].labels[0].path, dir + "/b.geojson");
  EXPECT_EQ(scenes[0].labels[1].path, "/abs/r.geojson");
  EXPECT_EQ(scenes[1].image, "/data/c.tif");
  EXPECT_EQ(scenes[1].mask, dir + "/c_mask.tif");
  std::ofstream(dir + "/bad.csv") << "picture,labels\nx.tif,\n";
  EXPECT_THROW(read_scene_list(dir + "/bad.csv"), Error);
}

}  // namespace satunet::tiling
