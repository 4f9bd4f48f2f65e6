#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "comm/mpi_communicator.hpp"
#include "common/labels.hpp"
#include "data/augment.hpp"
#include "data/dataset.hpp"
#include "data/loader.hpp"
#include "data/sampler.hpp"
#include "synth/synth.hpp"
#include "test_support.hpp"
#include "tiling/tiler.hpp"

namespace satunet::data {
namespace {

// A small tiled dataset of a generated scene (64 px tiles, no val split unless asked).
std::string small_dataset(const std::string& name, double val_fraction = 0) {
  return test::make_synthetic_dataset(test::fresh_directory(name), 256, val_fraction, 1);
}

}  // namespace

TEST(Sampler, RanksAreDisjointEqualAndCoverTheData) {
  const std::int64_t size = 103;
  const int world = 4;
  std::multiset<std::int64_t> seen;
  std::size_t length = 0;
  for (int rank = 0; rank < world; ++rank) {
    const DistributedSampler sampler(size, rank, world, 7);
    const auto mine = sampler.indices(3);
    if (rank == 0)
      length = mine.size();
    EXPECT_EQ(mine.size(), length) << "every rank runs the same number of steps";
    EXPECT_EQ(static_cast<std::int64_t>(mine.size()), sampler.per_rank());
    seen.insert(mine.begin(), mine.end());
    EXPECT_EQ(mine, DistributedSampler(size, rank, world, 7).indices(3)) << "deterministic";
    EXPECT_NE(mine, sampler.indices(4)) << "another epoch, another order";
  }
  EXPECT_EQ(seen.size(), 104u);  // 103 tiles and one wrapped around to pad
  for (std::int64_t i = 0; i < size; ++i)
    EXPECT_GE(seen.count(i), 1u) << i;
  EXPECT_EQ(DistributedSampler(size, 0, 4, 7).steps_per_epoch(5), 5);
}

TEST(Sampler, PermutationIsOneAndDependsOnTheSeed) {
  auto order = permutation(1000, 1);
  auto sorted = order;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> identity(1000);
  std::iota(identity.begin(), identity.end(), 0);
  EXPECT_EQ(sorted, identity);
  EXPECT_NE(order, identity);
  EXPECT_NE(order, permutation(1000, 2));
  EXPECT_THROW(DistributedSampler(0, 0, 1, 1), Error);
}

TEST(Augment, GeometryMovesImageAndLabelsTogether) {
  const int tile = 16, bands = 2;
  std::vector<float> image(bands * tile * tile);
  std::vector<std::uint8_t> labels(tile * tile);
  for (int i = 0; i < tile * tile; ++i) {
    image[i] = static_cast<float>(i);
    image[tile * tile + i] = static_cast<float>(2 * i);
    labels[i] = static_cast<std::uint8_t>(i % 251);
  }
  const AugmentOptions geometry{true, true, 0, 0};
  std::set<std::vector<float>> outcomes;
  for (std::int64_t index = 0; index < 40; ++index) {
    auto moved = image;
    auto moved_labels = labels;
    augment(moved.data(), moved_labels.data(), bands, tile, geometry, 5, 1, index);
    for (int i = 0; i < tile * tile; ++i) {
      ASSERT_EQ(moved_labels[i], static_cast<int>(moved[i]) % 251);
      ASSERT_EQ(moved[tile * tile + i], 2 * moved[i]);
    }
    auto again = image;
    auto again_labels = labels;
    augment(again.data(), again_labels.data(), bands, tile, geometry, 5, 1, index);
    EXPECT_EQ(again, moved) << "decided by (seed, epoch, tile) alone";
    outcomes.insert(moved);
  }
  EXPECT_EQ(outcomes.size(), 8u) << "flips and quarter turns give the 8 symmetries of a square";
}

TEST(Augment, BrightnessAndContrastStayInBounds) {
  std::vector<float> image(2 * 8 * 8, 1.0f);
  std::vector<std::uint8_t> labels(8 * 8, 1);
  augment(image.data(), labels.data(), 2, 8, {false, false, 0.1, 0.2}, 1, 0, 0);
  EXPECT_GE(image[0], 1.0f * 0.8f - 0.1f);
  EXPECT_LE(image[0], 1.0f * 1.2f + 0.1f);
  EXPECT_NE(image[0], 1.0f);
  EXPECT_EQ(labels, std::vector<std::uint8_t>(8 * 8, 1));
}

TEST(Augment, ZoomMovesImageAndLabelsTogetherAndIgnoresWhatComesFromOutside) {
  // Band 0 is x and band 1 is y (bilinear sampling reproduces them exactly); a label names its
  // pixel (x + 15 y < 255), so nearest sampling must land within half a pixel of the image's.
  const int tile = 15, plane = tile * tile;
  std::vector<float> image(2 * plane);
  std::vector<std::uint8_t> labels(plane);
  for (int y = 0; y < tile; ++y)
    for (int x = 0; x < tile; ++x) {
      image[y * tile + x] = static_cast<float>(x);
      image[plane + y * tile + x] = static_cast<float>(y);
      labels[y * tile + x] = static_cast<std::uint8_t>(x + tile * y);
    }
  AugmentOptions zoom;
  zoom.scale = 1.0;
  int zoomed_out = 0, zoomed_in = 0;
  for (std::int64_t index = 0; index < 40; ++index) {
    auto moved = image;
    auto moved_labels = labels;
    augment(moved.data(), moved_labels.data(), 2, tile, zoom, 3, 0, index);
    for (int i = 0; i < plane; ++i) {
      if (moved_labels[i] == kIgnoreLabel) {
        ASSERT_EQ(moved[i], 0.0f);
        continue;
      }
      ASSERT_LE(std::abs(moved[i] - moved_labels[i] % tile), 0.5f + 1e-4f) << index;
      ASSERT_LE(std::abs(moved[plane + i] - moved_labels[i] / tile), 0.5f + 1e-4f) << index;
    }
    zoomed_out += std::count(moved_labels.begin(), moved_labels.end(), kIgnoreLabel) > 0;
    zoomed_in += std::abs(moved[1] - moved[0]) < 0.9f;
    auto again = image;
    auto again_labels = labels;
    augment(again.data(), again_labels.data(), 2, tile, zoom, 3, 0, index);
    EXPECT_EQ(again_labels, moved_labels) << "decided by (seed, epoch, tile) alone";
  }
  EXPECT_GT(zoomed_out, 5);
  EXPECT_GT(zoomed_in, 5);
}

TEST(Augment, ColourJitterMovesBandsApartWithinItsBoundsAndLeavesLabels) {
  const int tile = 8, plane = tile * tile, bands = 3;
  std::vector<float> image(bands * plane);
  for (int b = 0; b < bands; ++b)
    std::fill(image.begin() + b * plane, image.begin() + (b + 1) * plane, 0.5f * (b - 1));
  const std::vector<std::uint8_t> labels(plane, 2);
  AugmentOptions colour;
  colour.colour = 0.2;
  std::set<std::vector<float>> outcomes;
  for (std::int64_t index = 0; index < 10; ++index) {
    auto jittered = image;
    auto same_labels = labels;
    augment(jittered.data(), same_labels.data(), bands, tile, colour, 9, 2, index);
    EXPECT_EQ(same_labels, labels);
    std::vector<float> per_band;
    for (int b = 0; b < bands; ++b) {
      const float value = jittered[b * plane];
      EXPECT_EQ(std::count(jittered.begin() + b * plane, jittered.begin() + (b + 1) * plane, value),
                plane)
          << "one gain and offset per band";
      // After gain and offset |x'| <= 0.5 * 1.2 + 0.2 = 0.8, and so is their mean m; the
      // saturation leaves m + (x' - m) * s with s <= 1.2.
      EXPECT_LE(std::abs(value), 0.8f + (0.8f + 0.8f) * 1.2f);
      per_band.push_back(value - image[b * plane]);
    }
    EXPECT_FALSE(per_band[0] == per_band[1] && per_band[1] == per_band[2])
        << "the bands move apart, unlike brightness";
    outcomes.insert(jittered);
  }
  EXPECT_EQ(outcomes.size(), 10u);
}

TEST(Dataset, NormalisesWithTheManifestStatistics) {
  const std::string dir = small_dataset("dataset");
  const ShardDataset dataset(dir, "train");
  EXPECT_EQ(dataset.size(), 15);  // 4 x 4, less the corner tile that is mostly nodata
  EXPECT_EQ(dataset.bands(), 3);
  const int plane = 64 * 64;
  std::vector<float> image(3 * plane);
  std::vector<std::uint8_t> labels(plane);
  double sum = 0, squares = 0;
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < dataset.size(); ++i) {
    dataset.read(i, image.data(), labels.data());
    for (int p = 0; p < plane; ++p) {
      if (labels[p] == 255)
        continue;  // nodata: not in the statistics
      sum += image[p];
      squares += image[p] * image[p];
      ++count;
    }
  }
  const double mean = sum / count;
  EXPECT_NEAR(mean, 0.0, 1e-4);
  EXPECT_NEAR(std::sqrt(squares / count - mean * mean), 1.0, 1e-3);
  try {
    ShardDataset(dir, "val");
    FAIL() << "no val tiles expected";
  } catch (const Error& error) {
    EXPECT_EQ(std::string(error.what()), dir + ": no val tiles in the dataset");
  }
}

TEST(Dataset, AManifestClaimingOtherClassesThanItsShardsIsRefused) {
  const std::string dir = small_dataset("claims");
  auto manifest = nlohmann::json::parse(test::file_bytes(dir + "/manifest.json"));
  manifest["classes"].push_back("water");
  manifest["classes"].push_back("forest");
  for (auto& [split, pixels] : manifest["class_pixels"].items()) {
    pixels.push_back(0);
    pixels.push_back(0);
  }
  std::ofstream(dir + "/manifest.json") << manifest.dump();
  try {
    ShardDataset(dir, "train");
    ADD_FAILURE() << "a 5-class dataset over 3-class shards";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what())
                  .find(": classes background,building,road, the manifest says "
                        "background,building,road,water,forest"),
              std::string::npos)
        << error.what();
  }
}

TEST(Loader, BatchesDoNotDependOnPrefetchAndResumeMidEpoch) {
  const std::string dir = small_dataset("dataset");
  const ShardDataset dataset(dir, "train");
  const DistributedSampler sampler(dataset.size(), 0, 1, 3);
  auto epoch_batches = [&](int prefetch, std::int64_t first_step) {
    StreamingLoader loader(dataset, sampler, 3, prefetch, AugmentOptions::standard(), 11);
    loader.start_epoch(2, first_step);
    std::vector<Batch> batches;
    Batch batch;
    while (loader.next(batch))
      batches.push_back(batch);
    EXPECT_GE(loader.wait_seconds(), 0.0);
    return batches;
  };
  const auto one = epoch_batches(1, 0);
  const auto deep = epoch_batches(6, 0);
  ASSERT_EQ(one.size(), 5u);  // 15 tiles, batches of 3
  ASSERT_EQ(deep.size(), one.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(one[i].indices, deep[i].indices);
    EXPECT_EQ(one[i].images, deep[i].images);
    EXPECT_EQ(one[i].labels, deep[i].labels);
  }
  const auto resumed = epoch_batches(2, 3);
  ASSERT_EQ(resumed.size(), 2u);
  EXPECT_EQ(resumed[0].images, one[3].images);
  EXPECT_EQ(resumed[1].indices, one[4].indices);
  EXPECT_THROW(StreamingLoader(dataset, sampler, 17, 1, {}, 1), Error);
}

}  // namespace satunet::data
