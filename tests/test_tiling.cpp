// The tiling library and `satunet tile`: the tile grid and split, tiles against their scenes
// and labels (generated and real), bad input, and 1 vs 2 or 3 ranks.
#include <cpl_vsi.h>
#include <gdal_alg.h>
#include <gdal_priv.h>
#include <gdal_utils.h>
#include <gtest/gtest.h>
#include <ogrsf_frmts.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <set>
#include <sstream>
#include <type_traits>

#include "comm/mpi_communicator.hpp"
#include "common/error.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"
#include "shards/manifest.hpp"
#include "synth/synth.hpp"
#include "test_support.hpp"
#include "tiling/grid.hpp"
#include "tiling/scene_list.hpp"
#include "tiling/tiler.hpp"

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
  const std::vector<SplitPlan::SceneGrid> grids{{40, 40, {}}, {13, 7, {}}};
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
  const SplitPlan plan({{20, 20, {}}}, 64, 64, 4, 0.3, 1);
  for (std::int64_t r = 0; r < 20; ++r)
    for (std::int64_t c = 0; c < 20; ++c)
      EXPECT_NE(plan.split_of(0, c, r), Split::guard);
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

namespace satunet::tiling {
namespace {
namespace fs = std::filesystem;

shards::Manifest tile_here(const TileOptions& options) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  return tile_dataset(options, self);
}

TileOptions synthetic_options(const synth::SynthResult& scene, const std::string& out) {
  TileOptions options;
  options.images = {scene.scene_path};
  options.labels = {{"building", scene.buildings_path}, {"road", scene.roads_path}};
  options.line_widths.width_field = "width_m";
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
  const auto scene = test::synthetic_scene(test::fresh_directory("scene"), 300, 4);
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
  const auto scene = test::synthetic_scene(test::fresh_directory("scene"), 300, 4);
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
  options.images = {image};
  options.labels = {{"building", labels}};
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
  options.images = {image};
  options.labels = {{"road", roads}};
  options.classes = {"background", "road"};
  options.line_widths.line_width_m = {{"road", 6.0}};
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
  options.images = {image};
  options.mask = mask;
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

// The same ground three times: Kampala's real scene, a crop of it off the tile grid, and the
// scene warped to UTM 36N (its mask warped onto each grid on the fly). Whatever blocks the seed
// makes val, no train tile of one scene covers ground a val tile of another covers.
TEST(Tile, ValidationSharesNoGroundWithTrainingAcrossScenes) {
  const std::string dir = test::fresh_directory("ground");
  const std::string image = test::real_data("kampala_buildings/image.tif");
  const std::string mask = test::real_data("kampala_buildings/mask.tif");
  for (const auto& argv : std::vector<std::vector<std::string>>{
           {"gdal_translate", "-q", "-srcwin", "300", "200", "600", "600", image,
            dir + "/crop.tif"},
           {"gdalwarp", "-q", "-t_srs", "EPSG:32636", "-r", "near", image, dir + "/utm.tif"}}) {
    const auto made = test::run_program(argv);
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  const std::vector<std::string> images = {image, dir + "/crop.tif", dir + "/utm.tif"};
  std::ofstream(dir + "/scenes.csv") << "image,mask\n"
                                     << images[0] << "," << mask << "\n"
                                     << images[1] << "," << mask << "\n"
                                     << images[2] << "," << mask << "\n";
  TileOptions options;
  options.scene_list = dir + "/scenes.csv";
  options.classes = {"background", "building"};
  options.tile = 128;
  options.overlap = 0;
  options.val_fraction = 0.3;
  options.split_block = 2;
  options.max_nodata = 1.0;
  options.out_dir = dir + "/dataset";
  const shards::Manifest manifest = tile_here(options);
  const auto tiles = test::read_tiles(options.out_dir);
  // Each tile's ground as a polygon in lon/lat.
  struct Ground {
    int scene;
    bool val;
    std::unique_ptr<OGRGeometry> polygon;
  };
  std::vector<Ground> grounds;
  OGRSpatialReference wgs84;
  wgs84.importFromEPSG(4326);
  wgs84.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
  for (const auto& [key, stored] : tiles) {
    const geo::RasterInfo info = geo::Raster::open(images[std::get<0>(key)]).info();
    const shards::TileWindow& w = stored.window;
    OGRLinearRing ring;
    for (const auto& [x, y] :
         std::vector<std::pair<std::int64_t, std::int64_t>>{{w.x_off, w.y_off},
                                                            {w.x_off + w.width, w.y_off},
                                                            {w.x_off + w.width, w.y_off + w.height},
                                                            {w.x_off, w.y_off + w.height},
                                                            {w.x_off, w.y_off}}) {
      const geo::Point p =
          info.transform.pixel_to_world(static_cast<double>(x), static_cast<double>(y));
      ring.addPoint(p.x, p.y);
    }
    auto polygon = std::make_unique<OGRPolygon>();
    polygon->addRing(&ring);
    OGRSpatialReference srs;
    srs.importFromWkt(info.crs_wkt.c_str());
    srs.SetAxisMappingStrategy(OAMS_TRADITIONAL_GIS_ORDER);
    polygon->assignSpatialReference(&srs);
    ASSERT_EQ(polygon->transformTo(&wgs84), OGRERR_NONE);
    polygon->assignSpatialReference(nullptr);
    grounds.push_back({std::get<0>(key), stored.split == "val", std::move(polygon)});
  }
  std::int64_t val = 0, shared = 0;
  for (const Ground& held_out : grounds) {
    if (!held_out.val)
      continue;
    ++val;
    const double area = held_out.polygon->toPolygon()->get_Area();
    for (const Ground& trained : grounds)
      if (!trained.val && trained.scene != held_out.scene &&
          held_out.polygon->Intersects(trained.polygon.get())) {
        const std::unique_ptr<OGRGeometry> both(
            held_out.polygon->Intersection(trained.polygon.get()));
        if (both && both->getGeometryType() != wkbLineString && both->IsEmpty() == FALSE &&
            OGR_G_Area(OGRGeometry::ToHandle(both.get())) > 1e-3 * area)
          ++shared;
      }
  }
  EXPECT_GT(val, 3);
  EXPECT_EQ(shared, 0) << "train tiles sharing ground with another scene's val tiles";
  EXPECT_GT(manifest.tiles_per_split.at("train"), 10) << "the guard keeps training possible";
  // One scene listed twice is refused, whatever its georeferencing.
  std::ofstream(dir + "/twice.csv") << "image,mask\n"
                                    << images[0] << "," << mask << "\n"
                                    << dir << "/../ground/crop.tif," << mask << "\n"
                                    << images[1] << "," << mask << "\n";
  options.scene_list = dir + "/twice.csv";
  test::expect_error([&] { tile_here(options); },
                     {dir + "/crop.tif: listed twice (scenes 2 and 3): its pixels would be in "
                            "the dataset twice"});
}

}  // namespace satunet::tiling

namespace satunet {
namespace {
namespace fs = std::filesystem;

struct Fixture {
  std::string dir;
  synth::SynthResult scene;
};

Fixture make_fixture(std::int64_t size = 128, int bands = 3, const std::string& name = "scene") {
  Fixture fixture;
  fixture.dir = test::fresh_directory("work-" + name);
  fixture.scene = test::synthetic_scene(fixture.dir + "/" + name, size, 1, bands);
  return fixture;
}

void expect_failure(const std::vector<std::string>& args, int code,
                    const std::vector<std::string>& parts) {
  const auto result = test::run_satunet(args);
  EXPECT_EQ(result.exit_code, code) << result.err;
  for (const std::string& part : parts)
    EXPECT_NE(result.err.find(part), std::string::npos)
        << "'" << part << "' not in: " << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

std::vector<std::string> tile_args(const Fixture& f, const std::string& out) {
  return {"tile",
          "--out",
          out,
          "--image",
          f.scene.scene_path,
          "--labels",
          "building=" + f.scene.buildings_path,
          "--labels",
          "road=" + f.scene.roads_path,
          "--width-field",
          "width_m",
          "--tile",
          "64",
          "-q"};
}

// A copy of a raster with its geotransform or CRS or grid changed.
std::string altered_copy(const std::string& source, const std::string& target,
                         bool drop_georeferencing, double shift_x = 0) {
  geo::init_gdal();
  GDALDatasetUniquePtr in(GDALDataset::Open(source.c_str(), GDAL_OF_RASTER));
  GDALDriver* gtiff = GetGDALDriverManager()->GetDriverByName("GTiff");
  GDALDatasetUniquePtr out(
      gtiff->CreateCopy(target.c_str(), in.get(), FALSE, nullptr, nullptr, nullptr));
  if (drop_georeferencing) {
    out.reset();
    // Rewrite without any georeferencing at all.
    GDALDatasetUniquePtr plain(gtiff->Create(target.c_str(), in->GetRasterXSize(),
                                             in->GetRasterYSize(), in->GetRasterCount(),
                                             in->GetRasterBand(1)->GetRasterDataType(), nullptr));
    std::vector<std::uint8_t> pixels(static_cast<std::size_t>(in->GetRasterXSize()) *
                                     in->GetRasterYSize() * in->GetRasterCount() * 8);
    EXPECT_EQ(in->RasterIO(GF_Read, 0, 0, in->GetRasterXSize(), in->GetRasterYSize(), pixels.data(),
                           in->GetRasterXSize(), in->GetRasterYSize(),
                           in->GetRasterBand(1)->GetRasterDataType(), in->GetRasterCount(), nullptr,
                           0, 0, 0, nullptr),
              CE_None);
    EXPECT_EQ(plain->RasterIO(GF_Write, 0, 0, in->GetRasterXSize(), in->GetRasterYSize(),
                              pixels.data(), in->GetRasterXSize(), in->GetRasterYSize(),
                              in->GetRasterBand(1)->GetRasterDataType(), in->GetRasterCount(),
                              nullptr, 0, 0, 0, nullptr),
              CE_None);
    int has_nodata = 0;
    const double nodata = in->GetRasterBand(1)->GetNoDataValue(&has_nodata);
    for (int band = 1; has_nodata && band <= plain->GetRasterCount(); ++band)
      plain->GetRasterBand(band)->SetNoDataValue(nodata);
    return target;
  }
  double transform[6];
  out->GetGeoTransform(transform);
  transform[0] += shift_x;
  out->SetGeoTransform(transform);
  return target;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

}  // namespace

}  // namespace satunet

namespace satunet {}  // namespace satunet

namespace satunet::tiling {
namespace fs = std::filesystem;

TEST(TileErrors, DamagedAndImpossibleScenesNameTheFileAndTheLimit) {
  const Fixture f = make_fixture(1024);
  // Cut short: the reason GDAL gives, whether it decodes on this thread or on its own.
  const std::string cut = f.dir + "/cut.tif";
  const std::string whole = test::file_bytes(f.scene.scene_path);
  std::ofstream(cut, std::ios::binary) << whole.substr(0, whole.size() / 3);
  for (const char* threads : {"1", "2"}) {
    SCOPED_TRACE(std::string("--threads ") + threads);
    auto args = tile_args(f, f.dir + "/out");
    args[4] = cut;
    args.insert(args.end() - 1, {"--threads", threads});
    const auto result = test::run_satunet(args);
    test::expect_failure(result, 1, "satunet tile: " + cut + ": read of window");
    EXPECT_EQ(result.err.find("GDAL gave no reason"), std::string::npos) << result.err;
  }
  {  // Two ranks failing at once: each says so on a whole line of its own.
    auto args = tile_args(f, f.dir + "/out");
    args[4] = cut;
    const auto result = test::run_satunet_ranks(2, args);
    EXPECT_NE(result.exit_code, 0);
    std::istringstream lines(result.err);
    int said = 0;
    for (std::string line; std::getline(lines, line);) {
      if (line.find("satunet tile") == std::string::npos)
        continue;  // mpirun's own notices
      ++said;
      EXPECT_EQ(line.rfind("satunet tile [rank ", 0), 0u) << line;
      EXPECT_EQ(line.find("satunet tile", 1), std::string::npos) << "two messages in: " << line;
    }
    EXPECT_GE(said, 1) << result.err;
  }
  // Two billion pixels wide: refused before a strip of them is allocated.
  const std::string wide = f.dir + "/wide.vrt";
  write_text(wide,
             "<VRTDataset rasterXSize=\"2000000000\" rasterYSize=\"64\"><SRS>EPSG:32633</SRS>"
             "<GeoTransform>500000, 1, 0, 4000000, 0, -1</GeoTransform>"
             "<VRTRasterBand dataType=\"Byte\" band=\"1\"/></VRTDataset>");
  auto args = tile_args(f, f.dir + "/out");
  args[4] = wide;
  const auto result = test::run_satunet(args);
  test::expect_failure(result, 1,
                       wide +
                           ": a strip of 64 rows of 2000000000 pixels in 1 bands is 122070 "
                           "MiB, more than the 4096 MiB satunet reads at once");
  EXPECT_LT(result.peak_rss_mb, 1024);
  EXPECT_FALSE(fs::exists(f.dir + "/out/manifest.json"));
}

TEST(TileErrors, ExistingDatasetNeedsOverwrite) {
  const Fixture f = make_fixture();
  const std::string out = f.dir + "/out";
  ASSERT_EQ(test::run_satunet(tile_args(f, out)).exit_code, 0);
  expect_failure(tile_args(f, out), 1,
                 {out + ": holds a dataset already; --overwrite replaces it"});
  auto again = tile_args(f, out);
  again.push_back("--overwrite");
  const auto result = test::run_satunet(again);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(fs::exists(out + "/manifest.json"));
}

TEST(TileErrors, WriteFailureLeavesNoManifestAndNoShards) {
  const Fixture f = make_fixture(1536);
  const std::string out = f.dir + "/out";
  auto args = tile_args(f, out);
  for (const char* extra : {"--compress", "0", "--shard-tiles", "100000", "--val-fraction", "0"})
    args.push_back(extra);
  // MPI start-up needs files of a few MB; the uncompressed shard outgrows 4 MiB.
  const auto result = test::run_satunet(args, 4 * 1024 * 1024);
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.err.find(".h5"), std::string::npos) << result.err;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  EXPECT_FALSE(fs::exists(out + "/manifest.json"));
  for (const auto& entry : fs::directory_iterator(out + "/shards"))
    ADD_FAILURE() << "left behind: " << entry.path();
}

TEST(TileErrors, ScenesWithDifferentBands) {
  const Fixture three = make_fixture(128, 3, "rgb");
  const Fixture four = make_fixture(128, 4, "rgbn");
  expect_failure(
      {"tile", "--out", three.dir + "/out", "--image", three.scene.scene_path, "--image",
       four.scene.scene_path, "--labels", "building=" + three.scene.buildings_path, "-q"},
      1,
      {four.scene.scene_path + ": has 4 input bands (uint8) but",
       "all scenes of a dataset need the same bands and data type"});
}

TEST(TileErrors, UngeoreferencedMaskOnAnotherGridOrUnknownClasses) {
  const Fixture f = make_fixture();
  // A georeferenced mask on another grid is warped onto the scene's (ClassRasterOnAnotherGrid);
  // one without georeferencing cannot be.
  const Fixture other = make_fixture(192, 3, "bigger");
  const std::string plain = altered_copy(other.scene.truth_path, f.dir + "/plain.tif", true);
  expect_failure(
      {"tile", "--out", f.dir + "/out", "--image", f.scene.scene_path, "--mask", plain, "-q"}, 1,
      {plain + ": 192 x 192 pixels but the scene " + f.scene.scene_path,
       "(only georeferenced rasters are warped onto another grid)"});
  // truth.tif holds roads (2): not a class when only background and building are named.
  expect_failure({"tile", "--out", f.dir + "/out", "--image", f.scene.scene_path, "--mask",
                  f.scene.truth_path, "--classes", "background,building", "-q"},
                 1,
                 {f.scene.truth_path + ": value 2 at pixel (",
                  "is neither a class id (0 to 1: background,building), 255 nor the nodata value"});
}

TEST(TileErrors, LabelsOutsideTheScenePrintBothExtents) {
  const Fixture f = make_fixture();
  const std::string far = f.dir + "/far.geojson";
  write_text(far, R"({"type":"FeatureCollection","features":[{"type":"Feature","properties":{},
    "geometry":{"type":"Polygon","coordinates":[[[100,10],[100.001,10],[100.001,10.001],[100,10]]]}}]})");
  expect_failure({"tile", "--out", f.dir + "/out", "--image", f.scene.scene_path, "--labels",
                  "building=" + far, "-q"},
                 1,
                 {far + ": labels do not overlap the scene " + f.scene.scene_path,
                  "labels extent [", "scene extent [", "(in EPSG:32633"});
  EXPECT_FALSE(fs::exists(f.dir + "/out/manifest.json"));
}

TEST(TileErrors, VectorLabelsWithoutCrs) {
  const Fixture f = make_fixture();
  geo::init_gdal();
  const std::string shp = f.dir + "/nocrs.shp";
  {
    GDALDriver* driver = GetGDALDriverManager()->GetDriverByName("ESRI Shapefile");
    GDALDatasetUniquePtr out(driver->Create(shp.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
    OGRLayer* layer = out->CreateLayer("nocrs", nullptr, wkbPolygon, nullptr);
    OGRFeatureUniquePtr feature(OGRFeature::CreateFeature(layer->GetLayerDefn()));
    OGRPolygon square;
    OGRLinearRing ring;
    for (auto [x, y] : {std::pair{0.0, 0.0}, {1.0, 0.0}, {1.0, 1.0}, {0.0, 0.0}})
      ring.addPoint(x, y);
    square.addRing(&ring);
    feature->SetGeometry(&square);
    ASSERT_EQ(layer->CreateFeature(feature.get()), OGRERR_NONE);
  }
  expect_failure({"tile", "--out", f.dir + "/out", "--image", f.scene.scene_path, "--labels",
                  "building=" + shp, "-q"},
                 1, {shp + ": vector labels have no CRS"});
}

TEST(TileErrors, UngeoreferencedSceneNeedsTheFlagAndAMask) {
  const Fixture f = make_fixture();
  const std::string plain = altered_copy(f.scene.scene_path, f.dir + "/plain.tif", true);
  auto args = tile_args(f, f.dir + "/out");
  args[4] = plain;
  expect_failure(args, 1, {plain + ": raster has no georeferencing", "--allow-ungeoreferenced"});
  const std::string mask = altered_copy(f.scene.truth_path, f.dir + "/plain_mask.tif", true);
  const auto result = test::run_satunet({"tile", "--out", f.dir + "/ok", "--image", plain, "--mask",
                                         mask, "--allow-ungeoreferenced", "--tile", "64", "-q"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(fs::exists(f.dir + "/ok/manifest.json"));
}

TEST(TileErrors, MissingAndCorruptImages) {
  const Fixture f = make_fixture();
  auto args = tile_args(f, f.dir + "/out");
  args[4] = f.dir + "/nothing.tif";
  expect_failure(args, 1, {f.dir + "/nothing.tif: no such file"});
  write_text(f.dir + "/corrupt.tif", "II*\0not really a tiff");
  args[4] = f.dir + "/corrupt.tif";
  expect_failure(args, 1, {f.dir + "/corrupt.tif: cannot open raster"});
  EXPECT_FALSE(fs::exists(f.dir + "/out/manifest.json"));
}

TEST(TileErrors, OptionValuesExitWithCode2) {
  const Fixture f = make_fixture();
  auto args = tile_args(f, f.dir + "/out");
  args.erase(std::find(args.begin(), args.end(), "--tile"), args.end() - 1);  // keep -q
  auto with = [&](std::vector<std::string> extra) {
    auto all = args;
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  };
  expect_failure(with({"--tile", "100"}), 2, {"--tile must be a multiple of 16"});
  expect_failure(with({"--overlap", "256"}), 2, {"--overlap must be in [0, tile)"});
  expect_failure(with({"--val-fraction", "1.5"}), 2, {"--val-fraction must be in [0, 1)"});
  expect_failure(with({"--line-width", "river=5"}), 2,
                 {"--line-width: class 'river' is not in --classes (background,building,road)"});
  expect_failure(
      {"tile", "--out", f.dir + "/o", "--image", f.scene.scene_path, "--labels",
       f.scene.buildings_path, "--class-field", "class", "--class-map", "building=bridge"},
      2, {"--class-map: class 'bridge' is not in --classes"});
  expect_failure({"tile", "--out", f.dir + "/o", "--image", f.scene.scene_path}, 2,
                 {"no labels: give --labels CLASS=FILE or --mask FILE"});
  expect_failure(with({"--classes", "background,road,road"}), 2,
                 {"--classes: class 'road' is named twice"});
  expect_failure(with({"--classes", "background,,road"}), 2,
                 {"--classes: an empty class name in 'background,,road'"});
  expect_failure(with({"--threads", "100000"}), 2, {"--threads must be 0 (automatic) to 1024"});
  expect_failure(with({"--compress", "zstd"}), 2,
                 {"--compress must be 0 (none), 1..9 (deflate level) or lz4 (got 'zstd')"});
  EXPECT_FALSE(fs::exists(f.dir + "/out/manifest.json"));
}

TEST(TileCli, AUsageErrorEndsTheJobWithOneMessage) {
  // A 1 px scene: the second rank has no tile row, and once never met the unknown class.
  const Fixture f = make_fixture();
  const std::string pixel = f.dir + "/pixel.tif";
  ASSERT_EQ(test::run_program(
                {"gdal_translate", "-q", "-srcwin", "0", "0", "1", "1", f.scene.scene_path, pixel})
                .exit_code,
            0);
  const auto result = test::run_satunet_ranks(
      2, {"tile", "--image", pixel, "--labels", "foo=" + f.scene.buildings_path, "--classes",
          "background,building", "--tile", "64", "--out", f.dir + "/o"});
  test::expect_failure(result, 2,
                       "--labels " + f.scene.buildings_path +
                           ": class 'foo' is not in --classes (background,building)");
  std::size_t said = 0;
  for (std::size_t at = result.err.find("satunet tile:"); at != std::string::npos;
       at = result.err.find("satunet tile:", at + 1))
    ++said;
  EXPECT_EQ(said, 1u) << result.err;
  EXPECT_FALSE(fs::exists(f.dir + "/o"));
}

TEST(TileCli, ALineInAGeometryCollectionIsBufferedAndItsPointBurnsNothing) {
  const Fixture f = make_fixture(256);
  const geo::RasterInfo info = geo::Raster::open(f.scene.scene_path).info();
  const auto& c = info.transform.coefficients();
  auto at = [&](double column, double row) {
    return "[" + std::to_string(c[0] + column * c[1]) + ", " + std::to_string(c[3] + row * c[5]) +
           "]";
  };
  const std::string line =
      R"({"type": "LineString", "coordinates": [)" + at(10, 40) + ", " + at(200, 60) + "]}";
  const std::string point = R"({"type": "Point", "coordinates": )" + at(100, 150) + "}";
  auto feature_collection = [&](const std::string& geometry) {
    return R"({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:32633"}}, "features": [{"type": "Feature", "properties": {}, "geometry": )" +
           geometry + "}]}";
  };
  write_text(f.dir + "/plain.geojson", feature_collection(line));
  write_text(f.dir + "/collection.geojson",
             feature_collection(R"({"type": "GeometryCollection", "geometries": [)" + line + ", " +
                                point + "]}"));
  std::map<std::string, std::vector<std::int64_t>> pixels;
  for (const std::string name : {"plain", "collection"}) {
    const auto result = test::run_satunet(
        {"tile", "--out", f.dir + "/" + name, "--image", f.scene.scene_path, "--labels",
         "road=" + f.dir + "/" + name + ".geojson", "--classes", "background,road", "--line-width",
         "road=6", "--tile", "64", "--overlap", "0", "--val-fraction", "0", "-q"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    pixels[name] = shards::Manifest::load(f.dir + "/" + name).class_pixels.at("train");
  }
  EXPECT_EQ(pixels["collection"], pixels["plain"]) << "the same road, and no point";
  // 191 px long, 6 m wide.
  const double expected = std::hypot(190.0, 20.0) * 6 / info.transform.pixel_width();
  EXPECT_NEAR(static_cast<double>(pixels["plain"][1]), expected, expected * 0.15);
}

TEST(TileCli, AnEmptySplitIsWarnedOf) {
  const Fixture f = make_fixture(128);
  auto args = tile_args(f, f.dir + "/out");
  args.pop_back();  // -q would hide the warning
  args.insert(args.end(), {"--overlap", "0", "--val-fraction", "0.1"});
  const auto result = test::run_satunet(args);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("tile: the val split has no tile (4 tiles in all)"), std::string::npos)
      << result.err;
}

TEST(TileCli, ScenesCsvMixesMaskAndVectorScenes) {
  const Fixture one = make_fixture(192, 3, "one");
  const Fixture two = make_fixture(160, 3, "two");
  const std::string csv = one.dir + "/scenes.csv";
  std::ofstream(csv) << "image,mask,labels\n"
                     << one.scene.scene_path << "," << one.scene.truth_path << ",\n"
                     << two.scene.scene_path << ",,building=" << two.scene.buildings_path
                     << ";road=" << two.scene.roads_path << "\n";
  // Both synthetic scenes lie on the same ground: with a val split, one would only guard the
  // other (Tile.ValidationSharesNoGroundWithTrainingAcrossScenes).
  const auto result =
      test::run_satunet({"tile", "--out", one.dir + "/out", "--scenes", csv, "--width-field",
                         "width_m", "--tile", "64", "--val-fraction", "0", "-q"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto manifest = shards::Manifest::load(one.dir + "/out");
  ASSERT_EQ(manifest.scenes.size(), 2u);
  EXPECT_GT(manifest.scenes[0].tiles, 0);
  EXPECT_GT(manifest.scenes[1].tiles, 0);
  EXPECT_EQ(manifest.scenes[0].width, 192);
  EXPECT_EQ(manifest.scenes[1].width, 160);
  EXPECT_NE(manifest.scenes[0].labels.find("mask"), std::string::npos);
  expect_failure(
      {"tile", "--out", one.dir + "/out2", "--scenes", csv, "--image", one.scene.scene_path}, 2,
      {"give --image or --scenes, not both"});
}

TEST(TileCli, Lz4ShardsHoldTheSameTilesAsDeflateOnes) {
  // --compress lz4: HDF5's filter 32004 on the shards (see Shards.Lz4ShardsReadBack...), the
  // codec recorded in the manifest, every tile as a deflated dataset holds it.
  const Fixture f = make_fixture(256);
  std::vector<std::map<test::TileKey, test::StoredTile>> datasets;
  for (const char* codec : {"1", "lz4"}) {
    const std::string out = f.dir + "/compress-" + codec;
    auto args = tile_args(f, out);
    args.insert(args.end(), {"--compress", codec});
    const auto result = test::run_satunet(args);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(shards::Manifest::load(out).tiling.at("compress"), codec);
    datasets.push_back(test::read_tiles(out));
  }
  ASSERT_FALSE(datasets[0].empty());
  ASSERT_EQ(datasets[0].size(), datasets[1].size());
  for (const auto& [key, deflated] : datasets[0]) {
    ASSERT_EQ(datasets[1].count(key), 1u);
    EXPECT_EQ(datasets[1].at(key).image, deflated.image);
    EXPECT_EQ(datasets[1].at(key).labels, deflated.labels);
  }
}

TEST(TileCli, ClassFieldAndMapGiveTheSameLabelsAsOneFilePerClass) {
  const Fixture f = make_fixture(256);
  const auto per_class = test::run_satunet(tile_args(f, f.dir + "/per-class"));
  ASSERT_EQ(per_class.exit_code, 0) << per_class.err;
  const auto by_field =
      test::run_satunet({"tile", "--out", f.dir + "/by-field", "--image", f.scene.scene_path,
                         "--labels", f.scene.buildings_path, "--labels", f.scene.roads_path,
                         "--class-field", "class", "--class-map", "building=building,road=road",
                         "--width-field", "width_m", "--tile", "64", "-q"});
  ASSERT_EQ(by_field.exit_code, 0) << by_field.err;
  const auto a = shards::Manifest::load(f.dir + "/per-class");
  const auto b = shards::Manifest::load(f.dir + "/by-field");
  EXPECT_EQ(a.class_pixels, b.class_pixels);
  EXPECT_GT(a.class_pixels.at("train")[1], 0);
  EXPECT_GT(a.class_pixels.at("train")[2], 0);
}

namespace {

// A one-band scene of `values` (UTM 33N, 1 m pixels) stored as T, and a class map on its grid
// with a building everywhere, so that every tile is kept.
template <typename T>
std::pair<std::string, std::string> float_scene(const std::string& dir, const std::string& name,
                                                int size, const std::vector<T>& values) {
  geo::init_gdal();
  const std::string path = dir + "/" + name + ".tif";
  const GDALDataType type = std::is_same_v<T, float> ? GDT_Float32 : GDT_Float64;
  {
    GDALDatasetUniquePtr out(GetGDALDriverManager()->GetDriverByName("GTiff")->Create(
        path.c_str(), size, size, 1, type, nullptr));
    double transform[6] = {500000, 1, 0, 6000000, 0, -1};
    out->SetGeoTransform(transform);
    OGRSpatialReference utm;
    utm.importFromEPSG(32633);
    out->SetSpatialRef(&utm);
    EXPECT_EQ(
        out->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, size, size, const_cast<T*>(values.data()),
                                        size, size, type, 0, 0),
        CE_None);
  }
  const std::string mask = test::write_class_map(
      dir + "/" + name + "-mask.tif", size, size,
      std::vector<std::uint8_t>(static_cast<std::size_t>(size * size), 1), path);
  return {path, mask};
}

// `files` stored by their names in a new zip archive at `zip`, written through GDAL; returns
// the archive as GDAL names it, "/vsizip/ZIP".
std::string zip_of(const std::string& zip, const std::vector<std::string>& files) {
  geo::init_gdal();
  fs::remove(zip);
  for (const std::string& file : files) {
    const std::string bytes = test::file_bytes(file);
    const std::string inside = "/vsizip/" + zip + "/" + fs::path(file).filename().string();
    VSILFILE* out = VSIFOpenL(inside.c_str(), "wb");
    EXPECT_NE(out, nullptr) << inside;
    if (!out)
      return "";
    EXPECT_EQ(VSIFWriteL(bytes.data(), 1, bytes.size(), out), bytes.size());
    VSIFCloseL(out);
  }
  return "/vsizip/" + zip;
}

}  // namespace

// Not finite pixels (+-inf as NaN) are no data: left out of the statistics, which stay finite,
// and their labels ignored. Float64 values whose squares overflow are refused, naming the
// scene, band and tile; nothing of the dataset is left.
TEST(TileErrors, NonFinitePixelsAreNoDataAndHugeValuesAreRefused) {
  const std::string dir = test::fresh_directory("nonfinite");
  const int size = 128;
  std::vector<float> values(static_cast<std::size_t>(size * size));
  for (std::size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<float>(i % 251) * 0.5f - 20.0f;
  const float inf = std::numeric_limits<float>::infinity();
  for (std::size_t i : {3u, 500u, 4100u, 9000u, 16000u})
    values[i] = inf;
  for (std::size_t i : {7u, 8200u, 12345u})
    values[i] = -inf;
  values[77] = std::numeric_limits<float>::quiet_NaN();
  double sum = 0;
  std::int64_t count = 0;
  for (float value : values)
    if (std::isfinite(value)) {
      sum += value;
      ++count;
    }
  const double mean = sum / static_cast<double>(count);
  double squares = 0;
  for (float value : values)
    if (std::isfinite(value))
      squares += (value - mean) * (value - mean);
  const double std_dev = std::sqrt(squares / static_cast<double>(count));

  const auto [f32, f32_mask] = float_scene<float>(dir, "f32", size, values);
  const auto result = test::run_satunet({"tile", "--out", dir + "/out32", "--image", f32, "--mask",
                                         f32_mask, "--tile", "64", "--overlap", "0", "-q"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const shards::Manifest manifest = shards::Manifest::load(dir + "/out32");
  ASSERT_EQ(manifest.bands.size(), 1u);
  EXPECT_EQ(manifest.bands[0].count, count);
  EXPECT_NEAR(manifest.bands[0].mean, mean, 1e-9 * std::abs(mean));
  EXPECT_NEAR(manifest.bands[0].std, std_dev, 1e-9 * std_dev);
  EXPECT_EQ(manifest.total_tiles(), 4);
  // Their labels are ignored like those of nodata pixels.
  std::int64_t labelled = 0;
  for (const auto& [split, pixels] : manifest.class_pixels)
    labelled += pixels[1];
  EXPECT_EQ(labelled, count);

  std::vector<double> huge(values.size());
  for (std::size_t i = 0; i < huge.size(); ++i)
    huge[i] = (static_cast<double>(i % 7) - 3.0) * 1e300;
  const auto [f64, f64_mask] = float_scene<double>(dir, "f64", size, huge);
  expect_failure(
      {"tile", "--out", dir + "/out64", "--image", f64, "--mask", f64_mask, "--tile", "64", "-q"},
      1,
      {f64 + ": band 1 of the tile at pixel (0, 0): values up to 3e+300 in magnitude, too large "
             "for band statistics"});
  EXPECT_FALSE(fs::exists(dir + "/out64/manifest.json"));
  if (fs::is_directory(dir + "/out64/shards"))
    for (const auto& entry : fs::directory_iterator(dir + "/out64/shards"))
      ADD_FAILURE() << "left behind: " << entry.path();
}

// A path GDAL opens is a path, whether or not std::filesystem sees a file there (/vsizip/).
TEST(TileCli, ScenesAndLabelsInsideAZipAreReadThroughGdal) {
  const Fixture f = make_fixture();
  const auto plain = test::run_satunet(tile_args(f, f.dir + "/plain"));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const std::string zip = zip_of(f.dir + "/scene.zip",
                                 {f.scene.scene_path, f.scene.buildings_path, f.scene.roads_path});
  auto name = [](const std::string& path) { return fs::path(path).filename().string(); };
  auto args = tile_args(f, f.dir + "/zipped");
  args[4] = zip + "/" + name(f.scene.scene_path);
  args[6] = "building=" + zip + "/" + name(f.scene.buildings_path);
  args[8] = "road=" + zip + "/" + name(f.scene.roads_path);
  const auto zipped = test::run_satunet(args);
  ASSERT_EQ(zipped.exit_code, 0) << zipped.err;
  const auto a = shards::Manifest::load(f.dir + "/plain");
  const auto b = shards::Manifest::load(f.dir + "/zipped");
  EXPECT_EQ(a.tiles_per_split, b.tiles_per_split);
  EXPECT_EQ(a.class_pixels, b.class_pixels);
  ASSERT_EQ(a.bands.size(), b.bands.size());
  for (std::size_t band = 0; band < a.bands.size(); ++band)
    EXPECT_EQ(a.bands[band].mean, b.bands[band].mean);
  // What is not in the archive is still no file.
  args[4] = zip + "/nothing.tif";
  args[2] = f.dir + "/none";
  expect_failure(args, 1, {zip + "/nothing.tif: no such file"});
  args[4] = zip + "/" + name(f.scene.scene_path);
  args[8] = "road=" + zip + "/nothing.geojson";
  expect_failure(args, 1, {zip + "/nothing.geojson: no such file"});
}

TEST(MpiTile, SameTilesAndStatisticsOnAnyRankCount) {
  comm::MpiCommunicator world;
  const std::string base =
      std::string(SATUNET_TEST_TMP) + "/MpiTile.np" + std::to_string(world.size());
  const std::string scene = base + "/scene";
  if (world.rank() == 0) {
    fs::remove_all(base);
    test::synthetic_scene(scene, 400, 9);
  }
  world.barrier();

  TileOptions options;
  options.images = {scene + "/scene.tif"};
  options.labels = {{"building", scene + "/buildings.geojson"}, {"road", scene + "/roads.geojson"}};
  options.line_widths.width_field = "width_m";
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

  comm::MpiCommunicator self(comm::MpiScope::self);
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
