// satunet predict and stitch: windows, prediction shards, blending, georeferencing, nodata,
// polygons, rank counts and bad input.
#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <ogrsf_frmts.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <tuple>

#include "common/files.hpp"
#include "dist/mpi_communicator.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"
#include "infer/prediction_index.hpp"
#include "infer/predictor.hpp"
#include "infer/stitcher.hpp"
#include "infer/window_grid.hpp"
#include "model/checkpoint.hpp"
#include "shards/prediction.hpp"
#include "synth/synth.hpp"
#include "test_support.hpp"

namespace satunet {
namespace {

namespace fs = std::filesystem;
using infer::Blend;

const std::vector<std::string> kClasses = {"background", "building", "road"};

// How the tiny test model's last layer is set.
enum class Head {
  random,    // as initialised: smooth, mostly one class
  varied,    // random weights scaled up: every class somewhere, in ragged shapes
  building,  // ignores its input: building scores highest everywhere (softmax 0.79 vs 0.11)
};

// A tiny U-Net checkpoint for `bands` input bands.
std::string make_checkpoint(const std::string& path, int bands, Head head = Head::random) {
  torch::manual_seed(7);
  const auto options = model::UNetOptions().in_channels(bands).classes(3).base(4).depth(2);
  model::UNet net(options);
  {
    torch::NoGradGuard no_grad;
    auto parameters = net->named_parameters();
    if (head == Head::varied) {
      parameters["head.weight"].mul_(20.0);
      parameters["head.bias"].zero_();
    } else if (head == Head::building) {
      parameters["head.weight"].zero_();
      parameters["head.bias"].zero_();
      parameters["head.bias"][1].fill_(2.0);
    }
  }
  model::CheckpointMeta meta;
  meta.model = options;
  meta.classes = kClasses;
  const char* names[] = {"red", "green", "blue", "nir"};
  for (int band = 0; band < bands; ++band)
    meta.bands.push_back({names[band % 4], 90.0 + band, 40.0});
  meta.tile_size = 64;
  meta.created_by = "satunet test";
  model::save_checkpoint(path, net, meta);
  return path;
}

synth::SynthResult synth_scene(const std::string& dir, std::int64_t size, int bands = 3) {
  synth::SynthOptions options;
  options.out_dir = dir;
  options.size = size;
  options.seed = 5;
  options.bands = bands;
  return synth::synthesize(options);
}

infer::PredictOptions predict_options(const std::string& checkpoint, const std::string& image,
                                      const std::string& out) {
  infer::PredictOptions options;
  options.checkpoint = checkpoint;
  options.image = image;
  options.out = out;
  options.batch = 4;
  options.threads = 1;
  options.overwrite = true;
  return options;
}

infer::StitchResult stitch_to(const std::string& prediction, const std::string& mask,
                              const std::string& probabilities = "") {
  infer::StitchOptions options;
  options.prediction = prediction;
  options.out = mask;
  options.probabilities = probabilities;
  return infer::stitch(options);
}

// Predicts on this rank alone and stitches.
void predict_alone(const infer::PredictOptions& options, const std::string& mask,
                   const std::string& probabilities = "") {
  dist::MpiCommunicator self(MPI_COMM_SELF);
  infer::predict(options, self);
  stitch_to(options.out, mask, probabilities);
}

void expect_same_grid(const std::string& mask_path, const std::string& scene_path) {
  const geo::Raster mask = geo::Raster::open(mask_path);
  const geo::Raster scene = geo::Raster::open(scene_path);
  const geo::RasterInfo& out = mask.info();
  const geo::RasterInfo& in = scene.info();
  EXPECT_EQ(out.width, in.width) << mask_path;
  EXPECT_EQ(out.height, in.height) << mask_path;
  EXPECT_EQ(out.transform, in.transform)
      << out.transform.to_string() << " vs " << in.transform.to_string();
  EXPECT_TRUE(out.srs().same_as(in.srs())) << out.srs().label() << " vs " << in.srs().label();
  ASSERT_EQ(out.bands.size(), 1u);
  EXPECT_EQ(out.bands[0].type, GDT_Byte);
  EXPECT_EQ(out.bands[0].nodata, std::optional<double>(255.0));
  EXPECT_EQ(out.bands[0].categories, kClasses);
}

// 1 where the scene has data, by its own rules: alpha > 0, else not every band at nodata.
std::vector<std::uint8_t> scene_validity(const std::string& scene_path) {
  const geo::Raster scene = geo::Raster::open(scene_path);
  const geo::RasterInfo& info = scene.info();
  const auto pixels = static_cast<std::size_t>(info.width * info.height);
  std::vector<std::uint8_t> valid(pixels, 0);
  std::vector<std::vector<double>> bands;
  int alpha = 0;
  for (const geo::BandInfo& band : info.bands) {
    if (band.colour == "Alpha")
      alpha = band.index;
    else
      bands.push_back(test::read_band_f64(scene_path, band.index));
  }
  const auto alpha_values = alpha ? test::read_band_f64(scene_path, alpha) : std::vector<double>();
  for (std::size_t i = 0; i < pixels; ++i) {
    if (alpha) {
      valid[i] = alpha_values[i] > 0;
      continue;
    }
    bool all_nodata = true;
    for (std::size_t b = 0; b < bands.size(); ++b) {
      const auto nodata = info.bands[b].nodata;
      all_nodata = all_nodata && nodata && bands[b][i] == *nodata;
    }
    valid[i] = !all_nodata;
  }
  return valid;
}

// The pixels of `source` (uint8) in a GeoTIFF without geotransform or CRS.
std::string ungeoreferenced_copy(const std::string& source, const std::string& target) {
  geo::init_gdal();
  GDALDatasetUniquePtr in(GDALDataset::Open(source.c_str(), GDAL_OF_RASTER));
  const int width = in->GetRasterXSize(), height = in->GetRasterYSize();
  GDALDatasetUniquePtr out(GetGDALDriverManager()->GetDriverByName("GTiff")->Create(
      target.c_str(), width, height, in->GetRasterCount(), GDT_Byte, nullptr));
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(width * height));
  for (int band = 1; band <= in->GetRasterCount(); ++band) {
    EXPECT_EQ(in->GetRasterBand(band)->RasterIO(GF_Read, 0, 0, width, height, pixels.data(), width,
                                                height, GDT_Byte, 0, 0),
              CE_None);
    EXPECT_EQ(out->GetRasterBand(band)->RasterIO(GF_Write, 0, 0, width, height, pixels.data(),
                                                 width, height, GDT_Byte, 0, 0),
              CE_None);
  }
  return target;
}

// What a perfect model would predict for `truth` (a class raster): one-hot probabilities in
// windows of 64 px overlapping by 16, nodata where the truth has none, written as predict would.
void write_prediction_from_truth(const std::string& truth_path,
                                 const std::vector<std::string>& classes, const std::string& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir + "/shards");
  const geo::Raster truth = geo::Raster::open(truth_path);
  const geo::RasterInfo& info = truth.info();
  const int tile = 64;
  const infer::WindowGrid grid(info.width, info.height, tile, 16);
  shards::PredictionHeader header;
  header.tile_size = tile;
  header.overlap = 16;
  header.windows_total = grid.count();
  header.blend = "gaussian";
  header.class_names = classes;
  header.scene = truth_path;
  header.scene_width = info.width;
  header.scene_height = info.height;
  header.crs_wkt = info.crs_wkt;
  header.geotransform = info.transform.coefficients();
  shards::PredictionWriter writer(dir + "/shards/truth.h5", header, 1);
  const auto plane = static_cast<std::size_t>(tile * tile);
  std::vector<std::uint8_t> labels, probabilities(classes.size() * plane), valid(plane);
  for (std::int64_t index = 0; index < grid.count(); ++index) {
    const geo::Window window = grid.inside(index);
    labels.resize(static_cast<std::size_t>(window.width * window.height));
    truth.read(window, {1}, GDT_Byte, labels.data());
    std::fill(probabilities.begin(), probabilities.end(), 0);
    std::fill(valid.begin(), valid.end(), 0);
    for (std::int64_t y = 0; y < window.height; ++y)
      for (std::int64_t x = 0; x < window.width; ++x) {
        const std::uint8_t label = labels[static_cast<std::size_t>(y * window.width + x)];
        const auto at = static_cast<std::size_t>(y * tile + x);
        if (label == 255)
          continue;
        valid[at] = 1;
        probabilities[label * plane + at] = 255;
      }
    writer.append(index, {window.x_off, window.y_off, window.width, window.height},
                  probabilities.data(), valid.data());
  }
  writer.commit();
  infer::PredictionIndex index;
  index.scene = truth_path;
  index.width = info.width;
  index.height = info.height;
  index.tile = tile;
  index.overlap = 16;
  index.blend = "gaussian";
  index.classes = classes;
  index.windows = grid.count();
  index.shards = {{"shards/truth.h5", grid.count()}};
  index.save(dir);
}

std::size_t count_equal(const std::vector<std::uint8_t>& values, std::uint8_t value) {
  return static_cast<std::size_t>(std::count(values.begin(), values.end(), value));
}

}  // namespace

// ---- the window grid ----

TEST(WindowGrid, OffsetsCoverTheSceneWithAtLeastTheOverlap) {
  for (std::int64_t size : {64, 65, 100, 200, 385, 1000}) {
    for (int overlap : {0, 8, 16, 32, 63}) {
      const auto offsets = infer::window_offsets(size, 64, overlap);
      ASSERT_FALSE(offsets.empty());
      EXPECT_EQ(offsets.front(), 0);
      EXPECT_EQ(offsets.back(), size - 64) << size << " " << overlap;
      for (std::size_t i = 1; i < offsets.size(); ++i) {
        EXPECT_GT(offsets[i], offsets[i - 1]);
        EXPECT_LE(offsets[i] - offsets[i - 1], 64 - overlap) << size << " " << overlap;
      }
    }
  }
  EXPECT_EQ(infer::window_offsets(40, 64, 16), std::vector<std::int64_t>{0});
  const infer::WindowGrid grid(100, 40, 64, 16);
  EXPECT_EQ(grid.count(), 2);
  EXPECT_EQ(grid.inside(1), (geo::Window{36, 0, 64, 40}));
  EXPECT_EQ(grid.describe(1), "window 1 (x 36, y 0)");
  EXPECT_THROW(infer::WindowGrid(100, 100, 64, 64), UsageError);
}

TEST(WindowGrid, ReflectionMirrorsAboutTheEdgePixels) {
  EXPECT_EQ(infer::reflect_index(0, 5), 0);
  EXPECT_EQ(infer::reflect_index(4, 5), 4);
  EXPECT_EQ(infer::reflect_index(5, 5), 3);
  EXPECT_EQ(infer::reflect_index(8, 5), 0);
  EXPECT_EQ(infer::reflect_index(9, 5), 1);
  EXPECT_EQ(infer::reflect_index(-1, 5), 1);
  EXPECT_EQ(infer::reflect_index(7, 1), 0);
}

TEST(WindowGrid, BlendWeightsArePositiveSymmetricAndPeakInTheCentre) {
  for (Blend blend : {Blend::gaussian, Blend::cosine, Blend::uniform}) {
    const std::vector<float> weights = infer::blend_weights(blend, 64);
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
      EXPECT_LT(corner * 100, centre) << infer::blend_name(blend);
  }
  // sigma = tile / 8 = 8 px, sampled at pixel centres: pixel 31 is 0.5 px from the centre (32),
  // pixel 39 is 7.5 px from it.
  const std::vector<float> gaussian = infer::blend_weights(Blend::gaussian, 64);
  EXPECT_NEAR(gaussian[31 * 64 + 39] / gaussian[31 * 64 + 31],
              std::exp(-(7.5 * 7.5 - 0.5 * 0.5) / (2 * 8 * 8)), 1e-5);
  EXPECT_THROW(infer::parse_blend("linear"), UsageError);
}

// ---- prediction shards ----

TEST(PredictionShard, HalfPrecisionRoundsToNearestEven) {
  using shards::float_to_half;
  using shards::half_to_float;
  EXPECT_EQ(float_to_half(0.0f), 0x0000);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(0.5f), 0x3800);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);            // rounds past the largest half: infinity
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), 0x3c00);  // a tie goes to the even mantissa
  EXPECT_EQ(float_to_half(1.0f + 3.0f / 2048), 0x3c02);
  EXPECT_EQ(float_to_half(5.9604645e-8f), 0x0001);  // the smallest subnormal
  EXPECT_EQ(float_to_half(1e-8f), 0x0000);
  // Every finite half survives half -> float -> half.
  for (std::uint32_t bits = 0; bits < 0x10000; ++bits) {
    const auto half = static_cast<std::uint16_t>(bits);
    if ((half & 0x7c00) == 0x7c00)
      continue;
    ASSERT_EQ(float_to_half(half_to_float(half)), half) << std::hex << bits;
  }
}

TEST(PredictionShard, WritesAndReadsBothEncodings) {
  const std::string dir = test::fresh_directory("prediction-shard");
  for (const auto encoding :
       {shards::ProbabilityEncoding::uint8, shards::ProbabilityEncoding::float16}) {
    shards::PredictionHeader header;
    header.tile_size = 8;
    header.overlap = 2;
    header.windows_total = 4;
    header.encoding = encoding;
    header.blend = "cosine";
    header.class_names = {"a", "b"};
    header.scene = "scene.tif";
    header.scene_width = 14;
    header.scene_height = 8;
    header.crs_wkt = geo::SpatialRef::from_epsg(32633).wkt();
    header.geotransform = {500000, 0.5, 0, 4650000, 0, -0.5};
    const std::string path = dir + "/" + shards::probability_encoding_name(encoding) + ".h5";
    std::vector<std::uint8_t> bytes(2 * 64);
    std::vector<std::uint16_t> halves(2 * 64);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      bytes[i] = static_cast<std::uint8_t>(i * 2);
      halves[i] = shards::float_to_half(static_cast<float>(i) / 128.0f);
    }
    std::vector<std::uint8_t> valid(64, 1);
    valid[5] = 0;
    {
      shards::PredictionWriter writer(path, header, 1);
      const void* data = encoding == shards::ProbabilityEncoding::uint8
                             ? static_cast<const void*>(bytes.data())
                             : static_cast<const void*>(halves.data());
      writer.append(3, {6, 0, 8, 8}, data, valid.data());
      EXPECT_FALSE(fs::exists(path)) << "visible before commit";
      writer.commit();
    }
    const shards::PredictionReader reader(path);
    EXPECT_EQ(reader.windows(), 1);
    EXPECT_EQ(reader.header().class_names, header.class_names);
    EXPECT_EQ(reader.header().geotransform, header.geotransform);
    EXPECT_EQ(reader.header().crs_wkt, header.crs_wkt);
    EXPECT_EQ(reader.header().blend, "cosine");
    EXPECT_EQ(reader.indices(), std::vector<std::int64_t>{3});
    EXPECT_EQ(reader.window_rows()[0].x_off, 6);
    std::vector<float> probabilities(2 * 64);
    std::vector<std::uint8_t> read_valid(64);
    reader.read(0, probabilities.data(), read_valid.data());
    EXPECT_EQ(read_valid, valid);
    for (std::size_t i = 0; i < probabilities.size(); ++i) {
      const float expected = encoding == shards::ProbabilityEncoding::uint8
                                 ? static_cast<float>(bytes[i]) / 255.0f
                                 : static_cast<float>(i) / 128.0f;
      ASSERT_NEAR(probabilities[i], expected, 1e-6) << i;
    }
  }
  // A training shard is not a prediction shard.
  shards::ShardHeader training;
  training.tile_size = 8;
  training.bands = 1;
  training.split = "train";
  shards::ShardWriter writer(dir + "/tiles.h5", training, 0);
  writer.commit();
  try {
    shards::PredictionReader reader(dir + "/tiles.h5");
    FAIL() << "a training shard was read as a prediction";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("tiles.h5: not a satunet prediction shard"),
              std::string::npos)
        << error.what();
  }
}

// ---- predict + stitch ----

TEST(Predict, ConstantModelGivesAConstantMaskAtEveryOverlapAndBlend) {
  const std::string dir = test::fresh_directory("predict-constant");
  const auto scene = synth_scene(dir + "/scene", 232);
  const std::string checkpoint = make_checkpoint(dir + "/constant.pt", 3, Head::building);
  const auto valid = scene_validity(scene.scene_path);
  ASSERT_GT(count_equal(valid, 0), 0u) << "the generated scene has a nodata corner";
  // softmax(0, 2, 0) for building, quantised as predict stores it.
  const double building = std::exp(2.0) / (std::exp(2.0) + 2.0);
  const auto expected_building = static_cast<std::uint8_t>(std::lround(building * 255));
  for (int overlap : {0, 8, 16, 32}) {
    for (const std::string blend : {"gaussian", "cosine", "uniform"}) {
      SCOPED_TRACE("overlap " + std::to_string(overlap) + ", " + blend);
      auto options = predict_options(checkpoint, scene.scene_path, dir + "/pred");
      options.overlap = overlap;
      options.blend = blend;
      predict_alone(options, dir + "/mask.tif", dir + "/probabilities.tif");
      const auto mask = test::read_band_u8(dir + "/mask.tif");
      const auto probabilities = test::read_band_u8(dir + "/probabilities.tif", 2);
      ASSERT_EQ(mask.size(), valid.size());
      std::size_t wrong = 0, seams = 0;
      for (std::size_t i = 0; i < mask.size(); ++i) {
        wrong += mask[i] != (valid[i] ? 1 : 255);
        seams += valid[i] && probabilities[i] != expected_building;
      }
      EXPECT_EQ(wrong, 0u);
      EXPECT_EQ(seams, 0u) << "blended probability differs from the windows' own";
    }
  }
}

TEST(Predict, MaskHasTheScenesGridOnGeneratedAndRealScenes) {
  const std::string dir = test::fresh_directory("predict-georef");
  const auto scene = synth_scene(dir + "/scene", 200);
  // Atlanta: UTM, uint16, 3 bands; Vegas: EPSG:4326 with an alpha band; Kampala: EPSG:4326.
  const std::vector<std::string> scenes = {scene.scene_path,
                                           test::real_data("spacenet4_atlanta_buildings/image.tif"),
                                           test::real_data("spacenet3_vegas_roads/image.tif"),
                                           test::real_data("kampala_buildings/image.tif")};
  for (const std::string& image : scenes) {
    SCOPED_TRACE(image);
    const geo::Raster raster = geo::Raster::open(image);
    int bands = 0;
    for (const geo::BandInfo& band : raster.info().bands)
      bands += band.colour != "Alpha";
    const std::string checkpoint =
        make_checkpoint(dir + "/model" + std::to_string(bands) + ".pt", bands);
    auto options = predict_options(checkpoint, image, dir + "/pred");
    options.batch = 16;
    predict_alone(options, dir + "/mask.tif");
    expect_same_grid(dir + "/mask.tif", image);
    // Nodata (alpha 0, or every band at its nodata value) is 255 in the mask, and only there.
    const auto valid = scene_validity(image);
    const auto mask = test::read_band_u8(dir + "/mask.tif");
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < mask.size(); ++i)
      wrong += (mask[i] == 255) != (valid[i] == 0);
    EXPECT_EQ(wrong, 0u);
    EXPECT_LT(count_equal(mask, 255), mask.size());
  }
}

TEST(Stitch, PerfectWindowsGiveBackTheTruthAndPolygonsRasterizeBackToIt) {
  const std::string dir = test::fresh_directory("stitch-truth");
  const auto scene = synth_scene(dir + "/scene", 256);
  struct Case {
    std::string truth;
    std::vector<std::string> classes;
  };
  for (const Case& truth :
       {Case{scene.truth_path, kClasses},
        Case{test::real_data("kampala_buildings/mask.tif"), {"background", "building"}}}) {
    SCOPED_TRACE(truth.truth);
    write_prediction_from_truth(truth.truth, truth.classes, dir + "/pred");
    const auto run = test::run_satunet({"stitch", "--pred", dir + "/pred", "--out",
                                        dir + "/mask.tif", "--polygons", dir + "/buildings.geojson",
                                        "--polygon-classes", "building", "-q"});
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.out.find("polygons: " + dir + "/buildings.geojson ("), std::string::npos)
        << run.out;
    const auto mask = test::read_band_u8(dir + "/mask.tif");
    EXPECT_EQ(mask, test::read_band_u8(truth.truth)) << "one-hot windows blend back exactly";
    ASSERT_GT(count_equal(mask, 1), 1000u);

    const std::string scores = dir + "/scores.json";
    const auto evaluated =
        test::run_satunet({"evaluate", "--pred", dir + "/mask.tif", "--truth-labels",
                           "building=" + dir + "/buildings.geojson", "--json", scores, "-q"});
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
  const auto simplified = test::run_satunet(
      {"stitch", "--pred", dir + "/pred", "--out", dir + "/mask.tif", "--polygons",
       dir + "/simple.geojson", "--simplify", "0.5", "--min-area", "20", "-q"});
  ASSERT_EQ(simplified.exit_code, 0) << simplified.err;
  GDALDatasetUniquePtr all(GDALDataset::Open((dir + "/buildings.geojson").c_str(), GDAL_OF_VECTOR));
  GDALDatasetUniquePtr simple(GDALDataset::Open((dir + "/simple.geojson").c_str(), GDAL_OF_VECTOR));
  EXPECT_LT(simple->GetLayer(0)->GetFeatureCount(), all->GetLayer(0)->GetFeatureCount());
  for (auto& feature : *simple->GetLayer(0))
    EXPECT_GE(feature->GetFieldAsDouble("area_m2"), 20.0);
}

TEST(Predict, StitchToWritesEveryOutputAndInfoDescribesThePrediction) {
  const std::string dir = test::fresh_directory("predict-cli");
  const auto scene = synth_scene(dir + "/scene", 160);
  const std::string checkpoint = make_checkpoint(dir + "/model.pt", 3);
  const auto run = test::run_satunet({"predict",
                                      "--checkpoint",
                                      checkpoint,
                                      "--image",
                                      scene.scene_path,
                                      "--out",
                                      dir + "/pred",
                                      "--tile",
                                      "64",
                                      "--overlap",
                                      "24",
                                      "--blend",
                                      "cosine",
                                      "--tta",
                                      "flips",
                                      "--encoding",
                                      "float16",
                                      "--stitch-to",
                                      dir + "/mask.tif",
                                      "--probabilities",
                                      dir + "/probs.tif",
                                      "--format",
                                      "COG",
                                      "--threads",
                                      "1",
                                      "-q"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  expect_same_grid(dir + "/mask.tif", scene.scene_path);
  const geo::Raster probabilities = geo::Raster::open(dir + "/probs.tif");
  ASSERT_EQ(probabilities.info().bands.size(), 3u);
  EXPECT_EQ(probabilities.info().bands[1].description, "building");
  // Probabilities of a valid pixel add up to one (within the uint8 rounding).
  const auto valid = scene_validity(scene.scene_path);
  std::vector<std::vector<std::uint8_t>> bands;
  for (int band = 1; band <= 3; ++band)
    bands.push_back(test::read_band_u8(dir + "/probs.tif", band));
  for (std::size_t i = 0; i < valid.size(); i += 7) {
    if (!valid[i])
      continue;
    ASSERT_NEAR(bands[0][i] + bands[1][i] + bands[2][i], 255, 2) << i;
  }
  GDALDatasetUniquePtr cog(GDALDataset::Open((dir + "/mask.tif").c_str(), GDAL_OF_RASTER));
  EXPECT_STREQ(cog->GetMetadataItem("LAYOUT", "IMAGE_STRUCTURE"), "COG");

  const auto info = test::run_satunet({"info", dir + "/pred", "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const auto json = nlohmann::json::parse(info.out);
  EXPECT_EQ(json["kind"], "satunet prediction");
  EXPECT_EQ(json["tile"], 64);
  EXPECT_EQ(json["overlap"], 24);
  EXPECT_EQ(json["blend"], "cosine");
  EXPECT_EQ(json["tta"], "flips");
  EXPECT_EQ(json["encoding"], "float16");
  EXPECT_EQ(json["classes"], kClasses);
  EXPECT_EQ(json["width"], 160);
  const auto text = test::run_satunet({"info", dir + "/pred"});
  EXPECT_NE(text.out.find("windows:    64 px, overlap 24, blend cosine"), std::string::npos)
      << text.out;
  // Nothing is left under a temporary name.
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
}

TEST(Predict, BadInputFailsWithAClearMessage) {
  const std::string dir = test::fresh_directory("predict-errors");
  const auto scene = synth_scene(dir + "/scene", 128);
  const auto four_bands = synth_scene(dir + "/scene4", 128, 4);
  const std::string checkpoint = make_checkpoint(dir + "/model.pt", 3);
  auto predict = [&](const std::string& image, const std::string& model,
                     std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"predict", "--checkpoint", model,         "--image",
                                     image,     "--out",        dir + "/pred", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_satunet(args);
  };
  auto expect_failure = [](const test::CommandResult& result, int code, const std::string& text) {
    EXPECT_EQ(result.exit_code, code) << result.err;
    EXPECT_NE(result.err.find(text), std::string::npos) << result.err;
  };
  expect_failure(predict(four_bands.scene_path, checkpoint), 1,
                 four_bands.scene_path +
                     ": 4 input bands (red, green, blue, nir) but the model in " + checkpoint +
                     " takes 3 (red, green, blue); choose them with --bands");
  EXPECT_EQ(predict(four_bands.scene_path, checkpoint, {"--bands", "1,2,3"}).exit_code, 0);

  const std::string plain = ungeoreferenced_copy(scene.scene_path, dir + "/plain.tif");
  expect_failure(predict(plain, checkpoint), 1, plain + ": raster has no georeferencing");

  {
    torch::serialize::OutputArchive archive;
    archive.write("satunet_schema", c10::IValue(int64_t{99}));
    archive.save_to(dir + "/future.pt");
  }
  expect_failure(predict(scene.scene_path, dir + "/future.pt"), 1,
                 dir + "/future.pt: checkpoint schema version 99");
  expect_failure(predict(scene.scene_path, dir + "/missing.pt"), 1,
                 dir + "/missing.pt: no such checkpoint");
  expect_failure(predict(dir + "/missing.tif", checkpoint), 1, dir + "/missing.tif: no such file");

  // Bad option values: exit 2, the option named.
  const std::vector<std::tuple<std::string, std::string, std::string>> bad_options = {
      {"--blend", "linear", "--blend must be gaussian, cosine or uniform"},
      {"--tta", "rotations", "--tta must be none or flips"},
      {"--overlap", "64", "--overlap must be in [0, tile)"},
      {"--tile", "66", "--tile 66 is not a multiple of 4"},
      {"--encoding", "float8", "unknown probability encoding 'float8'"},
      {"--device", "tpu", "--device must be auto, cpu or cuda, got 'tpu'"},
      {"--batch", "0", "--batch must be at least 1, got 0"},
      {"--compress", "12", "--compress must be 0 (none) to 9"},
      {"--threads", "-1", "--threads must be 0 (automatic) or more"}};
  for (const auto& [option, value, message] : bad_options)
    expect_failure(predict(scene.scene_path, checkpoint, {option, value}), 2, message);
  expect_failure(predict(scene.scene_path, checkpoint, {"--bands", "1,2,7"}), 1,
                 scene.scene_path + ": --bands asks for band 7 but the scene has 3");

  // A finished prediction is not replaced by accident.
  ASSERT_EQ(predict(scene.scene_path, checkpoint, {"--overwrite"}).exit_code, 0);
  expect_failure(predict(scene.scene_path, checkpoint), 1,
                 dir + "/pred: holds a prediction already; --overwrite replaces it");

  // A dataset's shards are never taken for old prediction shards.
  fs::create_directories(dir + "/dataset/shards");
  write_text_file(dir + "/dataset/manifest.json", "{}");
  write_text_file(dir + "/dataset/shards/rank-0-of-1.h5", "tiles");
  expect_failure(test::run_satunet({"predict", "--checkpoint", checkpoint, "--image",
                                    scene.scene_path, "--out", dir + "/dataset", "--overwrite"}),
                 1, dir + "/dataset: is a dataset directory (it has a manifest.json)");
  EXPECT_TRUE(fs::exists(dir + "/dataset/shards/rank-0-of-1.h5"));

  // Stitching: no prediction, a missing shard, a missing window.
  auto stitch = [&](const std::string& prediction) {
    return test::run_satunet({"stitch", "--pred", prediction, "--out", dir + "/mask.tif", "-q"});
  };
  expect_failure(stitch(dir + "/scene"), 1,
                 dir +
                     "/scene: no prediction.json: not a prediction directory, or satunet "
                     "predict did not finish");
  const auto index = infer::PredictionIndex::load(dir + "/pred");
  const std::string shard = dir + "/pred/" + index.shards.at(0).path;
  fs::copy_file(shard, dir + "/shard.h5");
  fs::remove(shard);
  expect_failure(stitch(dir + "/pred"), 1, shard + ": missing prediction shard");
  EXPECT_FALSE(fs::exists(dir + "/mask.tif"));

  {  // the same shard with its last window left out
    const shards::PredictionReader full(dir + "/shard.h5");
    shards::PredictionWriter partial(shard, full.header(), 1);
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
  const infer::WindowGrid grid(128, 128, 64, 16);
  expect_failure(stitch(dir + "/pred"), 1,
                 dir + "/pred: " + grid.describe(grid.count() - 1) +
                     " is missing from the prediction (no shard holds it)");
  expect_failure(test::run_satunet({"stitch", "--pred", dir + "/pred", "--out", dir + "/mask.tif",
                                    "--format", "JPEG"}),
                 2, "--format must be GTiff or COG");
  expect_failure(test::run_satunet({"stitch", "--pred", dir + "/pred", "--out", dir + "/mask.tif",
                                    "--simplify", "-1"}),
                 2, "--simplify and --min-area must not be negative");
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
  write_text_file(dir + "/pred/prediction.json", json);
  expect_failure(stitch(dir + "/pred"), 1,
                 dir +
                     "/pred/prediction.json: prediction schema version 2, this satunet reads "
                     "version 1");
  write_text_file(dir + "/pred/prediction.json", "{\"schema_version\": 1,");
  expect_failure(stitch(dir + "/pred"), 1, dir + "/pred/prediction.json: corrupt prediction index");
  EXPECT_FALSE(fs::exists(dir + "/mask.tif"));
}

// ---- ranks ----

TEST(MpiPredict, OneRankAndManyRanksGiveIdenticalMasks) {
  dist::MpiCommunicator world;
  const std::string name = "MpiPredict.np" + std::to_string(world.size());
  const std::string dir = std::string(SATUNET_TEST_TMP) + "/" + name;  // shared by the ranks
  if (world.rank() == 0) {
    fs::remove_all(dir);
    synth_scene(dir + "/scene", 300);
    make_checkpoint(dir + "/model.pt", 3, Head::varied);
  }
  world.barrier();
  auto options = predict_options(dir + "/model.pt", dir + "/scene/scene.tif", dir + "/pred-many");
  options.tta = "flips";
  const infer::PredictResult many = infer::predict(options, world);
  EXPECT_EQ(many.windows, infer::WindowGrid(300, 300, 64, 16).count());
  // Rank 0 compares; a failed assertion must not skip the barrier the others wait in.
  auto compare = [&] {
    const auto index = infer::PredictionIndex::load(dir + "/pred-many");
    EXPECT_EQ(index.ranks, world.size());
    ASSERT_EQ(index.shards.size(), static_cast<std::size_t>(world.size()));
    std::int64_t windows = 0;
    for (const auto& shard : index.shards) {
      EXPECT_GT(shard.windows, 0);
      windows += shard.windows;
    }
    EXPECT_EQ(windows, many.windows);
    stitch_to(dir + "/pred-many", dir + "/many.tif", dir + "/many-probs.tif");
    options.out = dir + "/pred-one";
    predict_alone(options, dir + "/one.tif", dir + "/one-probs.tif");
    EXPECT_EQ(test::read_band_u8(dir + "/many.tif"), test::read_band_u8(dir + "/one.tif"));
    for (int band = 1; band <= 3; ++band)
      EXPECT_EQ(test::read_band_u8(dir + "/many-probs.tif", band),
                test::read_band_u8(dir + "/one-probs.tif", band));
  };
  if (world.rank() == 0)
    compare();
  world.barrier();
}

TEST(LocalRank, LauncherVariablesAreTheFallback) {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE",
                           "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE", "PMI_LOCAL_RANK",
                           "PMI_LOCAL_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"})
    unsetenv(name);
  EXPECT_FALSE(dist::local_rank_from_environment().has_value());
  setenv("MPI_LOCALRANKID", "3", 1);
  setenv("MPI_LOCALNRANKS", "4", 1);
  EXPECT_EQ(dist::local_rank_from_environment(), std::make_pair(3, 4));
  setenv("SLURM_LOCALID", "1", 1);
  EXPECT_EQ(dist::local_rank_from_environment(), std::make_pair(1, 2))
      << "SLURM comes before Intel MPI; without a count, at least rank + 1 share the node";
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "0", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2", 1);
  EXPECT_EQ(dist::local_rank_from_environment(), std::make_pair(0, 2));
}

}  // namespace satunet

namespace satunet {

TEST(Quicklook, OverlaysClassColoursOnTheStretchedScene) {
  const std::string dir = test::fresh_directory("quicklook");
  synth::SynthOptions options;
  options.out_dir = dir + "/scene";
  options.size = 128;
  const auto scene = synth::synthesize(options);
  const auto run =
      test::run_satunet({"quicklook", "--image", scene.scene_path, "--mask", scene.truth_path,
                         "--out", dir + "/look.png", "--opacity", "1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("quick-look: " + dir + "/look.png (128 x 128)"), std::string::npos);
  const geo::Raster look = geo::Raster::open(dir + "/look.png");
  EXPECT_EQ(look.info().driver, "PNG");
  ASSERT_EQ(look.info().bands.size(), 3u);
  // At full opacity a building pixel is the building colour, a road pixel the road colour.
  const auto truth = test::read_band_u8(scene.truth_path);
  const auto red = test::read_band_u8(dir + "/look.png", 1);
  const auto green = test::read_band_u8(dir + "/look.png", 2);
  std::size_t buildings = 0, roads = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] == 1) {
      ++buildings;
      EXPECT_EQ(red[i], 220);
      EXPECT_EQ(green[i], 40);
    } else if (truth[i] == 2) {
      ++roads;
      EXPECT_EQ(red[i], 250);
      EXPECT_EQ(green[i], 210);
    }
  }
  EXPECT_GT(buildings, 0u);
  EXPECT_GT(roads, 0u);

  const auto reduced = test::run_satunet(
      {"quicklook", "--image", scene.scene_path, "--out", dir + "/small.png", "--max-size", "32"});
  ASSERT_EQ(reduced.exit_code, 0) << reduced.err;
  EXPECT_EQ(geo::Raster::open(dir + "/small.png").info().width, 32);

  const auto no_table = test::run_satunet({"quicklook", "--image", scene.scene_path, "--mask",
                                           scene.scene_path, "--out", dir + "/bad.png"});
  EXPECT_EQ(no_table.exit_code, 1);
  EXPECT_NE(no_table.err.find(scene.scene_path + ": no colour table"), std::string::npos)
      << no_table.err;
  const auto other = synth_scene(dir + "/other", 96);
  const auto wrong_size = test::run_satunet({"quicklook", "--image", scene.scene_path, "--mask",
                                             other.truth_path, "--out", dir + "/bad.png"});
  EXPECT_EQ(wrong_size.exit_code, 1);
  EXPECT_NE(wrong_size.err.find(other.truth_path + ": 96 x 96 pixels, the scene"),
            std::string::npos)
      << wrong_size.err;
  for (const auto& [option, value, message] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"--max-size", "8", "--max-size must be at least 16"},
           {"--opacity", "2", "--opacity must be in [0, 1]"}}) {
    const auto bad = test::run_satunet(
        {"quicklook", "--image", scene.scene_path, "--out", dir + "/bad.png", option, value});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find(message), std::string::npos) << bad.err;
  }
  const auto no_out = test::run_satunet({"quicklook", "--image", scene.scene_path});
  EXPECT_EQ(no_out.exit_code, 2);
  EXPECT_NE(no_out.err.find("--image and --out are required"), std::string::npos) << no_out.err;
  EXPECT_FALSE(fs::exists(dir + "/bad.png"));
}

}  // namespace satunet

namespace satunet {

TEST(PredictGpu, CudaMaskAgreesWithTheCpuMask) {
  const std::string dir = test::fresh_directory("predict-gpu");
  const auto scene = synth_scene(dir + "/scene", 200);
  const std::string checkpoint = make_checkpoint(dir + "/model.pt", 3, Head::varied);
  if (!torch::cuda::is_available()) {
    // Without a device the option must say so, not fall back silently.
    const auto run =
        test::run_satunet({"predict", "--checkpoint", checkpoint, "--image", scene.scene_path,
                           "--out", dir + "/pred", "--device", "cuda"});
    EXPECT_EQ(run.exit_code, 1);
    EXPECT_NE(run.err.find("--device cuda: no GPU present on rank 0"), std::string::npos)
        << run.err;
    GTEST_SKIP() << "no CUDA device: the GPU prediction cannot run here";
  }
  auto options = predict_options(checkpoint, scene.scene_path, dir + "/cpu");
  options.device = "cpu";
  predict_alone(options, dir + "/cpu.tif", dir + "/cpu-probs.tif");
  options.device = "cuda";
  options.out = dir + "/cuda";
  predict_alone(options, dir + "/cuda.tif", dir + "/cuda-probs.tif");
  expect_same_grid(dir + "/cuda.tif", scene.scene_path);
  // cuDNN sums in another order: probabilities within one quantum, classes equal but at ties.
  const auto cpu = test::read_band_u8(dir + "/cpu-probs.tif", 2);
  const auto cuda = test::read_band_u8(dir + "/cuda-probs.tif", 2);
  for (std::size_t i = 0; i < cpu.size(); ++i)
    ASSERT_LE(std::abs(cpu[i] - cuda[i]), 1) << i;
  const auto cpu_mask = test::read_band_u8(dir + "/cpu.tif");
  const auto cuda_mask = test::read_band_u8(dir + "/cuda.tif");
  std::size_t differ = 0;
  for (std::size_t i = 0; i < cpu_mask.size(); ++i)
    differ += cpu_mask[i] != cuda_mask[i];
  EXPECT_LE(differ, cpu_mask.size() / 1000);
}

}  // namespace satunet
