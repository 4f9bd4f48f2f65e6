// The scoring library: confusion matrices and `satunet evaluate`.
#include <gdal_priv.h>
#include <gtest/gtest.h>
#include <ogrsf_frmts.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "geo/gdal.hpp"
#include "geo/labels.hpp"
#include "geo/raster.hpp"
#include "scoring/confusion_matrix.hpp"
#include "scoring/error_map.hpp"
#include "scoring/objects.hpp"
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

// A width x height map of background with filled rectangles [x0, x1) x [y0, y1) of `value`.
struct Rect {
  int x0, y0, x1, y1;
  std::uint8_t value;
};
std::string rect_map(const std::string& path, int width, int height, const std::vector<Rect>& rects,
                     const std::string& like = "") {
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(width * height), 0);
  for (const Rect& r : rects)
    for (int y = r.y0; y < r.y1; ++y)
      for (int x = r.x0; x < r.x1; ++x)
        pixels[static_cast<std::size_t>(y * width + x)] = r.value;
  return test::write_class_map(path, width, height, pixels, like);
}

// The class map of `labels` (CLASS=FILE vectors) burnt onto the grid of `image`.
std::string rasterized_truth(const std::string& image, const std::string& cls,
                             const std::string& vectors, double line_width_m,
                             const std::string& path) {
  const geo::Raster raster = geo::Raster::open(image);
  const std::vector<std::string> classes = {"background", "building", "road"};
  const int id = cls == "building" ? 1 : 2;
  geo::LineWidths widths;
  widths.metres_by_class[id] = line_width_m;
  const geo::VectorLabels labels({{vectors, id, "", {}}}, raster.info(), classes, widths, false);
  const geo::RasterInfo& info = raster.info();
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(info.width * info.height));
  labels.rasterize({0, 0, info.width, info.height}, pixels.data());
  return test::write_class_map(path, static_cast<int>(info.width), static_cast<int>(info.height),
                               pixels, image);
}

nlohmann::json evaluated(const std::vector<std::string>& args, const std::string& json) {
  std::vector<std::string> all = {"evaluate", "--json", json, "--overwrite", "-q"};
  all.insert(all.end(), args.begin(), args.end());
  const auto result = test::run_satunet(all);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return nlohmann::json::parse(test::file_bytes(json));
}

}  // namespace

// ---- buildings as objects ----

namespace scoring {

// Footprints by hand (1 m pixels), every IoU known:
//   T1 [0,10)x[0,10) vs P1 [2,12)x[0,10): overlap 80, union 120, IoU 2/3 -> match
//   T2 [20,30)x[0,10) vs P2 [26,34)x[0,10): overlap 40, union 140, IoU 2/7 -> no match at 0.5
//   T3 [35,38)x[0,2): 6 m2, nothing predicted -> missed (or dropped below --min-area 10)
//   T4 a U (60 m2), predicted exactly: its arms are two labels until the rows that join them
//   P4 [15,18)x[15,18): 9 m2, no truth -> false positive (or dropped)
ObjectScore score_by_hand(const ObjectOptions& options) {
  const int width = 40, height = 20;
  std::vector<std::uint8_t> truth(width * height, 0), predicted(width * height, 0);
  auto fill = [&](std::vector<std::uint8_t>& map, int x0, int y0, int x1, int y1) {
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x)
        map[static_cast<std::size_t>(y * width + x)] = 1;
  };
  fill(truth, 0, 0, 10, 10);
  fill(predicted, 2, 0, 12, 10);
  fill(truth, 20, 0, 30, 10);
  fill(predicted, 26, 0, 34, 10);
  fill(truth, 35, 0, 38, 2);
  for (auto* map : {&truth, &predicted}) {
    fill(*map, 0, 12, 10, 20);
    for (int y = 12; y < 17; ++y)
      for (int x = 3; x < 7; ++x)
        (*map)[static_cast<std::size_t>(y * width + x)] = 0;
  }
  fill(predicted, 15, 15, 18, 18);
  ComponentLabeller truth_labels(width), predicted_labels(width);
  ObjectOverlaps overlaps;
  std::vector<std::int32_t> truth_ids(width), predicted_ids(width);
  for (int y = 0; y < height; ++y) {
    truth_labels.label_row(truth.data() + y * width, truth_ids.data());
    predicted_labels.label_row(predicted.data() + y * width, predicted_ids.data());
    overlaps.add_row(truth_ids.data(), predicted_ids.data(), width, 1.0);
  }
  return overlaps.score([&](std::int32_t id) { return truth_labels.root(id); },
                        [&](std::int32_t id) { return predicted_labels.root(id); }, options);
}

TEST(Objects, FootprintsMatchedOneToOneAsComputedByHand) {
  const ObjectScore plain = score_by_hand({0.5, 0});
  EXPECT_EQ(plain.true_positives, 2);   // T1-P1, T4-P4
  EXPECT_EQ(plain.false_positives, 2);  // P2, P4
  EXPECT_EQ(plain.false_negatives, 2);  // T2, T3
  EXPECT_DOUBLE_EQ(plain.f1(), 0.5);
  EXPECT_NEAR(plain.mean_match_iou(), (2.0 / 3 + 1.0) / 2, 1e-12);
  EXPECT_EQ(plain.match_iou_bins[13], 1);  // 0.667
  EXPECT_EQ(plain.match_iou_bins[19], 1);  // 1.0

  const ObjectScore small_left_out = score_by_hand({0.5, 10});
  EXPECT_EQ(small_left_out.dropped_small, 2);  // T3 and P4
  EXPECT_EQ(small_left_out.false_positives, 1);
  EXPECT_EQ(small_left_out.false_negatives, 1);
  EXPECT_NEAR(small_left_out.f1(), 4.0 / 6, 1e-12);

  const ObjectScore low_bar = score_by_hand({0.25, 0});
  EXPECT_EQ(low_bar.true_positives, 3);  // T2-P2 at 2/7 too
  EXPECT_EQ(low_bar.false_positives, 1);
  EXPECT_EQ(low_bar.false_negatives, 1);
}

TEST(Objects, GreedyMatchingTakesTheBestPairFirst) {
  // One truth overlapped by two predictions at IoU 0.8 and 0.6: the better one matches, the
  // other is a false positive, however the rows list them.
  const int width = 30;
  ComponentLabeller truth_labels(width), predicted_labels(width);
  ObjectOverlaps overlaps;
  const std::vector<std::uint8_t> truth_row(20, 1);
  std::vector<std::uint8_t> truth(width, 0), predicted(width, 0);
  std::fill(truth.begin(), truth.begin() + 20, 1);
  std::fill(predicted.begin(), predicted.begin() + 16, 1);       // IoU 16/20
  std::fill(predicted.begin() + 17, predicted.begin() + 30, 1);  // overlap 3, union 30
  std::vector<std::int32_t> truth_ids(width), predicted_ids(width);
  truth_labels.label_row(truth.data(), truth_ids.data());
  predicted_labels.label_row(predicted.data(), predicted_ids.data());
  overlaps.add_row(truth_ids.data(), predicted_ids.data(), width, 1.0);
  const ObjectScore score =
      overlaps.score([&](std::int32_t id) { return truth_labels.root(id); },
                     [&](std::int32_t id) { return predicted_labels.root(id); }, {0.05, 0});
  EXPECT_EQ(score.true_positives, 1);
  EXPECT_NEAR(score.match_iou_sum, 0.8, 1e-12);
  EXPECT_EQ(score.false_positives, 1);
  EXPECT_EQ(score.false_negatives, 0);
}

TEST(Objects, PixelsTouchingAtCornersAreTwoFootprints) {
  ComponentLabeller labels(4);
  const std::vector<std::uint8_t> first = {1, 0, 0, 1}, second = {0, 1, 1, 0};
  std::vector<std::int32_t> a(4), b(4);
  labels.label_row(first.data(), a.data());
  labels.label_row(second.data(), b.data());
  EXPECT_NE(labels.root(a[0]), labels.root(b[1]));
  EXPECT_NE(labels.root(a[3]), labels.root(b[2]));
  EXPECT_EQ(labels.root(b[1]), labels.root(b[2]));
}

TEST(ErrorMap, CodesByHand) {
  EXPECT_EQ(error_code(0, 0), 0);
  EXPECT_EQ(error_code(1, 1), 1);  // building TP
  EXPECT_EQ(error_code(0, 1), 2);  // building FP
  EXPECT_EQ(error_code(1, 0), 3);  // building FN
  EXPECT_EQ(error_code(2, 2), 4);  // road TP
  EXPECT_EQ(error_code(1, 2), 5);  // road predicted on a building: road FP
  EXPECT_EQ(error_code(2, 0), 6);  // road FN
  EXPECT_EQ(error_code(255, 1), 255);
  EXPECT_EQ(error_code(1, 255), 255);
  const auto names = error_categories({"background", "building", "road"});
  ASSERT_EQ(names.size(), 7u);
  EXPECT_EQ(names[5], "road: false positive");
}

}  // namespace scoring

TEST(Evaluate, ObjectsAndErrorMapOfHandMadeMaps) {
  const std::string dir = test::fresh_directory("hand");
  // Truth: T1 [0,10)x[0,10), T2 [20,30)x[0,10); prediction: T1 shifted by 2 px (IoU 2/3) and
  // T2 by 6 (IoU 2/7), a road pixel where the truth has a building, one nodata pixel.
  const std::string truth =
      rect_map(dir + "/truth.tif", 40, 20, {{0, 0, 10, 10, 1}, {20, 0, 30, 10, 1}});
  const std::string pred =
      rect_map(dir + "/pred.tif", 40, 20,
               {{2, 0, 12, 10, 1}, {26, 0, 36, 10, 1}, {21, 5, 22, 6, 2}, {39, 19, 40, 20, 255}});
  const auto scores = evaluated(
      {"--pred", pred, "--truth", truth, "--errors", dir + "/errors.tif", "--roads", "none"},
      dir + "/scores.json");
  EXPECT_EQ(scores["objects"]["class"], "building");
  EXPECT_EQ(scores["objects"]["true_positives"], 1);
  EXPECT_EQ(scores["objects"]["false_positives"], 1);
  EXPECT_EQ(scores["objects"]["false_negatives"], 1);
  EXPECT_DOUBLE_EQ(scores["objects"]["f1"].get<double>(), 0.5);
  EXPECT_FALSE(scores.contains("roads"));

  const geo::Raster map = geo::Raster::open(dir + "/errors.tif");
  EXPECT_EQ(map.info().transform, geo::Raster::open(pred).info().transform);
  EXPECT_EQ(map.info().bands[0].categories[2], "building: false positive");
  geo::init_gdal();
  GDALDatasetUniquePtr gdal_map(GDALDataset::Open((dir + "/errors.tif").c_str(), GDAL_OF_RASTER));
  EXPECT_NE(gdal_map->GetRasterBand(1)->GetColorTable(), nullptr);
  const auto codes = test::read_band_u8(dir + "/errors.tif");
  auto at = [&](int x, int y) { return codes[static_cast<std::size_t>(y * 40 + x)]; };
  EXPECT_EQ(at(5, 5), 1);      // building TP
  EXPECT_EQ(at(0, 5), 3);      // building FN
  EXPECT_EQ(at(11, 5), 2);     // building FP
  EXPECT_EQ(at(21, 5), 5);     // road FP on a building
  EXPECT_EQ(at(15, 15), 0);    // right background
  EXPECT_EQ(at(39, 19), 255);  // not judged

  // An existing map is kept without --overwrite.
  const auto again = test::run_satunet(
      {"evaluate", "--pred", pred, "--truth", truth, "--errors", dir + "/errors.tif"});
  test::expect_failure(again, 1, dir + "/errors.tif: exists; --overwrite replaces it");
  // No output replaces an input, --overwrite or not, nor is named twice (however spelled).
  const std::string truth_bytes = test::file_bytes(truth);
  test::expect_failure(test::run_satunet({"evaluate", "--pred", pred, "--truth", truth, "--json",
                                          truth, "--overwrite"}),
                       1, truth + ": is an input of this command");
  EXPECT_EQ(test::file_bytes(truth), truth_bytes);
  // Across the rows of a scene list: another row's input, an output of two rows.
  std::filesystem::copy_file(truth, dir + "/truth-copy.tif",
                             std::filesystem::copy_options::overwrite_existing);
  auto scenes = [&](const std::string& rows) {
    std::ofstream(dir + "/scenes.csv") << "pred,truth,errors\n" << rows;
    return test::run_satunet({"evaluate", "--scenes", dir + "/scenes.csv", "--overwrite", "-q"});
  };
  test::expect_failure(scenes(pred + "," + truth + "," + dir + "/e.tif\n" + pred + "," + dir +
                              "/truth-copy.tif," + truth + "\n"),
                       1, truth + ": is an input of this command");
  EXPECT_EQ(test::file_bytes(truth), truth_bytes);
  test::expect_failure(scenes(pred + "," + truth + "," + dir + "/e.tif\n" + pred + "," + truth +
                              "," + dir + "/./e.tif\n"),
                       1, dir + "/./e.tif is named for two outputs");
}

TEST(Evaluate, AtlantaBuildingsAgainstThemselvesAndADamagedCopy) {
  const std::string dir = test::fresh_directory("atlanta");
  const std::string image = test::real_data("spacenet4_atlanta_buildings/image.tif");
  const std::string buildings = test::real_data("spacenet4_atlanta_buildings/buildings.geojson");
  const std::string truth = rasterized_truth(image, "building", buildings, 0, dir + "/truth.tif");
  const std::string json = dir + "/scores.json";

  // The truth map against itself: every component matches itself.
  const auto same = evaluated({"--pred", truth, "--truth", truth}, json);
  const std::int64_t components = same["objects"]["true_positives"];
  EXPECT_GT(components, 20);
  EXPECT_EQ(same["objects"]["false_positives"], 0);
  EXPECT_EQ(same["objects"]["false_negatives"], 0);
  EXPECT_EQ(same["objects"]["f1"], 1.0);

  // The footprints as polygons against themselves: one object per feature, touching or not.
  const auto polygons = evaluated(
      {"--pred", truth, "--truth-labels", "building=" + buildings, "--pred-objects", buildings},
      json);
  const std::int64_t footprints = polygons["objects"]["true_positives"];
  EXPECT_GT(footprints, 20);
  EXPECT_EQ(polygons["objects"]["f1"], 1.0);
  EXPECT_NEAR(polygons["objects"]["mean_match_iou"].get<double>(), 1.0, 1e-12);

  // A copy without every fourth footprint: those are missed, nothing else changes.
  geo::init_gdal();
  GDALDatasetUniquePtr source(GDALDataset::Open(buildings.c_str(), GDAL_OF_VECTOR));
  const std::string damaged = dir + "/damaged.geojson";
  GDALDatasetUniquePtr copy(GetGDALDriverManager()->GetDriverByName("GeoJSON")->Create(
      damaged.c_str(), 0, 0, 0, GDT_Unknown, nullptr));
  OGRLayer* in = source->GetLayer(0);
  OGRLayer* out = copy->CreateLayer("buildings", in->GetSpatialRef(), wkbUnknown, nullptr);
  std::int64_t index = 0, removed = 0;
  for (auto& feature : *in) {
    if (index++ % 4 == 3) {
      ++removed;
      continue;
    }
    OGRFeature kept(out->GetLayerDefn());
    kept.SetGeometry(feature->GetGeometryRef());
    ASSERT_EQ(out->CreateFeature(&kept), OGRERR_NONE);
  }
  copy.reset();
  ASSERT_EQ(index, footprints) << "every footprint of the sample lies on its image";
  const auto scores = evaluated(
      {"--pred", truth, "--truth-labels", "building=" + buildings, "--pred-objects", damaged},
      json);
  const std::int64_t kept = footprints - removed;
  EXPECT_EQ(scores["objects"]["true_positives"], kept);
  EXPECT_EQ(scores["objects"]["false_positives"], 0);
  EXPECT_EQ(scores["objects"]["false_negatives"], removed);
  EXPECT_NEAR(scores["objects"]["f1"].get<double>(),
              2.0 * kept / (2.0 * kept + static_cast<double>(removed)), 1e-12);
}

TEST(Evaluate, RoadCutByAGapScoresAsComputedByHand) {
  // A straight road 5 m wide and 200 m long; the prediction has a 20 m gap in its middle.
  // Control points every 50 m: the truth's five nodes (two ends, three points) include one in
  // the gap (about 100 m), which snaps to nothing; of its 10 pairs only the two on either side
  // of the gap keep their length: C(truth -> prediction) = 1 - 8/10 = 0.2. Every prediction
  // node snaps onto the truth and its paths (within each piece) are as long there: C = 1.
  // APLS = harmonic mean = 2 / (1/0.2 + 1) = 1/3.
  const std::string dir = test::fresh_directory("gap");
  const std::string truth = rect_map(dir + "/truth.tif", 220, 40, {{10, 18, 210, 23, 2}});
  const std::string pred =
      rect_map(dir + "/pred.tif", 220, 40, {{10, 18, 100, 23, 2}, {120, 18, 210, 23, 2}});
  const auto same = evaluated({"--pred", truth, "--truth", truth}, dir + "/same.json");
  EXPECT_EQ(same["roads"]["apls"], 1.0);
  EXPECT_NEAR(same["roads"]["truth_length_m"].get<double>(), 196, 4) << "200 m less the caps";

  const auto cut = evaluated(
      {"--pred", pred, "--truth", truth, "--road-graph", dir + "/graph.gpkg"}, dir + "/cut.json");
  EXPECT_NEAR(cut["roads"]["apls_truth_to_prediction"].get<double>(), 0.2, 1e-9);
  EXPECT_NEAR(cut["roads"]["apls_prediction_to_truth"].get<double>(), 1.0, 1e-9);
  EXPECT_NEAR(cut["roads"]["apls"].get<double>(), 1.0 / 3, 1e-9);
  EXPECT_NEAR(cut["roads"]["completeness"].get<double>(), 0.9, 0.03) << "the gap is 10 %";

  // The graphs written: truth one edge, prediction two, lengths as scored.
  geo::init_gdal();
  GDALDatasetUniquePtr graph(GDALDataset::Open((dir + "/graph.gpkg").c_str(), GDAL_OF_VECTOR));
  ASSERT_NE(graph, nullptr);
  double truth_length = 0;
  int truth_edges = 0, predicted_edges = 0;
  for (auto& feature : *graph->GetLayer(0)) {
    const std::string which = feature->GetFieldAsString("graph");
    (which == "truth" ? truth_edges : predicted_edges)++;
    if (which == "truth")
      truth_length += feature->GetFieldAsDouble("length_m");
  }
  EXPECT_EQ(truth_edges, 1);
  EXPECT_EQ(predicted_edges, 2);
  EXPECT_NEAR(truth_length, cut["roads"]["truth_length_m"].get<double>(), 1e-6);
}

TEST(Evaluate, VegasRoadsAgainstThemselvesAndEmpty) {
  const std::string dir = test::fresh_directory("vegas");
  const std::string image = test::real_data("spacenet3_vegas_roads/image.tif");
  const std::string roads = test::real_data("spacenet3_vegas_roads/roads.geojson");
  const std::string truth = rasterized_truth(image, "road", roads, 6, dir + "/truth.tif");
  // Geographic (EPSG:4326): lengths are on the ground, in metres.
  const auto same =
      evaluated({"--pred", truth, "--truth-labels", "road=" + roads, "--line-width", "road=6"},
                dir + "/same.json");
  EXPECT_NEAR(same["roads"]["apls"].get<double>(), 1.0, 1e-12);
  EXPECT_EQ(same["roads"]["junction_precision"], 1.0);
  EXPECT_NEAR(same["roads"]["completeness"].get<double>(), 1.0, 1e-12);
  const double metres = same["roads"]["truth_length_m"];
  EXPECT_GT(metres, 500);
  EXPECT_LT(metres, 5000);

  // The same roads drawn 1.5 m (5 px) to the east: pixel IoU suffers, APLS barely (every
  // control point snaps within 4 m, paths keep their lengths but where roads leave the scene).
  const geo::Raster raster = geo::Raster::open(truth);
  const auto mask = test::read_band_u8(truth);
  const auto width = static_cast<std::size_t>(raster.info().width);
  std::vector<std::uint8_t> shifted(mask.size(), 0);
  for (std::size_t i = 0; i < mask.size(); ++i)
    if (i % width >= 5)
      shifted[i] = mask[i - 5];
  const std::string moved =
      test::write_class_map(dir + "/moved.tif", static_cast<int>(width),
                            static_cast<int>(raster.info().height), shifted, truth);
  const auto near = evaluated({"--pred", moved, "--truth", truth}, dir + "/moved.json");
  EXPECT_LT(near["classes"]["road"]["iou"].get<double>(), 0.8);
  EXPECT_GT(near["roads"]["apls"].get<double>(), 0.95);

  const std::string empty = constant_copy(truth, dir + "/empty.tif", 0);
  const auto nothing = evaluated({"--pred", empty, "--truth", truth}, dir + "/empty.json");
  EXPECT_EQ(nothing["roads"]["apls"], 0.0);
  EXPECT_EQ(nothing["roads"]["completeness"], 0.0);
}

TEST(Evaluate, ATestSetOverRanksAddsUp) {
  const std::string dir = test::fresh_directory("set");
  std::string csv = "pred,truth\n";
  std::vector<nlohmann::json> alone;
  for (int i = 0; i < 3; ++i) {
    const auto scene = test::synthetic_scene(dir + "/scene" + std::to_string(i), 128);
    const std::string pred =
        i == 1 ? constant_copy(scene.truth_path, dir + "/flat.tif", 0) : scene.truth_path;
    csv += pred + "," + scene.truth_path + "\n";
    alone.push_back(evaluated({"--pred", pred, "--truth", scene.truth_path},
                              dir + "/alone" + std::to_string(i) + ".json"));
  }
  std::ofstream(dir + "/test.csv") << csv;
  std::vector<std::int64_t> summed(alone[0]["confusion"].size(), 0);
  std::int64_t true_positives = 0;
  for (const auto& scores : alone) {
    for (std::size_t k = 0; k < summed.size(); ++k)
      summed[k] += scores["confusion"][k].get<std::int64_t>();
    true_positives += scores["objects"]["true_positives"].get<std::int64_t>();
  }
  for (int ranks : {1, 2, 3}) {
    const std::string json = dir + "/set-" + std::to_string(ranks) + ".json";
    const auto result = test::run_satunet_ranks(
        ranks, {"evaluate", "--scenes", dir + "/test.csv", "--json", json, "-q"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const auto set = nlohmann::json::parse(test::file_bytes(json));
    EXPECT_EQ(set["confusion"].get<std::vector<std::int64_t>>(), summed) << ranks << " ranks";
    EXPECT_EQ(set["objects"]["true_positives"], true_positives);
    ASSERT_EQ(set["scenes"].size(), 3u);
    EXPECT_EQ(set["scenes"][1]["confusion"], alone[1]["confusion"]);
    EXPECT_NEAR(set["roads"]["apls"].get<double>(),
                (alone[0]["roads"]["apls"].get<double>() + alone[1]["roads"]["apls"].get<double>() +
                 alone[2]["roads"]["apls"].get<double>()) /
                    3,
                1e-12);
  }
}

TEST(Evaluate, ScoringOptionsAndInputsAreChecked) {
  const std::string dir = test::fresh_directory("bad");
  const auto scene = test::synthetic_scene(dir + "/scene", 128);
  auto evaluate = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"evaluate", "--pred", scene.truth_path, "--truth",
                                     scene.truth_path};
    args.insert(args.end(), extra.begin(), extra.end());
    return test::run_satunet(args);
  };
  test::expect_failure(evaluate({"--roads", "river"}), 2,
                       "--roads: class 'river' is not in --classes");
  test::expect_failure(evaluate({"--objects", "tower"}), 2,
                       "--objects: class 'tower' is not in --classes");
  test::expect_failure(evaluate({"--match-iou", "0"}), 2, "--match-iou must be in (0, 1]");
  test::expect_failure(evaluate({"--apls-step", "-5"}), 2, "--apls-step must be positive, got -5");
  test::expect_failure(evaluate({"--road-graph", dir + "/graph.txt"}), 2, "graph.txt");
  test::expect_failure(evaluate({"--objects", "none", "--pred-objects", scene.buildings_path}), 2,
                       "no class is scored as objects");
  const std::string nodata =
      rect_map(dir + "/nodata.tif", 128, 128, {{0, 0, 128, 128, 255}}, scene.truth_path);
  const auto empty = test::run_satunet({"evaluate", "--pred", scene.truth_path, "--truth", nodata});
  test::expect_failure(empty, 1, nodata + ": no pixel is judged");
  std::ofstream(dir + "/list.csv") << "pred,truth\n" << scene.truth_path << ",\n";
  test::expect_failure(test::run_satunet({"evaluate", "--scenes", dir + "/list.csv"}), 1,
                       dir + "/list.csv:2: give the truth in one of the columns truth or labels");
  test::expect_failure(
      test::run_satunet({"evaluate", "--scenes", dir + "/list.csv", "--pred", scene.truth_path}), 2,
      "--scenes lists every scene's files");
}

TEST(Evaluate, BadInputIsRefused) {
  const auto scene = test::synthetic_scene(test::fresh_directory("scene"), 128);
  const auto other = test::synthetic_scene(test::fresh_directory("other"), 192);
  const std::string plain =
      test::ungeoreferenced_copy(other.truth_path, test::fresh_directory("plain") + "/truth.tif");
  auto bigger = test::run_satunet({"evaluate", "--pred", scene.truth_path, "--truth", plain});
  EXPECT_EQ(bigger.exit_code, 1);
  EXPECT_NE(bigger.err.find(plain + ": 192 x 192 pixels but the prediction"), std::string::npos)
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
  EXPECT_NE(unknown.err.find("class 'bridge' is not in --classes"), std::string::npos)
      << unknown.err;
}

TEST(Evaluate, ScoresAgainstRasterAndVectorTruth) {
  const auto scene = test::synthetic_scene(test::fresh_directory("scene"), 384);
  const std::string json = test::fresh_directory("out") + "/scores.json";
  const auto same = test::run_satunet({"evaluate", "--pred", scene.truth_path, "--truth",
                                       scene.truth_path, "--json", json, "--overwrite", "-q"});
  ASSERT_EQ(same.exit_code, 0) << same.err;
  const auto scores = nlohmann::json::parse(test::file_bytes(json));
  EXPECT_EQ(scores["classes"]["building"]["iou"], 1.0);
  EXPECT_EQ(scores["mean_foreground_iou"], 1.0);

  const auto vectors = test::run_satunet({"evaluate", "--pred", scene.truth_path, "--truth-labels",
                                          "building=" + scene.buildings_path, "--truth-labels",
                                          "road=" + scene.roads_path, "--width-field", "width_m",
                                          "--json", json, "--overwrite", "-q"});
  ASSERT_EQ(vectors.exit_code, 0) << vectors.err;
  const auto vector_scores = nlohmann::json::parse(test::file_bytes(json));
  EXPECT_GT(vector_scores["classes"]["building"]["iou"].get<double>(), 0.99);
  EXPECT_GT(vector_scores["classes"]["road"]["iou"].get<double>(), 0.98);

  // Everything called background: background IoU = its share of the valid pixels, others 0.
  const std::string dir = test::fresh_directory("flat");
  const std::string flat = constant_copy(scene.truth_path, dir + "/flat.tif", 0);
  const auto all_background =
      test::run_satunet({"evaluate", "--pred", flat, "--truth", scene.truth_path, "--json", json,
                         "--overwrite", "-q"});
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

TEST(Evaluate, TruthIsReadAsStoredAndItsNodataIsNotScored) {
  const std::string dir = test::fresh_directory("stored");
  const auto scene = test::synthetic_scene(dir + "/scene", 128);
  auto evaluate = [&](const std::string& truth, const std::vector<std::string>& classes) {
    return test::run_satunet({"evaluate", "--pred", scene.truth_path, "--truth", truth, "--classes",
                              classes.empty() ? "background,building,road" : classes.front(),
                              "--json", dir + "/scores.json", "--overwrite", "-q"});
  };
  // 258 is no class: once read as a byte it became 255, and its pixels silently went unscored.
  test::expect_failure(evaluate(uint16_copy(scene.truth_path, dir + "/258.tif", 258, {}), {}), 1,
                       dir +
                           "/258.tif: value 258 at pixel (10, 10) is neither a class id (0 to "
                           "2: background,building,road), 255 nor the nodata value");
  // A declared nodata value (7 here) is not scored, whatever the prediction says there.
  const auto ignored = evaluate(uint16_copy(scene.truth_path, dir + "/7.tif", 7, 7.0), {});
  ASSERT_EQ(ignored.exit_code, 0) << ignored.err;
  const auto scores = nlohmann::json::parse(test::file_bytes(dir + "/scores.json"));
  for (const char* name : {"background", "building", "road"})
    EXPECT_EQ(scores["classes"][name]["iou"], 1.0) << name;
  test::expect_failure(evaluate(scene.truth_path, {"background,road,road"}), 2,
                       "--classes: class 'road' is named twice");
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
