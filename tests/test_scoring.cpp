// The scoring library: confusion matrices and `satunet evaluate`.
#include <gdal_priv.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>

#include "geo/gdal.hpp"
#include "scoring/confusion_matrix.hpp"
#include "test_support.hpp"

namespace satunet {
namespace {

// A copy of `source` with every valid pixel set to `value` (255 stays 255).
std::string constant_copy(const std::string& source, const std::string& target,
                          std::uint8_t value) {
  geo::init_gdal();
  GDALDatasetUniquePtr in(GDALDataset::Open(source.c_str(), GDAL_OF_RASTER));
  GDALDatasetUniquePtr out(GetGDALDriverManager()->GetDriverByName("GTiff")->CreateCopy(
      target.c_str(), in.get(), FALSE, nullptr, nullptr, nullptr));
  auto pixels = test::read_band_u8(source);
  for (auto& pixel : pixels)
    if (pixel != 255)
      pixel = value;
  EXPECT_EQ(out->GetRasterBand(1)->RasterIO(
                GF_Write, 0, 0, out->GetRasterXSize(), out->GetRasterYSize(), pixels.data(),
                out->GetRasterXSize(), out->GetRasterYSize(), GDT_Byte, 0, 0),
            CE_None);
  return target;
}

// A uint16 copy of a class map with a 20 x 20 block at (10, 10) set to `value`, and `nodata`
// declared when given.
std::string uint16_copy(const std::string& source, const std::string& target, std::uint16_t value,
                        std::optional<double> nodata) {
  geo::init_gdal();
  const auto pixels = test::read_band_u8(source);
  GDALDatasetUniquePtr in(GDALDataset::Open(source.c_str(), GDAL_OF_RASTER));
  const int width = in->GetRasterXSize(), height = in->GetRasterYSize();
  GDALDatasetUniquePtr out(GetGDALDriverManager()->GetDriverByName("GTiff")->Create(
      target.c_str(), width, height, 1, GDT_UInt16, nullptr));
  double transform[6];
  in->GetGeoTransform(transform);
  out->SetGeoTransform(transform);
  out->SetSpatialRef(in->GetSpatialRef());
  std::vector<std::uint16_t> values(pixels.begin(), pixels.end());
  for (int row = 10; row < 30; ++row)
    for (int column = 10; column < 30; ++column)
      values[static_cast<std::size_t>(row * width + column)] = value;
  if (nodata)
    out->GetRasterBand(1)->SetNoDataValue(*nodata);
  EXPECT_EQ(out->GetRasterBand(1)->RasterIO(GF_Write, 0, 0, width, height, values.data(), width,
                                            height, GDT_UInt16, 0, 0),
            CE_None);
  return target;
}

}  // namespace

TEST(Evaluate, TruthIsReadAsStoredAndItsNodataIsNotScored) {
  const std::string dir = test::fresh_directory("stored");
  const auto scene = test::synthetic_scene(dir + "/scene", 128);
  auto evaluate = [&](const std::string& truth, const std::vector<std::string>& classes) {
    return test::run_satunet({"evaluate", "--pred", scene.truth_path, "--truth", truth, "--classes",
                              classes.empty() ? "background,building,road" : classes.front(),
                              "--json", dir + "/scores.json", "-q"});
  };
  // 258 is no class: once read as a byte it became 255, and its pixels silently went unscored.
  test::expect_failure(evaluate(uint16_copy(scene.truth_path, dir + "/258.tif", 258, {}), {}), 1,
                       dir +
                           "/258.tif: value 258 at pixel (10, 10) is neither a class id (0 to "
                           "2), 255 nor the nodata value");
  // A declared nodata value (7 here) is not scored, whatever the prediction says there.
  const auto ignored = evaluate(uint16_copy(scene.truth_path, dir + "/7.tif", 7, 7.0), {});
  ASSERT_EQ(ignored.exit_code, 0) << ignored.err;
  const auto scores = nlohmann::json::parse(test::file_bytes(dir + "/scores.json"));
  for (const char* name : {"background", "building", "road"})
    EXPECT_EQ(scores["classes"][name]["iou"], 1.0) << name;
  test::expect_failure(evaluate(scene.truth_path, {"background,road,road"}), 2,
                       "--classes: class 'road' is named twice");
}

TEST(Evaluate, ScoresAgainstRasterAndVectorTruth) {
  const auto scene = test::synthetic_scene(test::fresh_directory("scene"), 384);
  const std::string json = test::fresh_directory("out") + "/scores.json";
  const auto same = test::run_satunet(
      {"evaluate", "--pred", scene.truth_path, "--truth", scene.truth_path, "--json", json, "-q"});
  ASSERT_EQ(same.exit_code, 0) << same.err;
  const auto scores = nlohmann::json::parse(test::file_bytes(json));
  EXPECT_EQ(scores["classes"]["building"]["iou"], 1.0);
  EXPECT_EQ(scores["mean_foreground_iou"], 1.0);

  const auto vectors = test::run_satunet({"evaluate", "--pred", scene.truth_path, "--truth-labels",
                                          "building=" + scene.buildings_path, "--truth-labels",
                                          "road=" + scene.roads_path, "--width-field", "width_m",
                                          "--json", json, "-q"});
  ASSERT_EQ(vectors.exit_code, 0) << vectors.err;
  const auto vector_scores = nlohmann::json::parse(test::file_bytes(json));
  EXPECT_GT(vector_scores["classes"]["building"]["iou"].get<double>(), 0.99);
  EXPECT_GT(vector_scores["classes"]["road"]["iou"].get<double>(), 0.98);

  // Everything called background: background IoU = its share of the valid pixels, others 0.
  const std::string dir = test::fresh_directory("flat");
  const std::string flat = constant_copy(scene.truth_path, dir + "/flat.tif", 0);
  const auto all_background = test::run_satunet(
      {"evaluate", "--pred", flat, "--truth", scene.truth_path, "--json", json, "-q"});
  ASSERT_EQ(all_background.exit_code, 0) << all_background.err;
  const auto flat_scores = nlohmann::json::parse(test::file_bytes(json));
  const auto truth = test::read_band_u8(scene.truth_path);
  double background = 0, valid = 0;
  for (std::uint8_t label : truth) {
    valid += label != 255;
    background += label == 0;
  }
  EXPECT_NEAR(flat_scores["classes"]["background"]["iou"].get<double>(), background / valid, 1e-9);
  EXPECT_EQ(flat_scores["classes"]["building"]["iou"], 0.0);
  EXPECT_TRUE(flat_scores["classes"]["road"]["precision"].is_null()) << "never predicted";
}

TEST(Evaluate, BadInputIsRefused) {
  const auto scene = test::synthetic_scene(test::fresh_directory("scene"), 128);
  const auto other = test::synthetic_scene(test::fresh_directory("other"), 192);
  auto bigger =
      test::run_satunet({"evaluate", "--pred", scene.truth_path, "--truth", other.truth_path});
  EXPECT_EQ(bigger.exit_code, 1);
  EXPECT_NE(bigger.err.find(other.truth_path + ": 192 x 192 pixels but the prediction"),
            std::string::npos)
      << bigger.err;
  auto missing =
      test::run_satunet({"evaluate", "--pred", scene.truth_path, "--truth", "/nonexistent.tif"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/nonexistent.tif: no such file"), std::string::npos) << missing.err;
  auto neither = test::run_satunet({"evaluate", "--pred", scene.truth_path});
  EXPECT_EQ(neither.exit_code, 2);
  EXPECT_NE(neither.err.find("give the truth as --truth RASTER or as --truth-labels CLASS=FILE"),
            std::string::npos)
      << neither.err;
  auto unknown = test::run_satunet(
      {"evaluate", "--pred", scene.truth_path, "--truth-labels", "bridge=" + scene.buildings_path});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("class 'bridge' is not among the classes"), std::string::npos)
      << unknown.err;
}

namespace scoring {

TEST(Metrics, ConfusionMatrixByHand) {
  const std::vector<std::uint8_t> truth{0, 0, 1, 1, 2, 255};
  const std::vector<std::uint8_t> prediction{0, 1, 1, 1, 0, 2};
  ConfusionMatrix matrix(3);
  matrix.add(truth.data(), prediction.data(), truth.size());
  EXPECT_EQ(matrix.total(), 5);
  EXPECT_NEAR(matrix.iou(0), 1.0 / 3, 1e-12);
  EXPECT_NEAR(matrix.iou(1), 2.0 / 3, 1e-12);
  EXPECT_NEAR(matrix.iou(2), 0.0, 1e-12);
  EXPECT_NEAR(matrix.precision(1), 2.0 / 3, 1e-12);
  EXPECT_NEAR(matrix.recall(1), 1.0, 1e-12);
  EXPECT_NEAR(matrix.f1(1), 0.8, 1e-12);
  EXPECT_NEAR(matrix.pixel_accuracy(), 0.6, 1e-12);
  EXPECT_NEAR(matrix.mean_foreground_iou(), 1.0 / 3, 1e-12);
  EXPECT_TRUE(std::isnan(matrix.precision(2)));  // never predicted
  ConfusionMatrix other(3);
  other.add(truth.data(), prediction.data(), truth.size());
  matrix.merge(other);
  EXPECT_EQ(matrix.count(1, 1), 4);
  EXPECT_NEAR(matrix.iou(1), 2.0 / 3, 1e-12);
  EXPECT_NE(matrix.table({"background", "building", "road"}).find("building"), std::string::npos);
  EXPECT_THROW(matrix.merge(ConfusionMatrix(2)), Error);
  const std::vector<std::uint8_t> bad{7};
  EXPECT_THROW(matrix.add(bad.data(), bad.data(), 1), Error);
}

}  // namespace scoring
}  // namespace satunet
