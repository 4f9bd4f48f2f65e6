#include <gdal_alg.h>
#include <gdal_priv.h>
#include <gdal_utils.h>
#include <gtest/gtest.h>
#include <ogrsf_frmts.h>

#include <filesystem>
#include <fstream>

#include "dist/mpi_communicator.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"
#include "synth/synth.hpp"
#include "test_support.hpp"
#include "tile_support.hpp"
#include "tiling/tiler.hpp"

namespace satunet::tiling {
namespace {
namespace fs = std::filesystem;

shards::Manifest tile_here(const TileOptions& options) {
  dist::MpiCommunicator self(MPI_COMM_SELF);
  return tile_dataset(options, self);
}

synth::SynthResult small_scene(const std::string& name, std::int64_t size, int bands = 3) {
  synth::SynthOptions options;
  options.out_dir = test::fresh_directory(name);
  options.size = size;
  options.bands = bands;
  options.seed = 4;
  return synth::synthesize(options);
}

TileOptions synthetic_options(const synth::SynthResult& scene, const std::string& out) {
  TileOptions options;
  options.scenes = {
      {scene.scene_path, "", {{"building", scene.buildings_path}, {"road", scene.roads_path}}}};
  options.width_field = "width_m";
  options.tile = 64;
  options.overlap = 16;
  options.val_fraction = 0.2;
  options.split_block = 2;
  options.shard_tiles = 20;
  options.out_dir = out;
  return options;
}

// The scene's pixels of `band` in a tile window, as the tiler should have stored them.
std::vector<double> scene_window(const geo::Raster& raster, int band, const shards::TileWindow& w,
                                 int tile) {
  const auto& info = raster.info();
  const std::int64_t columns = std::min<std::int64_t>(tile, info.width - w.x_off);
  const std::int64_t rows = std::min<std::int64_t>(tile, info.height - w.y_off);
  std::vector<double> part(static_cast<std::size_t>(columns * rows));
  raster.read({w.x_off, w.y_off, columns, rows}, {band}, GDT_Float64, part.data());
  std::vector<double> padded(static_cast<std::size_t>(tile * tile), 0.0);
  for (std::int64_t y = 0; y < rows; ++y)
    std::copy(part.begin() + y * columns, part.begin() + (y + 1) * columns,
              padded.begin() + y * tile);
  return padded;
}

// GDAL's own rasterizer (the gdal_rasterize program's code) onto the whole scene grid.
std::vector<std::uint8_t> rasterize_scene(const geo::RasterInfo& scene, GDALDataset& vectors,
                                          const std::vector<std::string>& args) {
  GDALDriver* mem = GetGDALDriverManager()->GetDriverByName("MEM");
  GDALDatasetUniquePtr target(mem->Create("", static_cast<int>(scene.width),
                                          static_cast<int>(scene.height), 1, GDT_Byte, nullptr));
  target->SetGeoTransform(const_cast<double*>(scene.transform.data()));
  const geo::SpatialRef srs = scene.srs();
  target->SetSpatialRef(&srs.ogr());
  std::vector<char*> argv;
  for (const std::string& arg : args)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  GDALRasterizeOptions* options = GDALRasterizeOptionsNew(argv.data(), nullptr);
  int usage_error = 0;
  EXPECT_NE(GDALRasterize(nullptr, target.get(), &vectors, options, &usage_error), nullptr);
  GDALRasterizeOptionsFree(options);
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(scene.width * scene.height));
  EXPECT_EQ(target->GetRasterBand(1)->RasterIO(GF_Read, 0, 0, static_cast<int>(scene.width),
                                               static_cast<int>(scene.height), pixels.data(),
                                               static_cast<int>(scene.width),
                                               static_cast<int>(scene.height), GDT_Byte, 0, 0),
            CE_None);
  return pixels;
}

struct Agreement {
  double worst_tile_difference = 0;  // of the class fraction, over tiles
  double iou = 0;                    // over all tiles
};

// Compares the tiles' labels of `cls` with an independent full-scene rasterization.
Agreement compare_labels(const std::map<test::TileKey, test::StoredTile>& tiles,
                         const std::vector<std::uint8_t>& reference, std::int64_t width,
                         std::int64_t height, int tile, std::uint8_t cls) {
  Agreement agreement;
  std::int64_t intersection = 0, union_count = 0;
  for (const auto& [key, stored] : tiles) {
    std::int64_t ours = 0, theirs = 0, valid = 0;
    for (std::int64_t y = 0; y < tile && stored.window.y_off + y < height; ++y) {
      for (std::int64_t x = 0; x < tile && stored.window.x_off + x < width; ++x) {
        const std::uint8_t label = stored.labels[static_cast<std::size_t>(y * tile + x)];
        if (label == 255)
          continue;
        const bool a = label == cls;
        const bool b = reference[static_cast<std::size_t>((stored.window.y_off + y) * width +
                                                          stored.window.x_off + x)] == cls;
        ++valid;
        ours += a;
        theirs += b;
        intersection += a && b;
        union_count += a || b;
      }
    }
    if (valid > 0)
      agreement.worst_tile_difference =
          std::max(agreement.worst_tile_difference,
                   std::abs(static_cast<double>(ours - theirs)) / static_cast<double>(valid));
  }
  agreement.iou = union_count ? static_cast<double>(intersection) / union_count : 1.0;
  return agreement;
}

void expect_pixels_match_scene(const std::map<test::TileKey, test::StoredTile>& tiles,
                               const geo::Raster& raster, const std::vector<int>& bands, int tile) {
  const std::size_t plane = static_cast<std::size_t>(tile * tile);
  for (const auto& [key, stored] : tiles) {
    for (std::size_t b = 0; b < bands.size(); ++b) {
      const auto expected = scene_window(raster, bands[b], stored.window, tile);
      for (std::size_t i = 0; i < plane; ++i)
        ASSERT_EQ(stored.image[b * plane + i], expected[i])
            << "band " << bands[b] << " tile (" << stored.window.x_off << ", "
            << stored.window.y_off << ") pixel " << i;
    }
  }
}

}  // namespace

TEST(Tile, SyntheticSceneEndToEnd) {
  const auto scene = small_scene("scene", 300);
  const std::string out = test::fresh_directory("dataset");
  const shards::Manifest manifest = tile_here(synthetic_options(scene, out));
  const auto tiles = test::read_tiles(out);
  ASSERT_FALSE(tiles.empty());
  EXPECT_EQ(static_cast<std::int64_t>(tiles.size()), manifest.total_tiles());
  EXPECT_GT(manifest.tiles_per_split.at("val"), 0);
  EXPECT_GT(manifest.tiles_per_split.at("train"), 0);
  EXPECT_EQ(manifest.classes, (std::vector<std::string>{"background", "building", "road"}));
  for (const auto& shard : manifest.shards)
    EXPECT_LE(shard.tiles, 20);

  // Every tile: the scene's pixels, zero padding past the edge, 255 labels there.
  const geo::Raster raster = geo::Raster::open(scene.scene_path);
  expect_pixels_match_scene(tiles, raster, {1, 2, 3}, 64);
  for (const auto& [key, stored] : tiles) {
    EXPECT_EQ(stored.window.width, 64);
    EXPECT_EQ(stored.window.x_off % 48, 0);
    EXPECT_EQ(stored.window.y_off % 48, 0);
    for (std::int64_t y = 0; y < 64; ++y)
      for (std::int64_t x = 0; x < 64; ++x)
        if (stored.window.x_off + x >= 300 || stored.window.y_off + y >= 300) {
          ASSERT_EQ(stored.labels[static_cast<std::size_t>(y * 64 + x)], 255);
        }
  }

  // The labels agree with the generator's own truth raster.
  const auto truth = test::read_band_u8(scene.truth_path);
  for (std::uint8_t cls : {1, 2}) {
    const Agreement agreement = compare_labels(tiles, truth, 300, 300, 64, cls);
    EXPECT_GT(agreement.iou, 0.95) << "class " << int(cls);
  }

  // Band statistics: those of the valid pixels of the stored tiles.
  ASSERT_EQ(manifest.bands.size(), 3u);
  double sum = 0, sum2 = 0;
  std::int64_t count = 0;
  for (const auto& [key, stored] : tiles)
    for (std::size_t i = 0; i < 64 * 64; ++i) {
      const bool padding = stored.window.x_off + static_cast<std::int64_t>(i % 64) >= 300 ||
                           stored.window.y_off + static_cast<std::int64_t>(i / 64) >= 300;
      if (padding || stored.image[i] == 0)
        continue;  // nodata is 0 in every band
      sum += stored.image[i];
      sum2 += stored.image[i] * stored.image[i];
      ++count;
    }
  EXPECT_EQ(manifest.bands[0].count, count);
  EXPECT_NEAR(manifest.bands[0].mean, sum / count, 1e-6);
  EXPECT_NEAR(manifest.bands[0].std, std::sqrt(sum2 / count - (sum / count) * (sum / count)), 1e-4);
  EXPECT_EQ(manifest.bands[0].name, "red");

  // Info describes the dataset.
  const auto info = test::run_satunet({"info", out});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("val " + std::to_string(manifest.tiles_per_split.at("val"))),
            std::string::npos)
      << info.out;
  EXPECT_NE(info.out.find("1 building"), std::string::npos) << info.out;
}

TEST(Tile, DropsNodataAndEmptyTilesBySeed) {
  const auto scene = small_scene("scene", 300);
  TileOptions options = synthetic_options(scene, test::fresh_directory("a"));
  options.max_nodata = 0.05;
  options.keep_empty = 0.0;
  options.val_fraction = 0;
  const auto strict = tile_here(options);
  EXPECT_GT(strict.dropped.at("nodata"), 0);
  for (const auto& [key, stored] : test::read_tiles(options.out_dir)) {
    const bool has_foreground = std::any_of(stored.labels.begin(), stored.labels.end(),
                                            [](std::uint8_t l) { return l == 1 || l == 2; });
    EXPECT_TRUE(has_foreground);
  }
  options.out_dir = test::fresh_directory("b");
  options.max_nodata = 1.0;
  options.keep_empty = 1.0;
  const auto all = tile_here(options);
  EXPECT_EQ(all.dropped.at("nodata"), 0);
  EXPECT_EQ(all.dropped.at("empty"), 0);
  EXPECT_EQ(all.total_tiles(), 6 * 6);  // offsets 0, 48, ..., 240 both ways
}

TEST(Tile, RealAtlantaBuildingsUint16Utm) {
  const std::string image = test::real_data("spacenet4_atlanta_buildings/image.tif");
  const std::string labels = test::real_data("spacenet4_atlanta_buildings/buildings.geojson");
  TileOptions options;
  options.scenes = {{image, "", {{"building", labels}}}};
  options.classes = {"background", "building"};
  options.tile = 128;
  options.overlap = 0;
  options.val_fraction = 0;
  options.max_nodata = 1.0;
  options.out_dir = test::fresh_directory("dataset");
  const shards::Manifest manifest = tile_here(options);
  EXPECT_EQ(manifest.dtype, "uint16");
  EXPECT_EQ(manifest.total_tiles(), 8 * 8);  // 900 px: offsets 0..896
  const auto tiles = test::read_tiles(options.out_dir);
  const geo::Raster raster = geo::Raster::open(image);
  expect_pixels_match_scene(tiles, raster, {1}, 128);

  // The tile's window maps to the world where GDAL puts the same pixels.
  const auto& scene = manifest.scenes.front();
  for (const auto& [key, stored] : tiles) {
    const geo::GeoTransform transform(scene.geotransform);
    const geo::Point corner = transform.pixel_to_world(stored.window.x_off, stored.window.y_off);
    double gdal[6];
    raster.dataset().GetGeoTransform(gdal);
    EXPECT_DOUBLE_EQ(corner.x, gdal[0] + stored.window.x_off * gdal[1]);
    EXPECT_DOUBLE_EQ(corner.y, gdal[3] + stored.window.y_off * gdal[5]);
  }

  GDALDatasetUniquePtr vectors(GDALDataset::Open(labels.c_str(), GDAL_OF_VECTOR));
  const auto reference = rasterize_scene(raster.info(), *vectors, {"-burn", "1"});
  const Agreement agreement = compare_labels(tiles, reference, 900, 900, 128, 1);
  EXPECT_LT(agreement.worst_tile_difference, 0.005);
  EXPECT_GT(agreement.iou, 0.99);
  // Nodata (0) pixels are ignored: the scene has some.
  std::int64_t ignored = 0;
  for (const auto& [key, stored] : tiles)
    for (std::size_t i = 0; i < stored.labels.size(); ++i)
      ignored += stored.labels[i] == 255 && stored.image[i] == 0;
  EXPECT_GT(ignored, 0);
}

TEST(Tile, RealVegasRoadsGeographicCrsBufferedInMetres) {
  const std::string image = test::real_data("spacenet3_vegas_roads/image.tif");
  const std::string roads = test::real_data("spacenet3_vegas_roads/roads.geojson");
  TileOptions options;
  options.scenes = {{image, "", {{"road", roads}}}};
  options.classes = {"background", "road"};
  options.line_width_m = {{"road", 6.0}};
  options.tile = 256;
  options.overlap = 0;
  options.val_fraction = 0;
  options.max_nodata = 1.0;
  options.out_dir = test::fresh_directory("dataset");
  const shards::Manifest manifest = tile_here(options);
  ASSERT_EQ(manifest.bands.size(), 3u) << "the alpha band is a mask, not an input";
  EXPECT_TRUE(manifest.tiling.at("alpha_as_mask").get<bool>());
  const auto tiles = test::read_tiles(options.out_dir);
  const geo::Raster raster = geo::Raster::open(image);
  expect_pixels_match_scene(tiles, raster, {1, 2, 3}, 256);

  // Independently: project the centre lines to UTM 11N, buffer 3 m there, back to degrees.
  GDALDatasetUniquePtr source(GDALDataset::Open(roads.c_str(), GDAL_OF_VECTOR));
  OGRSpatialReference utm, wgs84;
  utm.importFromEPSG(32611);
  wgs84.importFromEPSG(4326);
  utm.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  wgs84.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  std::unique_ptr<OGRCoordinateTransformation> to_utm(
      OGRCreateCoordinateTransformation(&wgs84, &utm));
  std::unique_ptr<OGRCoordinateTransformation> to_wgs84(
      OGRCreateCoordinateTransformation(&utm, &wgs84));
  GDALDriver* memory = GetGDALDriverManager()->GetDriverByName("Memory");
  GDALDatasetUniquePtr buffered(memory->Create("", 0, 0, 0, GDT_Unknown, nullptr));
  OGRLayer* layer = buffered->CreateLayer("roads", &wgs84, wkbPolygon, nullptr);
  for (auto& feature : *source->GetLayer(0)) {
    std::unique_ptr<OGRGeometry> line(feature->GetGeometryRef()->clone());
    line->transform(to_utm.get());
    std::unique_ptr<OGRGeometry> area(line->Buffer(3.0, 16));
    area->transform(to_wgs84.get());
    OGRFeatureUniquePtr out(OGRFeature::CreateFeature(layer->GetLayerDefn()));
    out->SetGeometry(area.get());
    ASSERT_EQ(layer->CreateFeature(out.get()), OGRERR_NONE);
  }
  const auto reference = rasterize_scene(raster.info(), *buffered, {"-burn", "1"});
  const Agreement agreement = compare_labels(tiles, reference, 1300, 1300, 256, 1);
  EXPECT_LT(agreement.worst_tile_difference, 0.01);
  EXPECT_GT(agreement.iou, 0.95);
  // Pixels where alpha is 0 are ignored.
  std::vector<std::uint8_t> alpha(1300 * 1300);
  raster.read({0, 0, 1300, 1300}, {4}, GDT_Byte, alpha.data());
  for (const auto& [key, stored] : tiles)
    for (std::int64_t y = 0; y < 256 && stored.window.y_off + y < 1300; ++y)
      for (std::int64_t x = 0; x < 256 && stored.window.x_off + x < 1300; ++x)
        if (alpha[(stored.window.y_off + y) * 1300 + stored.window.x_off + x] == 0) {
          ASSERT_EQ(stored.labels[y * 256 + x], 255);
        }
}

TEST(Tile, RealKampalaMaskRaster) {
  const std::string image = test::real_data("kampala_buildings/image.tif");
  const std::string mask = test::real_data("kampala_buildings/mask.tif");
  TileOptions options;
  options.scenes = {{image, mask, {}}};
  options.classes = {"background", "building"};
  options.tile = 256;
  options.overlap = 64;
  options.val_fraction = 0.25;
  options.split_block = 1;
  options.out_dir = test::fresh_directory("dataset");
  const shards::Manifest manifest = tile_here(options);
  const auto tiles = test::read_tiles(options.out_dir);
  ASSERT_FALSE(tiles.empty());
  const auto truth = test::read_band_u8(mask);
  std::int64_t building = 0;
  for (const auto& [key, stored] : tiles)
    for (std::int64_t y = 0; y < 256; ++y)
      for (std::int64_t x = 0; x < 256; ++x) {
        const std::uint8_t label = stored.labels[static_cast<std::size_t>(y * 256 + x)];
        if (stored.window.x_off + x >= 1024 || stored.window.y_off + y >= 1024)
          continue;
        if (label == 255)
          continue;
        ASSERT_EQ(label, truth[(stored.window.y_off + y) * 1024 + stored.window.x_off + x]);
        building += label == 1;
      }
  EXPECT_GT(building, 0);
  EXPECT_GT(manifest.class_pixels.at("train")[1], 0);
}

}  // namespace satunet::tiling
