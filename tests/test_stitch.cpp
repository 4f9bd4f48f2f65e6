// satunet stitch: blend weights, streaming blending back to the truth on generated and real
// scenes, polygons, and bad input.
#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "comm/mpi_communicator.hpp"
#include "common/files.hpp"
#include "common/labels.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"
#include "geo/window_grid.hpp"
#include "shards/prediction.hpp"
#include "stitch/blend.hpp"
#include "stitch/blender.hpp"
#include "stitch/road_cleanup.hpp"
#include "stitch/stitcher.hpp"
#include "test_support.hpp"

namespace satunet {
namespace {

namespace fs = std::filesystem;
using shards::Blend;
using test::count_equal;
using test::kClasses;
using test::make_checkpoint;
using test::predict_options;
using test::write_prediction_from_truth;

}  // namespace

TEST(Stitch, BlendWeightsArePositiveSymmetricAndPeakInTheCentre) {
  for (Blend blend : {Blend::gaussian, Blend::cosine, Blend::uniform}) {
    const std::vector<float> weights = stitch::blend_weights(blend, 64);
    ASSERT_EQ(weights.size(), 64u * 64u);
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) {
        const float w = weights[static_cast<std::size_t>(y * 64 + x)];
        EXPECT_GT(w, 0.0f);
        EXPECT_EQ(w, weights[static_cast<std::size_t>((63 - y) * 64 + (63 - x))]);
        EXPECT_EQ(w, weights[static_cast<std::size_t>(x * 64 + y)]);
      }
    const float centre = weights[32 * 64 + 32];
    const float corner = weights[0];
    if (blend == Blend::uniform)
      EXPECT_EQ(corner, centre);
    else
      EXPECT_LT(corner * 100, centre) << options::enum_name(blend);
  }
  // sigma = tile / 8 = 8 px, sampled at pixel centres: pixel 31 is 0.5 px from the centre (32),
  // pixel 39 is 7.5 px from it.
  const std::vector<float> gaussian = stitch::blend_weights(Blend::gaussian, 64);
  EXPECT_NEAR(gaussian[31 * 64 + 39] / gaussian[31 * 64 + 31],
              std::exp(-(7.5 * 7.5 - 0.5 * 0.5) / (2 * 8 * 8)), 1e-5);
  EXPECT_THROW(options::parse_enum<Blend>("linear", "--blend"), UsageError);
}

TEST(Stitch, PerfectWindowsGiveBackTheTruthAndPolygonsRasterizeBackToIt) {
  const std::string dir = test::fresh_directory("stitch-truth");
  const auto scene = test::synthetic_scene(dir + "/scene", 256, 5);
  struct Case {
    std::string truth;
    std::vector<std::string> classes;
  };
  for (const Case& truth :
       {Case{scene.truth_path, kClasses},
        Case{test::real_data("kampala_buildings/mask.tif"), {"background", "building"}}}) {
    SCOPED_TRACE(truth.truth);
    write_prediction_from_truth(truth.truth, truth.classes, dir + "/pred");
    const auto run = test::run_satunet(
        {"stitch", "--pred", dir + "/pred", "--out", dir + "/mask.tif", "--overwrite", "--polygons",
         dir + "/buildings.geojson", "--polygon-classes", "building", "-q"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("polygons: " + dir + "/buildings.geojson ("), std::string::npos)
        << run.out;
    const auto mask = test::read_band_u8(dir + "/mask.tif");
    EXPECT_EQ(mask, test::read_band_u8(truth.truth)) << "one-hot windows blend back exactly";
    ASSERT_GT(count_equal(mask, 1), 1000u);

    const std::string scores = dir + "/scores.json";
    const auto evaluated = test::run_satunet(
        {"evaluate", "--pred", dir + "/mask.tif", "--truth-labels",
         "building=" + dir + "/buildings.geojson", "--json", scores, "--overwrite", "-q"});
    ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
    const auto json = nlohmann::json::parse(test::file_bytes(scores));
    EXPECT_EQ(json["classes"]["building"]["iou"], 1.0) << json.dump();

    // Fields: class name, id and ground areas that add up to the pixels' area.
    geo::init_gdal();
    GDALDatasetUniquePtr vectors(
        GDALDataset::Open((dir + "/buildings.geojson").c_str(), GDAL_OF_VECTOR));
    ASSERT_TRUE(vectors);
    OGRLayer* layer = vectors->GetLayer(0);
    EXPECT_TRUE(layer->GetSpatialRef()->IsSame(&geo::Raster::open(truth.truth).info().srs().ogr()));
    double area = 0;
    for (auto& feature : *layer) {
      EXPECT_STREQ(feature->GetFieldAsString("class"), "building");
      EXPECT_EQ(feature->GetFieldAsInteger("class_id"), 1);
      area += feature->GetFieldAsDouble("area_m2");
    }
    const geo::RasterInfo info = geo::Raster::open(truth.truth).info();
    const double pixels = static_cast<double>(count_equal(mask, 1));
    if (info.srs().is_projected()) {
      EXPECT_NEAR(area, pixels * info.transform.pixel_width() * info.transform.pixel_height(),
                  1e-6 * area);
    } else {
      // Kampala is on the equator: a pixel of 6.7e-7 degrees is about 7.5 cm on a side.
      const double pixel_m = info.transform.pixel_width() * 111320.0;
      EXPECT_NEAR(area, pixels * pixel_m * pixel_m, 0.01 * area);
    }
  }
  // Simplification and a minimum area leave fewer, smaller-vertex polygons.
  const auto simplified =
      test::run_satunet({"stitch", "--pred", dir + "/pred", "--out", dir + "/mask.tif",
                         "--overwrite", "--polygons", dir + "/simple.geojson", "--simplify", "0.5",
                         "--min-area", "20", "--probabilities", dir + "/probabilities.tif", "-q"});
  ASSERT_EQ(simplified.exit_code, 0) << simplified.err;
  // Class ids are categories, compressed as they are; probabilities as differences.
  auto predictor = [](const std::string& path) {
    GDALDatasetUniquePtr raster(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
    const char* value = raster->GetMetadataItem("PREDICTOR", "IMAGE_STRUCTURE");
    return std::string(value ? value : "none");
  };
  EXPECT_EQ(predictor(dir + "/mask.tif"), "none");
  EXPECT_EQ(predictor(dir + "/probabilities.tif"), "2");
  // Another codec, the user's choice for both rasters: the same pixels.
  auto compression = [](const std::string& path) {
    GDALDatasetUniquePtr raster(GDALDataset::Open(path.c_str(), GDAL_OF_RASTER));
    return std::string(raster->GetMetadataItem("COMPRESSION", "IMAGE_STRUCTURE"));
  };
  EXPECT_EQ(compression(dir + "/mask.tif"), "DEFLATE") << "the default";
  for (const std::string codec : {"zstd", "lzw"}) {
    const auto recompressed = test::run_satunet(
        {"stitch", "--pred", dir + "/pred", "--out", dir + "/" + codec + ".tif", "--probabilities",
         dir + "/" + codec + "-probabilities.tif", "--map-compress", codec, "--overwrite", "-q"});
    ASSERT_EQ(recompressed.exit_code, 0) << recompressed.err;
    EXPECT_EQ(test::read_band_u8(dir + "/" + codec + ".tif"),
              test::read_band_u8(dir + "/mask.tif"));
    EXPECT_EQ(test::read_band_u8(dir + "/" + codec + "-probabilities.tif", 2),
              test::read_band_u8(dir + "/probabilities.tif", 2));
    for (const std::string& written : {codec + ".tif", codec + "-probabilities.tif"})
      EXPECT_EQ(compression(dir + "/" + written), codec == "zstd" ? "ZSTD" : "LZW") << written;
  }
  GDALDatasetUniquePtr all(GDALDataset::Open((dir + "/buildings.geojson").c_str(), GDAL_OF_VECTOR));
  GDALDatasetUniquePtr simple(GDALDataset::Open((dir + "/simple.geojson").c_str(), GDAL_OF_VECTOR));
  EXPECT_LT(simple->GetLayer(0)->GetFeatureCount(), all->GetLayer(0)->GetFeatureCount());
  for (auto& feature : *simple->GetLayer(0))
    EXPECT_GE(feature->GetFieldAsDouble("area_m2"), 20.0);
}

TEST(Stitch, BadInputFailsWithAClearMessage) {
  const std::string dir = test::fresh_directory("stitch-errors");
  const auto scene = test::synthetic_scene(dir + "/scene", 128, 5);
  const std::string checkpoint = make_checkpoint(dir + "/model.pt", 3);
  {
    comm::MpiCommunicator self(comm::MpiScope::self);
    predict::predict(predict_options(checkpoint, scene.scene_path, dir + "/pred"), self);
  }
  using test::expect_failure;

  // No prediction, a missing shard, a missing window.
  auto stitch = [&](const std::string& prediction) {
    return test::run_satunet(
        {"stitch", "--pred", prediction, "--out", dir + "/mask.tif", "--overwrite", "-q"});
  };
  expect_failure(stitch(dir + "/scene"), 1,
                 dir +
                     "/scene: no prediction.json: not a prediction directory, or satunet "
                     "predict did not finish");
  const auto index = shards::PredictionIndex::load(dir + "/pred");
  const std::string shard = dir + "/pred/" + index.shards.at(0).path;
  fs::copy_file(shard, dir + "/shard.h5");
  fs::remove(shard);
  expect_failure(stitch(dir + "/pred"), 1, shard + ": missing prediction shard");
  EXPECT_FALSE(fs::exists(dir + "/mask.tif"));

  {  // the same shard with its last window left out
    const shards::PredictionReader full(dir + "/shard.h5");
    shards::PredictionWriter partial(shard, full.header(), shards::Compression::deflate(1));
    const auto windows = full.window_rows();
    const auto indices = full.indices();
    const auto plane = static_cast<std::size_t>(full.header().tile_size * full.header().tile_size);
    std::vector<float> probabilities(3 * plane);
    std::vector<std::uint8_t> bytes(3 * plane), valid(plane);
    for (std::int64_t row = 0; row + 1 < full.windows(); ++row) {
      full.read(row, probabilities.data(), valid.data());
      for (std::size_t i = 0; i < bytes.size(); ++i)
        bytes[i] = static_cast<std::uint8_t>(std::lround(probabilities[i] * 255));
      partial.append(indices[static_cast<std::size_t>(row)], windows[static_cast<std::size_t>(row)],
                     bytes.data(), valid.data());
    }
    partial.commit();
    auto edited = index;
    edited.shards.at(0).windows -= 1;
    edited.save(dir + "/pred");
  }
  const geo::WindowGrid grid(128, 128, 64, 16);
  expect_failure(stitch(dir + "/pred"), 1,
                 dir + "/pred: " + grid.describe(grid.count() - 1) +
                     " is missing from the prediction (no shard holds it)");
  expect_failure(test::run_satunet({"stitch", "--pred", dir + "/pred", "--out", dir + "/mask.tif",
                                    "--format", "JPEG"}),
                 2, "--format must be GTiff or COG");
  expect_failure(test::run_satunet({"stitch", "--pred", dir + "/pred", "--out", dir + "/mask.tif",
                                    "--map-compress", "lz4"}),
                 2, "--map-compress must be deflate, zstd, lzw or none (got 'lz4')");
  expect_failure(test::run_satunet({"stitch", "--pred", dir + "/pred", "--out", dir + "/mask.tif",
                                    "--simplify", "-1"}),
                 2, "--simplify must not be negative, got -1");
  EXPECT_FALSE(fs::exists(dir + "/mask.tif"));

  // A window in two shards, and an index of another schema or not JSON at all.
  fs::copy_file(dir + "/shard.h5", shard, fs::copy_options::overwrite_existing);
  fs::copy_file(shard, dir + "/pred/shards/again.h5");
  auto doubled = index;
  doubled.shards.push_back({"shards/again.h5", index.shards.at(0).windows});
  doubled.save(dir + "/pred");
  expect_failure(stitch(dir + "/pred"), 1,
                 dir + "/pred/shards/again.h5: " + grid.describe(0) + " is also in " + shard);
  index.save(dir + "/pred");
  expect_failure(
      test::run_satunet({"stitch", "--pred", dir + "/pred", "--out", dir + "/mask.tif",
                         "--polygons", dir + "/p.geojson", "--polygon-classes", "house"}),
      2, "--polygon-classes: 'house' is not a class of the prediction");
  std::string json = test::file_bytes(dir + "/pred/prediction.json");
  json.replace(json.find("\"schema_version\": 1"), 19, "\"schema_version\": 2");
  write_file(dir + "/pred/prediction.json", json);
  expect_failure(stitch(dir + "/pred"), 1,
                 dir +
                     "/pred/prediction.json: prediction schema version 2, this satunet reads "
                     "version 1");
  write_file(dir + "/pred/prediction.json", "{\"schema_version\": 1,");
  expect_failure(stitch(dir + "/pred"), 1, dir + "/pred/prediction.json: corrupt prediction index");
  EXPECT_FALSE(fs::exists(dir + "/mask.tif"));
}

TEST(Stitch, OutputsAreNeverReplacedUnasked) {
  const std::string dir = test::fresh_directory("stitch-overwrite");
  const auto scene = test::synthetic_scene(dir + "/scene", 128, 5);
  const std::string checkpoint = make_checkpoint(dir + "/model.pt", 3);
  {
    comm::MpiCommunicator self(comm::MpiScope::self);
    predict::predict(predict_options(checkpoint, scene.scene_path, dir + "/pred"), self);
  }
  auto stitch = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"stitch", "--pred", dir + "/pred", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_satunet(args);
  };
  const std::string scene_bytes = test::file_bytes(scene.scene_path);
  test::expect_failure(stitch({"--out", scene.scene_path, "--overwrite"}), 1,
                       scene.scene_path + ": is an input of this command");
  EXPECT_EQ(test::file_bytes(scene.scene_path), scene_bytes);
  // Nor one inside the prediction it reads.
  const std::string shard = dir + "/pred/" + shards::prediction_shard_name(0, 1);
  const std::string shard_bytes = test::file_bytes(shard);
  test::expect_failure(stitch({"--out", shard, "--overwrite"}), 1,
                       shard + ": lies inside " + dir + "/pred, an input of this command");
  EXPECT_EQ(test::file_bytes(shard), shard_bytes);

  std::ofstream(dir + "/mask.tif") << "an earlier result";
  test::expect_failure(stitch({"--out", dir + "/mask.tif"}), 1,
                       dir + "/mask.tif: exists; --overwrite replaces it");
  EXPECT_EQ(test::file_bytes(dir + "/mask.tif"), "an earlier result");
  test::expect_failure(stitch({"--out", dir + "/x.tif", "--probabilities", dir + "/x.tif"}), 2,
                       dir + "/x.tif is named for two outputs");
  EXPECT_FALSE(fs::exists(dir + "/x.tif"));
  ASSERT_EQ(stitch({"--out", dir + "/mask.tif", "--overwrite"}).exit_code, 0);
  EXPECT_EQ(test::read_band_u8(dir + "/mask.tif").size(), 128u * 128u);
}

// Shards of two predictions of one scene (another checkpoint, another TTA) never blend into one
// mask.
TEST(Stitch, ShardsOfAnotherPredictionAreRefused) {
  const std::string dir = test::fresh_directory("stitch-mixed");
  const auto scene = test::synthetic_scene(dir + "/scene", 128, 5);
  const std::string checkpoint = make_checkpoint(dir + "/model.pt", 3);
  {
    comm::MpiCommunicator self(comm::MpiScope::self);
    predict::predict(predict_options(checkpoint, scene.scene_path, dir + "/pred"), self);
  }
  const auto index = shards::PredictionIndex::load(dir + "/pred");
  const shards::PredictionReader whole(dir + "/pred/" + index.shards.at(0).path);
  const auto windows = whole.window_rows();
  const auto indices = whole.indices();
  const auto plane = static_cast<std::size_t>(whole.header().tile_size * whole.header().tile_size);
  // The windows as two ranks would have written them, the second rank's header changed by `edit`.
  auto split = [&](const std::function<void(shards::PredictionHeader&)>& edit) {
    auto two = index;
    two.shards.clear();
    two.ranks = 2;
    const std::int64_t half = whole.windows() / 2;
    std::vector<std::uint8_t> stored(2 * kClasses.size() * plane), valid(plane);
    for (int rank = 0; rank < 2; ++rank) {
      shards::PredictionHeader header = whole.header();
      header.rank = rank;
      header.ranks = 2;
      if (rank == 1)
        edit(header);
      const std::string name = shards::prediction_shard_name(rank, 2);
      shards::PredictionWriter part(dir + "/pred/" + name, header, shards::Compression::none());
      const std::int64_t first = rank == 0 ? 0 : half;
      const std::int64_t last = rank == 0 ? half : whole.windows();
      for (std::int64_t row = first; row < last; ++row) {
        whole.read_stored(row, stored.data(), valid.data());
        part.append(indices[static_cast<std::size_t>(row)], windows[static_cast<std::size_t>(row)],
                    stored.data(), valid.data());
      }
      part.commit();
      two.shards.push_back({name, last - first});
    }
    two.save(dir + "/pred");
    return test::run_satunet(
        {"stitch", "--pred", dir + "/pred", "--out", dir + "/mask.tif", "--overwrite", "-q"});
  };
  const std::string first = dir + "/pred/" + shards::prediction_shard_name(0, 2);
  const std::string second = dir + "/pred/" + shards::prediction_shard_name(1, 2);
  ASSERT_EQ(split([](shards::PredictionHeader&) {}).exit_code, 0) << "the same prediction, split";
  test::expect_failure(split([](shards::PredictionHeader& h) { h.checkpoint += ".other"; }), 1,
                       second + ": from another prediction than " + first + " (checkpoint differ)");
  test::expect_failure(split([](shards::PredictionHeader& h) { h.tta = shards::Tta::flips; }), 1,
                       second + ": from another prediction than " + first + " (TTA differ)");
}

}  // namespace satunet

namespace satunet {

// A prediction of 64 px windows overlapping by 16 over a width x height scene of 1 m pixels.
shards::PredictionMeta blend_meta(const std::string& dir, std::int64_t width, std::int64_t height) {
  shards::PredictionMeta meta;
  meta.scene = dir + "/scene.tif";
  meta.scene_width = width;
  meta.scene_height = height;
  meta.crs_wkt = geo::SpatialRef::from_epsg(32633).wkt();
  meta.geotransform = {500000, 1, 0, 4000000, 0, -1};
  meta.tile_size = 64;
  meta.overlap = 16;
  meta.class_names = kClasses;
  return meta;
}

TEST(Stitch, TheBlendTakesEveryWindowOnceInGridOrder) {
  const std::string dir = test::fresh_directory("stitch-order");
  const shards::PredictionMeta meta = blend_meta(dir, 100, 90);
  const geo::WindowGrid grid(100, 90, 64, 16);
  ASSERT_EQ(grid.count(), 4);
  const std::vector<std::uint8_t> probabilities(3 * 64 * 64, 85), valid(64 * 64, 1);
  {
    stitch::MaskBlender blender(dir + "/mask.tif", {}, false, meta, Blend::gaussian, 2);
    blender.add(0, probabilities.data(), valid.data());
    try {
      blender.add(2, probabilities.data(), valid.data());
      FAIL() << "a window out of order was blended";
    } catch (const Error& error) {
      EXPECT_EQ(std::string(error.what()), dir + "/mask.tif: " + grid.describe(2) +
                                               " given to the blend where " + grid.describe(1) +
                                               " was due: windows are blended in grid order");
    }
    blender.add(1, probabilities.data(), valid.data());
    EXPECT_THROW(blender.finish(), Error) << "windows 2 and 3 never came";
  }
  EXPECT_FALSE(fs::exists(dir + "/mask.tif")) << "an unfinished mask is removed";
  for (const auto& entry : fs::directory_iterator(dir))
    ADD_FAILURE() << "left behind: " << entry.path();

  // Every window once: equal probabilities everywhere give class 0 (ties go to the lower id).
  stitch::MaskBlender blender(dir + "/mask.tif", {}, false, meta, Blend::gaussian, 2);
  for (std::int64_t index = 0; index < grid.count(); ++index)
    blender.add(index, probabilities.data(), valid.data());
  EXPECT_EQ(blender.finish().windows, 4);
  const auto mask = test::read_band_u8(dir + "/mask.tif");
  EXPECT_EQ(count_equal(mask, 0), mask.size());
}

// Batches in place (predict --stitch-to) and windows one by one (stitch) give the same bytes,
// wherever a batch starts or ends in a row of the grid.
TEST(Stitch, BatchesBlendedInPlaceEqualWindowsAddedOneByOne) {
  const std::string dir = test::fresh_directory("stitch-batches");
  const shards::PredictionMeta meta = blend_meta(dir, 230, 170);
  const geo::WindowGrid grid(230, 170, 64, 16);
  ASSERT_GT(grid.columns(), 3);
  const std::size_t plane = 64 * 64, window_bytes = 3 * plane;
  const auto windows = static_cast<std::size_t>(grid.count());
  std::vector<std::uint8_t> probabilities(windows * window_bytes), valid(windows * plane);
  std::uint32_t state = 12345;
  auto next_random = [&] { return state = state * 1664525u + 1013904223u; };
  for (std::uint8_t& p : probabilities)
    p = static_cast<std::uint8_t>(next_random() >> 24);
  for (std::uint8_t& v : valid)
    v = (next_random() >> 28) != 0;  // one pixel in 16 without data
  {
    stitch::MaskBlender one_by_one(dir + "/one.tif", {}, false, meta, Blend::gaussian, 2);
    for (std::size_t i = 0; i < windows; ++i)
      one_by_one.add(static_cast<std::int64_t>(i), probabilities.data() + i * window_bytes,
                     valid.data() + i * plane);
    one_by_one.finish();
  }
  stitch::MaskBlender batched(dir + "/batched.tif", {}, false, meta, Blend::gaussian, 2);
  const std::int64_t batch = 3;  // not a divisor of the columns: batches straddle rows
  ASSERT_NE(grid.columns() % batch, 0);
  EXPECT_THROW(batched.add_windows(1, batch, probabilities.data(), valid.data()), Error)
      << "a batch must start at the window due";
  for (std::int64_t first = 0; first < grid.count(); first += batch) {
    const std::int64_t count = std::min(batch, grid.count() - first);
    batched.add_windows(first, count,
                        probabilities.data() + static_cast<std::size_t>(first) * window_bytes,
                        valid.data() + static_cast<std::size_t>(first) * plane);
  }
  batched.finish();
  const auto one = test::read_band_u8(dir + "/one.tif");
  EXPECT_GT(count_equal(one, 1), one.size() / 10) << "random windows give every class";
  EXPECT_EQ(test::read_band_u8(dir + "/batched.tif"), one);
}

// The blend against the definition, computed here the plain way: every pixel's sums start at
// zero and get weight * p from each window covering it, in grid order; its class is the largest
// sum (ties to the lower id), nodata where no window weighed it; its probabilities the sums over
// the weight. The blender stores each pixel's first term instead of adding it to zeroed sums,
// and labels few classes in one pass: both must give these bytes, for 2, 3 and 5 classes.
TEST(Stitch, TheBlendEqualsWeightedSumsComputedThePlainWay) {
  const std::string dir = test::fresh_directory("stitch-definition");
  const std::int64_t width = 230, height = 170;
  const geo::WindowGrid grid(width, height, 64, 16);
  const std::vector<float> weights = stitch::blend_weights(Blend::gaussian, 64);
  const std::size_t plane = 64 * 64;
  std::uint32_t state = 777;
  auto next_random = [&] { return state = state * 1664525u + 1013904223u; };
  for (const int classes : {2, 3, 5}) {
    SCOPED_TRACE(std::to_string(classes) + " classes");
    shards::PredictionMeta meta = blend_meta(dir, width, height);
    meta.class_names.clear();
    for (int c = 0; c < classes; ++c)
      meta.class_names.push_back("class" + std::to_string(c));
    const std::size_t window_bytes = static_cast<std::size_t>(classes) * plane;
    const auto windows = static_cast<std::size_t>(grid.count());
    std::vector<std::uint8_t> probabilities(windows * window_bytes), valid(windows * plane);
    for (std::uint8_t& p : probabilities)
      p = static_cast<std::uint8_t>(next_random() >> 24);
    for (std::uint8_t& v : valid)
      v = (next_random() >> 28) != 0;        // one pixel in 16 without data
    for (std::size_t i = 0; i < plane; ++i)  // and a patch no window of the corner has data in
      valid[i] = 0;

    const auto pixels = static_cast<std::size_t>(width * height);
    std::vector<float> sums(pixels * static_cast<std::size_t>(classes + 1), 0.0f);
    for (std::size_t i = 0; i < windows; ++i) {
      const geo::Window window = grid.inside(static_cast<std::int64_t>(i));
      for (std::int64_t ty = 0; ty < window.height; ++ty)
        for (std::int64_t tx = 0; tx < window.width; ++tx) {
          const std::size_t at = static_cast<std::size_t>(ty * 64 + tx);
          const float weight = valid[i * plane + at] ? weights[at] : 0.0f;
          const auto pixel =
              static_cast<std::size_t>((window.y_off + ty) * width + window.x_off + tx);
          for (int c = 0; c < classes; ++c)
            sums[pixel * static_cast<std::size_t>(classes + 1) + static_cast<std::size_t>(c)] +=
                weight *
                shards::uint8_probability(
                    probabilities[i * window_bytes + static_cast<std::size_t>(c) * plane + at]);
          sums[pixel * static_cast<std::size_t>(classes + 1) + static_cast<std::size_t>(classes)] +=
              weight;
        }
    }
    std::vector<std::uint8_t> expected(pixels, kIgnoreLabel);
    std::vector<std::vector<std::uint8_t>> expected_probabilities(
        static_cast<std::size_t>(classes), std::vector<std::uint8_t>(pixels, 0));
    for (std::size_t pixel = 0; pixel < pixels; ++pixel) {
      const float* sum = &sums[pixel * static_cast<std::size_t>(classes + 1)];
      float best = -1.0f;
      for (int c = 0; c < classes; ++c)
        if (sum[c] > best) {
          best = sum[c];
          if (sum[classes] > 0)
            expected[pixel] = static_cast<std::uint8_t>(c);
        }
      for (int c = 0; c < classes; ++c)
        expected_probabilities[static_cast<std::size_t>(c)][pixel] =
            sum[classes] > 0 ? static_cast<std::uint8_t>(
                                   std::lround(std::clamp(sum[c] / sum[classes], 0.0f, 1.0f) * 255))
                             : 0;
    }
    ASSERT_GT(count_equal(expected, kIgnoreLabel), 0u) << "the test has nodata pixels";

    const std::string mask = dir + "/mask" + std::to_string(classes) + ".tif";
    stitch::StitchOutputs outputs;
    outputs.probabilities = dir + "/probabilities" + std::to_string(classes) + ".tif";
    stitch::MaskBlender blender(mask, outputs, false, meta, Blend::gaussian, 2);
    const std::int64_t batch = 3;
    for (std::int64_t first = 0; first < grid.count(); first += batch)
      blender.add_windows(first, std::min(batch, grid.count() - first),
                          probabilities.data() + static_cast<std::size_t>(first) * window_bytes,
                          valid.data() + static_cast<std::size_t>(first) * plane);
    blender.finish();
    EXPECT_EQ(test::read_band_u8(mask), expected);
    for (int c = 0; c < classes; ++c)
      EXPECT_EQ(test::read_band_u8(outputs.probabilities, c + 1),
                expected_probabilities[static_cast<std::size_t>(c)])
          << "class " << c;
  }
}

// A road with a break, a whisker and a fragment beside it, on 1 m pixels: cleaned, it is one
// road as wide as before, without the whisker and the fragment; nodata stays nodata.
TEST(Stitch, RoadCleanupClosesBreaksAndDropsWhiskersAndFragments) {
  geo::RasterInfo grid;
  grid.path = "roads.tif";
  grid.width = 200;
  grid.height = 120;
  grid.crs_wkt = geo::SpatialRef::from_epsg(32633).wkt();
  grid.has_geotransform = true;
  grid.transform = geo::GeoTransform::north_up(500000, 4000000, 1, 1);
  const std::uint8_t road = 2;
  auto at = [&](std::int64_t col, std::int64_t row) {
    return static_cast<std::size_t>(row * grid.width + col);
  };
  std::vector<std::uint8_t> classes(static_cast<std::size_t>(grid.width * grid.height), 0);
  for (std::int64_t row = 40; row < 47; ++row)  // 7 m wide, broken at columns 100-105
    for (std::int64_t col = 0; col < 200; ++col)
      if (col < 100 || col > 105)
        classes[at(col, row)] = road;
  for (std::int64_t row = 33; row < 40; ++row)  // a 3 m wide whisker, 7 m long
    for (std::int64_t col = 49; col < 52; ++col)
      classes[at(col, row)] = road;
  for (std::int64_t row = 90; row < 98; ++row)  // a lone 8 x 8 fragment
    for (std::int64_t col = 150; col < 158; ++col)
      classes[at(col, row)] = road;
  for (std::int64_t col = 0; col < 200; ++col)
    classes[at(col, 119)] = kIgnoreLabel;

  stitch::RoadCleanupOptions options;
  options.road_class = "road";
  const stitch::RoadCleanupResult result = stitch::clean_roads(classes, road, grid, options);
  EXPECT_EQ(result.gaps_closed, 1);
  ASSERT_EQ(result.graph.edges.size(), 1u) << "one road from edge to edge";
  EXPECT_NEAR(result.graph.total_length_m(), 200, 10);
  for (std::int64_t col : {0, 20, 102, 150, 199}) {
    std::int64_t across = 0;
    for (std::int64_t row = 0; row < grid.height; ++row)
      across += classes[at(col, row)] == road;
    EXPECT_EQ(across, 7) << "the road at column " << col << ", the break included";
  }
  for (std::int64_t row = 33; row < 39; ++row)
    for (std::int64_t col = 49; col < 52; ++col)
      EXPECT_EQ(classes[at(col, row)], 0) << "the whisker is gone: " << col << ", " << row;
  EXPECT_EQ(classes[at(153, 93)], 0) << "the fragment is gone";
  EXPECT_EQ(count_equal(std::vector<std::uint8_t>(classes.end() - 200, classes.end()), 255), 200u);
  EXPECT_GE(result.pixels_removed, 64 + 6 * 3);
  EXPECT_GE(result.pixels_added, 6 * 7);
}

TEST(Stitch, CleanRoadsWritesCentreLinesAndRefusesBadOptions) {
  const std::string dir = test::fresh_directory("stitch-roads");
  const auto scene = test::synthetic_scene(dir + "/scene", 256, 5);
  write_prediction_from_truth(scene.truth_path, kClasses, dir + "/pred");
  const auto run =
      test::run_satunet({"stitch", "--pred", dir + "/pred", "--out", dir + "/mask.tif",
                         "--clean-roads", "road", "--road-lines", dir + "/roads.gpkg", "-q"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("roads: road drawn along cleaned centre lines ("), std::string::npos)
      << run.out;
  // The truth's roads, cleaned, are still the truth's roads, and nothing else moved.
  const auto mask = test::read_band_u8(dir + "/mask.tif");
  const auto truth = test::read_band_u8(scene.truth_path);
  std::size_t both = 0, either = 0, other_changes = 0;
  for (std::size_t i = 0; i < mask.size(); ++i) {
    both += mask[i] == 2 && truth[i] == 2;
    either += mask[i] == 2 || truth[i] == 2;
    other_changes += mask[i] != truth[i] && mask[i] != 2 && truth[i] != 2 && mask[i] != 0;
  }
  ASSERT_GT(either, 1000u);
  EXPECT_GT(static_cast<double>(both) / static_cast<double>(either), 0.85);
  EXPECT_EQ(other_changes, 0u);
  geo::init_gdal();
  GDALDatasetUniquePtr lines(GDALDataset::Open((dir + "/roads.gpkg").c_str(), GDAL_OF_VECTOR));
  ASSERT_TRUE(lines);
  OGRLayer* layer = lines->GetLayer(0);
  EXPECT_TRUE(
      layer->GetSpatialRef()->IsSame(&geo::Raster::open(scene.truth_path).info().srs().ogr()));
  double length = 0;
  for (auto& feature : *layer)
    length += feature->GetFieldAsDouble("length_m");
  EXPECT_GT(length, 100);

  test::expect_failure(
      test::run_satunet({"stitch", "--pred", dir + "/pred", "--out", dir + "/mask2.tif",
                         "--road-lines", dir + "/lines.gpkg"}),
      2, "--road-lines " + dir + "/lines.gpkg: the centre lines come from a road cleanup");
  test::expect_failure(test::run_satunet({"stitch", "--pred", dir + "/pred", "--out",
                                          dir + "/mask2.tif", "--clean-roads", "river"}),
                       2, "--clean-roads: 'river' is not a class of the prediction");
  EXPECT_FALSE(fs::exists(dir + "/mask2.tif"));
}

}  // namespace satunet
