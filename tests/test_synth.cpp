#include <gdal_alg.h>
#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <ogrsf_frmts.h>

#include <algorithm>
#include <map>

#include "common/error.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"
#include "synth/synth.hpp"
#include "test_support.hpp"

namespace satunet::synth {
namespace {

SynthResult make_scene(const std::string& name, std::int64_t size, std::uint64_t seed,
                       int bands = 3, SampleType dtype = SampleType::uint8) {
  return test::synthetic_scene(test::fresh_directory(name), size, seed, bands, dtype);
}

std::map<int, std::int64_t> histogram(const std::vector<std::uint8_t>& values) {
  std::map<int, std::int64_t> counts;
  for (std::uint8_t value : values)
    ++counts[value];
  return counts;
}

// Rasterizes a vector file onto the grid of `like` with GDAL's own rasterizer, which
// reprojects the features to the raster's CRS; lines are buffered by half their width_m.
std::vector<std::uint8_t> rasterize_like(const geo::RasterInfo& like, const std::string& vector,
                                         bool buffer_lines) {
  geo::init_gdal();
  GDALDriver* mem = GetGDALDriverManager()->GetDriverByName("MEM");
  GDALDatasetUniquePtr target(mem->Create("", static_cast<int>(like.width),
                                          static_cast<int>(like.height), 1, GDT_Byte, nullptr));
  target->SetGeoTransform(const_cast<double*>(like.transform.data()));
  const geo::SpatialRef srs = like.srs();
  target->SetSpatialRef(&srs.ogr());
  GDALDatasetUniquePtr source(GDALDataset::Open(vector.c_str(), GDAL_OF_VECTOR));
  EXPECT_TRUE(source);
  OGRLayer* layer = source->GetLayer(0);
  std::vector<OGRGeometryH> geometries;
  std::vector<std::unique_ptr<OGRGeometry>> owned;
  OGRCoordinateTransformation* to_scene =
      OGRCreateCoordinateTransformation(layer->GetSpatialRef(), &srs.ogr());
  for (auto& feature : *layer) {
    std::unique_ptr<OGRGeometry> geometry(feature->GetGeometryRef()->clone());
    geometry->transform(to_scene);
    if (buffer_lines)
      geometry.reset(geometry->Buffer(feature->GetFieldAsDouble("width_m") / 2, 16));
    geometries.push_back(OGRGeometry::ToHandle(geometry.get()));
    owned.push_back(std::move(geometry));
  }
  OGRCoordinateTransformation::DestroyCT(to_scene);
  int band = 1;
  std::vector<double> burn(geometries.size(), 1.0);
  EXPECT_EQ(GDALRasterizeGeometries(target.get(), 1, &band, static_cast<int>(geometries.size()),
                                    geometries.data(), nullptr, nullptr, burn.data(), nullptr,
                                    nullptr, nullptr),
            CE_None);
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(like.width * like.height));
  EXPECT_EQ(target->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, static_cast<int>(like.width),
                                               static_cast<int>(like.height), pixels.data(),
                                               static_cast<int>(like.width),
                                               static_cast<int>(like.height), GDT_Byte, 0, 0),
            CE_None);
  return pixels;
}

// Fraction of the truth pixels of `cls` that the rasterized labels also mark.
double recall(const std::vector<std::uint8_t>& truth, const std::vector<std::uint8_t>& burned,
              std::uint8_t cls) {
  std::int64_t total = 0, found = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (truth[i] != cls)
      continue;
    ++total;
    found += burned[i] == 1;
  }
  EXPECT_GT(total, 0);
  return static_cast<double>(found) / static_cast<double>(std::max<std::int64_t>(total, 1));
}

}  // namespace

TEST(Synth, SameSeedGivesIdenticalFiles) {
  const SynthResult a = make_scene("a", 320, 7);
  const SynthResult b = make_scene("b", 320, 7);
  EXPECT_EQ(test::file_bytes(a.scene_path), test::file_bytes(b.scene_path));
  EXPECT_EQ(test::file_bytes(a.truth_path), test::file_bytes(b.truth_path));
  EXPECT_EQ(test::file_bytes(a.buildings_path), test::file_bytes(b.buildings_path));
  EXPECT_EQ(test::file_bytes(a.roads_path), test::file_bytes(b.roads_path));
}

TEST(Synth, OtherSeedGivesOtherScene) {
  const SynthResult a = make_scene("a", 320, 7);
  const SynthResult b = make_scene("b", 320, 8);
  EXPECT_NE(test::read_band_u8(a.scene_path), test::read_band_u8(b.scene_path));
  EXPECT_NE(test::read_band_u8(a.truth_path), test::read_band_u8(b.truth_path));
  EXPECT_NE(test::file_bytes(a.buildings_path), test::file_bytes(b.buildings_path));
}

TEST(Synth, SceneIsGeoreferencedTiledAndLabelled) {
  const SynthResult result = make_scene("scene", 512, 1);
  const geo::Raster scene = geo::Raster::open_georeferenced(result.scene_path);
  const auto& info = scene.info();
  EXPECT_EQ(info.width, 512);
  EXPECT_EQ(info.height, 512);
  ASSERT_EQ(info.bands.size(), 3u);
  EXPECT_EQ(info.srs().epsg().value_or(0), 32633);
  EXPECT_TRUE(info.transform.is_north_up());
  EXPECT_DOUBLE_EQ(info.transform.pixel_width(), 0.5);
  EXPECT_DOUBLE_EQ(info.transform.pixel_height(), 0.5);
  EXPECT_EQ(info.bands[0].description, "red");
  EXPECT_EQ(info.bands[2].description, "blue");
  EXPECT_EQ(info.bands[0].nodata.value_or(-1), 0);
  EXPECT_EQ(info.bands[0].block_width, 256);
  EXPECT_EQ(info.bands[0].block_height, 256);

  const geo::Raster truth = geo::Raster::open_georeferenced(result.truth_path);
  EXPECT_EQ(truth.info().transform, info.transform);
  EXPECT_EQ(truth.info().bands[0].nodata.value_or(-1), 255);
  const auto labels = test::read_band_u8(result.truth_path);
  const auto red = test::read_band_u8(result.scene_path);
  auto counts = histogram(labels);
  const double pixels = 512.0 * 512.0;
  EXPECT_GT(counts[1] / pixels, 0.02) << "buildings";
  EXPECT_LT(counts[1] / pixels, 0.5);
  EXPECT_GT(counts[2] / pixels, 0.03) << "roads";
  EXPECT_LT(counts[2] / pixels, 0.5);
  EXPECT_GT(counts[255] / pixels, 0.02) << "nodata corner";
  EXPECT_EQ(counts.size(), 4u) << "only 0, 1, 2 and 255";
  for (std::size_t i = 0; i < labels.size(); ++i)
    ASSERT_EQ(labels[i] == 255, red[i] == 0) << "nodata in the scene and the truth agree at " << i;
}

TEST(Synth, FourBandUint16) {
  const SynthResult result = make_scene("nir", 256, 2, 4, SampleType::uint16);
  const geo::Raster scene = geo::Raster::open(result.scene_path);
  ASSERT_EQ(scene.info().bands.size(), 4u);
  EXPECT_EQ(scene.info().bands[0].type, GDT_UInt16);
  EXPECT_EQ(scene.info().bands[3].description, "nir");
  const auto nir = test::read_band_f64(result.scene_path, 4);
  EXPECT_GT(*std::max_element(nir.begin(), nir.end()), 1000.0);  // reflectance x 10000
}

TEST(Synth, InvalidOptionsAreRefused) {
  SynthOptions options;
  options.out_dir = test::fresh_directory("bad");
  auto expect_usage_error = [](SynthOptions bad, const std::string& expected) {
    try {
      validate(bad);
      ADD_FAILURE() << "accepted: " << expected;
    } catch (const UsageError& error) {
      EXPECT_NE(std::string(error.what()).find(expected), std::string::npos) << error.what();
    }
  };
  auto bad = options;
  bad.bands = 5;
  expect_usage_error(bad, "--bands must be 3, 4 or 12");
  bad.bands = 12;  // Sentinel-2's bands are uint16
  expect_usage_error(bad, "--bands 12 (Sentinel-2's) goes with --dtype uint16");
  bad = options;
  bad.size = 10;
  expect_usage_error(bad, "--size must be 64 to 200000, got 10");
  bad = options;
  bad.epsg = 4326;
  expect_usage_error(bad, "is not a projected CRS in metres");
  bad = options;
  bad.epsg = 1;
  expect_usage_error(bad, "EPSG:1 is not a known CRS");
  bad = options;
  bad.gsd = 0;
  expect_usage_error(bad, "--gsd must be in");
}

TEST(SynthGeoref, BuildingsGeojsonRasterizesOntoTruth) {
  const SynthResult result = make_scene("scene", 768, 5);
  ASSERT_GE(result.buildings, 20);
  const geo::RasterInfo info = geo::Raster::open(result.truth_path).info();
  const auto truth = test::read_band_u8(result.truth_path);
  const auto burned = rasterize_like(info, result.buildings_path, false);
  EXPECT_GE(recall(truth, burned, 1), 0.99);
  // And the other way round: hardly any burned pixel where the truth says background.
  std::int64_t false_alarms = 0, building_pixels = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    building_pixels += truth[i] == 1;
    false_alarms += burned[i] == 1 && truth[i] == 0;
  }
  EXPECT_LE(false_alarms, building_pixels / 100);
}

TEST(SynthGeoref, RoadCentreLinesBufferedByWidthMatchTruth) {
  const SynthResult result = make_scene("scene", 768, 5);
  const geo::RasterInfo info = geo::Raster::open(result.truth_path).info();
  const auto truth = test::read_band_u8(result.truth_path);
  const auto burned = rasterize_like(info, result.roads_path, true);
  EXPECT_GE(recall(truth, burned, 2), 0.98);
}

TEST(SynthGeoref, VectorsAreLonLatInEpsg4326) {
  const SynthResult result = make_scene("scene", 256, 1);
  GDALDatasetUniquePtr vectors(GDALDataset::Open(result.buildings_path.c_str(), GDAL_OF_VECTOR));
  ASSERT_TRUE(vectors);
  OGRLayer* layer = vectors->GetLayer(0);
  ASSERT_NE(layer->GetSpatialRef(), nullptr);
  OGRSpatialReference wgs84;
  wgs84.importFromEPSG(4326);
  EXPECT_TRUE(layer->GetSpatialRef()->IsSame(&wgs84));
  OGREnvelope envelope;
  ASSERT_EQ(layer->GetExtent(&envelope), OGRERR_NONE);
  // EPSG:32633 covers 12..18 degrees east: the scene sits at its centre.
  EXPECT_GT(envelope.MinX, 14.9);
  EXPECT_LT(envelope.MaxX, 15.1);
  EXPECT_GT(envelope.MinY, 41.0);
  EXPECT_LT(envelope.MaxY, 43.0);
}

}  // namespace satunet::synth
