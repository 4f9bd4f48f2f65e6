// The geo library: georeferencing, the window grid of predictions, quick-looks.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <tuple>

#include "common/error.hpp"
#include "geo/georef.hpp"
#include "geo/geotiff.hpp"
#include "geo/labels.hpp"
#include "geo/metric_plane.hpp"
#include "geo/raster.hpp"
#include "geo/strip_reader.hpp"
#include "geo/window_grid.hpp"
#include "test_support.hpp"

namespace satunet::geo {
namespace fs = std::filesystem;

TEST(Georef, NorthUpPixelToWorld) {
  const auto transform = GeoTransform::north_up(500000, 4000000, 0.5, 0.5);
  const Point corner = transform.pixel_to_world(0, 0);
  EXPECT_DOUBLE_EQ(corner.x, 500000);
  EXPECT_DOUBLE_EQ(corner.y, 4000000);
  const Point p = transform.pixel_to_world(10, 20);
  EXPECT_DOUBLE_EQ(p.x, 500005);
  EXPECT_DOUBLE_EQ(p.y, 3999990);
  const Point centre = transform.pixel_centre(0, 0);
  EXPECT_DOUBLE_EQ(centre.x, 500000.25);
  EXPECT_DOUBLE_EQ(centre.y, 3999999.75);
  EXPECT_TRUE(transform.is_north_up());
}

TEST(Georef, NonSquarePixelsRoundTrip) {
  const auto transform = GeoTransform::north_up(-120.5, 45.25, 2.0, 3.0);
  const Point p = transform.pixel_to_world(7, 11);
  EXPECT_DOUBLE_EQ(p.x, -120.5 + 14);
  EXPECT_DOUBLE_EQ(p.y, 45.25 - 33);
  const Point back = transform.world_to_pixel(p.x, p.y);
  EXPECT_DOUBLE_EQ(back.x, 7);
  EXPECT_DOUBLE_EQ(back.y, 11);
  EXPECT_DOUBLE_EQ(transform.pixel_width(), 2.0);
  EXPECT_DOUBLE_EQ(transform.pixel_height(), 3.0);
}

TEST(Georef, RotatedRoundTrip) {
  const GeoTransform transform({1000, 0.8, 0.6, 2000, 0.6, -0.8});
  EXPECT_FALSE(transform.is_north_up());
  for (const Point pixel : {Point{0, 0}, Point{3.5, 9.25}, Point{-4, 100}}) {
    const Point world = transform.pixel_to_world(pixel.x, pixel.y);
    const Point back = transform.world_to_pixel(world.x, world.y);
    EXPECT_NEAR(back.x, pixel.x, 1e-9);
    EXPECT_NEAR(back.y, pixel.y, 1e-9);
  }
}

TEST(Georef, WindowTransformMatchesParentPixels) {
  const auto parent = GeoTransform::north_up(300000, 5000000, 0.3, 0.7);
  const GeoTransform window = parent.for_window(192, 64);
  for (const Point pixel : {Point{0, 0}, Point{5.5, 63.5}}) {
    const Point in_window = window.pixel_to_world(pixel.x, pixel.y);
    const Point in_parent = parent.pixel_to_world(pixel.x + 192, pixel.y + 64);
    EXPECT_DOUBLE_EQ(in_window.x, in_parent.x);
    EXPECT_DOUBLE_EQ(in_window.y, in_parent.y);
  }
}

TEST(Georef, ExtentCoversAllCorners) {
  const auto transform = GeoTransform::north_up(10, 20, 2, 4);
  const Extent box = transform.extent(5, 3);
  EXPECT_DOUBLE_EQ(box.min_x, 10);
  EXPECT_DOUBLE_EQ(box.max_x, 20);
  EXPECT_DOUBLE_EQ(box.min_y, 8);
  EXPECT_DOUBLE_EQ(box.max_y, 20);
  EXPECT_TRUE(box.intersects(Extent{19, 19, 30, 30}));
  EXPECT_FALSE(box.intersects(Extent{21, 0, 30, 30}));
}

TEST(Georef, DegenerateTransformRefusesInverse) {
  const GeoTransform flat({0, 1, 0, 0, 0, 0});
  EXPECT_THROW(flat.world_to_pixel(1, 1), Error);
}

TEST(Georef, SameGridTolerance) {
  const auto a = GeoTransform::north_up(100, 200, 0.5, 0.5);
  const auto b = GeoTransform::north_up(100 + 1e-9, 200, 0.5, 0.5);
  const auto c = GeoTransform::north_up(100.25, 200, 0.5, 0.5);
  EXPECT_TRUE(a.same_grid(b));
  EXPECT_FALSE(a.same_grid(c));
}

// A pixel's size on the ground, what predict matches to a model's: the CRS's own units where it
// is projected, metres on the ground where it is geographic (Kampala's 6.7e-7 degrees near the
// equator: 7.46 cm east-west by 7.41 cm north-south; Banepa's at 27.6 degrees north), none
// without georeferencing.
TEST(Georef, PixelSizeOnTheGroundInAnyCrs) {
  const std::string dir = test::fresh_directory("geo-pixel-size");
  const auto scene = test::synthetic_scene(dir + "/scene", 64, 5);
  const auto pixel_size = [](const std::string& path) {
    return ground_pixel_size_m(Raster::open(path).info());
  };
  EXPECT_DOUBLE_EQ(pixel_size(scene.scene_path).value(), 0.5);
  EXPECT_NEAR(pixel_size(test::real_data("kampala_buildings/image.tif")).value(), 0.07439, 1e-4);
  EXPECT_NEAR(pixel_size(test::real_data("banepa_buildings/image.tif")).value(), 0.1320, 4e-4);
  EXPECT_FALSE(
      pixel_size(test::ungeoreferenced_copy(scene.scene_path, dir + "/plain.tif")).has_value());
}

TEST(WindowGrid, OffsetsCoverTheSceneWithAtLeastTheOverlap) {
  for (std::int64_t size : {64, 65, 100, 200, 385, 1000}) {
    for (int overlap : {0, 8, 16, 32, 63}) {
      const auto offsets = window_offsets(size, 64, overlap);
      ASSERT_FALSE(offsets.empty());
      EXPECT_EQ(offsets.front(), 0);
      EXPECT_EQ(offsets.back(), size - 64) << size << " " << overlap;
      for (std::size_t i = 1; i < offsets.size(); ++i) {
        EXPECT_GT(offsets[i], offsets[i - 1]);
        EXPECT_LE(offsets[i] - offsets[i - 1], 64 - overlap) << size << " " << overlap;
      }
    }
  }
  EXPECT_EQ(window_offsets(40, 64, 16), std::vector<std::int64_t>{0});
  const WindowGrid grid(100, 40, 64, 16);
  EXPECT_EQ(grid.count(), 2);
  EXPECT_EQ(grid.inside(1), (Window{36, 0, 64, 40}));
  EXPECT_EQ(grid.describe(1), "window 1 (x 36, y 0)");
  EXPECT_THROW(WindowGrid(100, 100, 64, 64), UsageError);
}

TEST(WindowGrid, ReflectionMirrorsAboutTheEdgePixels) {
  EXPECT_EQ(reflect_index(0, 5), 0);
  EXPECT_EQ(reflect_index(4, 5), 4);
  EXPECT_EQ(reflect_index(5, 5), 3);
  EXPECT_EQ(reflect_index(8, 5), 0);
  EXPECT_EQ(reflect_index(9, 5), 1);
  EXPECT_EQ(reflect_index(-1, 5), 1);
  EXPECT_EQ(reflect_index(7, 1), 0);
}

// A generated scene's 512 x 512 truth raster, its values, and the block rows a strip spans.
struct TruthRaster {
  synth::SynthResult scene = test::synthetic_scene(test::fresh_directory("strips"), 512);
  geo::Raster raster = geo::Raster::open(scene.truth_path);
  std::vector<std::uint8_t> values = test::read_band_u8(scene.truth_path);
};
std::size_t blocks_spanned(const geo::StripReader& reader, std::int64_t row, std::int64_t rows) {
  return static_cast<std::size_t>((row + rows - 1) / reader.block_height() -
                                  row / reader.block_height() + 1);
}

TEST(StripReader, ASecondPassFromTheTopHoldsOnlyItsStrip) {
  // A reader going over the rows twice (evaluate's road graphs do) once kept every block row
  // of the second pass: the whole raster, as doubles.
  const TruthRaster truth_raster;
  const auto& truth = truth_raster.values;
  geo::StripReader reader(truth_raster.raster, {1}, GDT_Float64);
  std::vector<std::uint8_t> strip;
  for (int pass = 0; pass < 2; ++pass)
    for (std::int64_t row = 0; row < 512; row += 100) {
      const std::int64_t rows = std::min<std::int64_t>(130, 512 - row);
      reader.read(row, rows, strip);
      const auto* values = reinterpret_cast<const double*>(strip.data());
      EXPECT_EQ(values[0], truth[static_cast<std::size_t>(row * 512)]) << "row " << row;
      EXPECT_EQ(reader.cached_block_rows(), blocks_spanned(reader, row, rows))
          << "pass " << pass << ", row " << row;
    }
}

TEST(StripReader, ViewsWithTheNextBlockRowReadAheadHoldTheRasterRows) {
  // The tiler's way: each strip in place where its block rows lie, the block row below it
  // decoded meanwhile on the reader's thread; one block row more in memory, no more.
  const TruthRaster truth_raster;
  const auto& truth = truth_raster.values;
  geo::StripReader reader(truth_raster.raster, {1}, GDT_Float64);
  geo::StripReader copier(truth_raster.raster, {1}, GDT_Float64);
  std::vector<std::uint8_t> copy;
  for (std::int64_t row = 0; row < 512; row += 100) {
    const std::int64_t rows = std::min<std::int64_t>(130, 512 - row);
    const geo::StripReader::View strip = reader.view(row, rows);
    reader.read_ahead();
    copier.read(row, rows, copy);
    for (std::int64_t y = 0; y < rows; ++y) {
      const auto* values = reinterpret_cast<const double*>(strip.row(0, y));
      const auto* copied = reinterpret_cast<const double*>(copy.data()) + y * 512;
      for (std::int64_t x = 0; x < 512; x += 37) {
        ASSERT_EQ(values[x], truth[static_cast<std::size_t>((row + y) * 512 + x)])
            << "row " << row + y << ", column " << x;
        ASSERT_EQ(values[x], copied[x]);
      }
    }
    EXPECT_LE(reader.cached_block_rows(), blocks_spanned(reader, row, rows) + 1) << "row " << row;
  }
}

// Uncompressed GeoTIFFs are read from the file straight into the strips (GTIFF_DIRECT_IO, set
// by Raster::open), not copied through GDAL's block cache first; compressed ones go through
// the cache as before. The same pixels either way.
TEST(StripReader, UncompressedGeoTiffsAreReadPastGdalsBlockCache) {
  const std::string dir = test::fresh_directory("strips-direct");
  const std::int64_t width = 300, height = 200;
  std::vector<std::uint8_t> pixels(3 * width * height);  // band-sequential
  for (std::size_t i = 0; i < pixels.size(); ++i)
    pixels[i] = static_cast<std::uint8_t>(i * 7 + i / 300);
  for (const std::string compress : {"NONE", "DEFLATE"}) {
    SCOPED_TRACE(compress);
    const std::string path = dir + "/" + compress + ".tif";
    GeoTiffOptions options;
    options.block_size = 64;
    options.compress = compress;
    {
      GeoTiffWriter writer(path, width, height, 3, GDT_Byte,
                           GeoTransform::north_up(500000, 4000000, 1, 1),
                           SpatialRef::from_epsg(32633), options);
      writer.write({0, 0, width, height}, GDT_Byte, pixels.data());
      writer.commit();
    }
    const Raster raster = Raster::open(path);
    StripReader reader(raster, {1, 2, 3}, GDT_Byte);
    const GIntBig cached_before = GDALGetCacheUsed64();
    std::vector<std::uint8_t> strip;
    for (std::int64_t row = 0; row < height; row += 50) {
      reader.read(row, 50, strip);
      for (std::size_t band = 0; band < 3; ++band)
        for (std::int64_t y = 0; y < 50; ++y)
          ASSERT_EQ(
              0, std::memcmp(&strip[(band * 50 + static_cast<std::size_t>(y)) * width],
                             &pixels[(band * height + static_cast<std::size_t>(row + y)) * width],
                             static_cast<std::size_t>(width)))
              << "band " << band + 1 << ", row " << row + y;
    }
    if (compress == "NONE")
      EXPECT_EQ(GDALGetCacheUsed64(), cached_before) << "read through the block cache";
    else
      EXPECT_GT(GDALGetCacheUsed64(), cached_before) << "the usual path, through the cache";
  }
}

TEST(Quicklook, NeverReplacesItsInputsNorAFileWithoutOverwrite) {
  const std::string dir = test::fresh_directory("quicklook-out");
  const auto scene = test::synthetic_scene(dir + "/scene", 128);
  const std::string scene_bytes = test::file_bytes(scene.scene_path);
  const std::string truth_bytes = test::file_bytes(scene.truth_path);
  auto quicklook = [&](const std::string& out, bool overwrite) {
    std::vector<std::string> args = {
        "quicklook", "--image", scene.scene_path, "--mask", scene.truth_path, "--out", out};
    if (overwrite)
      args.push_back("--overwrite");
    return test::run_satunet(args);
  };
  for (const bool overwrite : {false, true}) {
    test::expect_failure(quicklook(scene.scene_path, overwrite), 1,
                         scene.scene_path + ": is an input of this command");
    test::expect_failure(quicklook(scene.truth_path, overwrite), 1,
                         scene.truth_path + ": is an input of this command");
  }
  EXPECT_EQ(test::file_bytes(scene.scene_path), scene_bytes);
  EXPECT_EQ(test::file_bytes(scene.truth_path), truth_bytes);

  const std::string look = dir + "/look.png";
  ASSERT_EQ(quicklook(look, false).exit_code, 0);
  std::ofstream(look) << "the user's";
  test::expect_failure(quicklook(look, false), 1, look + ": exists; --overwrite replaces it");
  EXPECT_EQ(test::file_bytes(look), "the user's");
  const auto replaced = quicklook(look, true);
  ASSERT_EQ(replaced.exit_code, 0) << replaced.err;
  EXPECT_EQ(Raster::open(look).info().width, 128);
}

TEST(Quicklook, OverlaysClassColoursOnTheStretchedScene) {
  const std::string dir = test::fresh_directory("quicklook");
  const auto scene = test::synthetic_scene(dir + "/scene", 128);
  const auto run =
      test::run_satunet({"quicklook", "--image", scene.scene_path, "--mask", scene.truth_path,
                         "--out", dir + "/look.png", "--opacity", "1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("quick-look: " + dir + "/look.png (128 x 128)"), std::string::npos);
  const Raster look = Raster::open(dir + "/look.png");
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
  EXPECT_EQ(Raster::open(dir + "/small.png").info().width, 32);

  const auto no_table = test::run_satunet({"quicklook", "--image", scene.scene_path, "--mask",
                                           scene.scene_path, "--out", dir + "/bad.png"});
  EXPECT_EQ(no_table.exit_code, 1);
  EXPECT_NE(no_table.err.find(scene.scene_path + ": no colour table"), std::string::npos)
      << no_table.err;
  const auto other = test::synthetic_scene(dir + "/other", 96, 5);
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
  EXPECT_NE(no_out.err.find("--out is required"), std::string::npos) << no_out.err;
  EXPECT_FALSE(fs::exists(dir + "/bad.png"));
}

// A class raster on another grid than the scene: Kampala's real building mask cropped to its
// top-left part and reprojected to UTM 36N at 0.1 m, read back on the scene's EPSG:4326 grid.
class ClassRasterOnAnotherGrid : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_directory("grid");
    run({"gdal_translate", "-q", "-srcwin", "0", "0", "700", "600", mask_, dir_ + "/crop.tif"});
    run({"gdalwarp", "-q", "-t_srs", "EPSG:32636", "-tr", "0.1", "0.1", "-r", "near",
         dir_ + "/crop.tif", utm()});
  }
  static void run(const std::vector<std::string>& argv) {
    const auto result = test::run_program(argv);
    ASSERT_EQ(result.exit_code, 0) << argv.front() << ": " << result.err;
  }
  std::string utm() const { return dir_ + "/utm.tif"; }

  std::string dir_;
  const std::string scene_ = test::real_data("kampala_buildings/image.tif");
  const std::string mask_ = test::real_data("kampala_buildings/mask.tif");
};

TEST_F(ClassRasterOnAnotherGrid, ReadsAsGdalwarpPutsItOnTheGridAndOnlyWhereItLies) {
  const RasterInfo scene = Raster::open(scene_).info();
  ClassRaster warped(utm(), {"background", "building"}, scene, "the scene");
  ASSERT_TRUE(warped.warped());
  EXPECT_EQ(warped.info().width, scene.width);
  EXPECT_EQ(warped.info().path, utm()) << "messages name the file the user gave";
  std::vector<std::uint8_t> strip, labels;
  for (std::int64_t row = 0; row < scene.height; row += 100) {  // strips, as tile reads them
    warped.read(row, std::min<std::int64_t>(100, scene.height - row), strip);
    labels.insert(labels.end(), strip.begin(), strip.end());
  }
  // gdalwarp's own answer on the scene's grid, whole.
  const Extent extent = scene.extent();
  auto number = [](double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    return std::string(text);
  };
  run({"gdalwarp", "-q", "-r", "near", "-t_srs", "EPSG:4326", "-te", number(extent.min_x),
       number(extent.min_y), number(extent.max_x), number(extent.max_y), "-ts",
       std::to_string(scene.width), std::to_string(scene.height), "-dstnodata", "255", utm(),
       dir_ + "/back.tif"});
  EXPECT_EQ(labels, test::read_band_u8(dir_ + "/back.tif"));
  // Where the crop lies, the round trip keeps the mask (edges move by a pixel at most);
  // outside it nothing is judged: never read as background.
  const std::vector<std::uint8_t> original = test::read_band_u8(mask_);
  std::int64_t inside = 0, same = 0, outside_judged = 0;
  for (std::int64_t y = 0; y < scene.height; ++y)
    for (std::int64_t x = 0; x < scene.width; ++x) {
      const auto i = static_cast<std::size_t>(y * scene.width + x);
      if (x < 698 && y < 598) {
        ++inside;
        same += labels[i] == original[i];
      } else if (x > 702 || y > 602) {
        outside_judged += labels[i] != 255;
      }
    }
  EXPECT_GT(static_cast<double>(same) / static_cast<double>(inside), 0.97);
  EXPECT_EQ(outside_judged, 0);
}

TEST_F(ClassRasterOnAnotherGrid, TileAndEvaluateTakeItAndRefuseAnUngeoreferencedOne) {
  const auto tiled =
      test::run_satunet({"tile", "--out", dir_ + "/dataset", "--image", scene_, "--mask", utm(),
                         "--classes", "background,building", "--tile", "256", "--overlap", "0"});
  ASSERT_EQ(tiled.exit_code, 0) << tiled.err;
  EXPECT_NE((tiled.out + tiled.err).find(utm() + ": warped onto the grid of the scene " + scene_),
            std::string::npos)
      << tiled.out << tiled.err;
  const auto scored =
      test::run_satunet({"evaluate", "--pred", mask_, "--truth", utm(), "--classes",
                         "background,building", "--json", dir_ + "/scores.json", "-q"});
  ASSERT_EQ(scored.exit_code, 0) << scored.err;
  const auto scores = nlohmann::json::parse(test::file_bytes(dir_ + "/scores.json"));
  EXPECT_GT(scores["classes"]["building"]["iou"].get<double>(), 0.9);
  const std::string plain = test::ungeoreferenced_copy(utm(), dir_ + "/plain.tif");
  test::expect_failure(test::run_satunet({"evaluate", "--pred", mask_, "--truth", plain,
                                          "--classes", "background,building", "-q"}),
                       1, "(only georeferenced rasters are warped onto another grid)");
}

}  // namespace satunet::geo
