// The scoring library: confusion matrices and `satunet evaluate`.
#include <gdal_priv.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

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

}  // namespace

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
