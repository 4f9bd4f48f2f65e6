// Bad input to `satunet tile`: each case fails with one line naming the file, and a non-zero
// exit code; no manifest is left behind.
#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <ogrsf_frmts.h>

#include <filesystem>
#include <fstream>

#include "geo/gdal.hpp"
#include "shards/manifest.hpp"
#include "synth/synth.hpp"
#include "test_support.hpp"

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
  synth::SynthOptions options;
  options.out_dir = fixture.dir + "/" + name;
  options.size = size;
  options.bands = bands;
  fixture.scene = synth::synthesize(options);
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
  EXPECT_FALSE(fs::exists(f.dir + "/out/manifest.json"));
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

TEST(TileErrors, MaskOnAnotherGridOrWithUnknownClasses) {
  const Fixture f = make_fixture();
  const std::string shifted = altered_copy(f.scene.truth_path, f.dir + "/shifted.tif", false, 1.0);
  expect_failure(
      {"tile", "--out", f.dir + "/out", "--image", f.scene.scene_path, "--mask", shifted, "-q"}, 1,
      {shifted + ": mask is on another grid than the scene"});
  const Fixture other = make_fixture(192, 3, "bigger");
  expect_failure({"tile", "--out", f.dir + "/out", "--image", f.scene.scene_path, "--mask",
                  other.scene.truth_path, "-q"},
                 1, {other.scene.truth_path + ": mask is 192 x 192 pixels but the scene"});
  // truth.tif holds roads (2): not a class when only background and building are named.
  expect_failure({"tile", "--out", f.dir + "/out", "--image", f.scene.scene_path, "--mask",
                  f.scene.truth_path, "--classes", "background,building", "-q"},
                 1,
                 {f.scene.truth_path + ": class value 2 at pixel (",
                  "is not in --classes (background,building)"});
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

TEST(TileErrors, ExistingDatasetNeedsOverwrite) {
  const Fixture f = make_fixture();
  const std::string out = f.dir + "/out";
  ASSERT_EQ(test::run_satunet(tile_args(f, out)).exit_code, 0);
  expect_failure(tile_args(f, out), 1, {out + ": a dataset is already there; --overwrite"});
  auto again = tile_args(f, out);
  again.push_back("--overwrite");
  const auto result = test::run_satunet(again);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(fs::exists(out + "/manifest.json"));
}

}  // namespace satunet

namespace satunet {

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

TEST(TileCli, ScenesCsvMixesMaskAndVectorScenes) {
  const Fixture one = make_fixture(192, 3, "one");
  const Fixture two = make_fixture(160, 3, "two");
  const std::string csv = one.dir + "/scenes.csv";
  std::ofstream(csv) << "image,mask,labels\n"
                     << one.scene.scene_path << "," << one.scene.truth_path << ",\n"
                     << two.scene.scene_path << ",,building=" << two.scene.buildings_path
                     << ";road=" << two.scene.roads_path << "\n";
  const auto result = test::run_satunet({"tile", "--out", one.dir + "/out", "--scenes", csv,
                                         "--width-field", "width_m", "--tile", "64", "-q"});
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

}  // namespace satunet
