// Scenes over HTTP: cloud-optimised GeoTIFFs read with range requests (GDAL's /vsicurl/, from a
// server on 127.0.0.1 that the test starts and stops) by tile, predict and evaluate give the
// results of the local file, each block fetched once. (Files inside a zip, /vsizip/: the
// Predict and TileCli suites.)
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "test_support.hpp"

namespace satunet {
namespace {
namespace fs = std::filesystem;

void run(const std::vector<std::string>& argv) {
  const auto result = test::run_program(argv);
  ASSERT_EQ(result.exit_code, 0) << argv.front() << ": " << result.err;
}

struct Served {
  std::int64_t requests = 0;
  std::int64_t whole_file_gets = 0;  // a GET without a range: the file read whole
  std::int64_t bytes = 0;
};

}  // namespace

class RemoteScenes : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::fresh_directory("remote");
    scene_ = test::synthetic_scene(dir_ + "/scene", 512);
    served_ = dir_ + "/served";
    fs::create_directories(served_);
    for (const auto& [from, to] :
         {std::pair{scene_.scene_path, "scene.tif"}, std::pair{scene_.truth_path, "truth.tif"}})
      run({"gdal_translate", "-q", "-of", "COG", "-co", "COMPRESS=DEFLATE", "-co", "BLOCKSIZE=256",
           from, served_ + "/" + to});
    const std::string port_file = dir_ + "/port";
    server_ = std::make_unique<test::Background>(std::vector<std::string>{
        "python3", std::string(SATUNET_SOURCE_DIR) + "/tests/remote/range_server.py", served_,
        log(), port_file});
    for (int wait = 0; wait < 100 && !fs::exists(port_file); ++wait)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(fs::exists(port_file)) << "the range server did not start";
    url_ = "/vsicurl/http://127.0.0.1:" + test::file_bytes(port_file) + "/";
  }

  std::string log() const { return dir_ + "/requests.jsonl"; }
  // What the server sent of `file` since the last call (sidecars GDAL looks for aside).
  Served served(const std::string& file = "") {
    Served total;
    std::ifstream in(log());
    std::string line;
    for (std::int64_t index = 0; std::getline(in, line); ++index) {
      if (index < seen_)
        continue;
      const auto request = nlohmann::json::parse(line);
      ++seen_;
      if (request["path"] != "/" + file)
        continue;
      ++total.requests;
      total.bytes += request["bytes"].get<std::int64_t>();
      // A GET without a range that sent bytes read the file whole.
      total.whole_file_gets += request["method"] == "GET" && request["range"].is_null() &&
                               request["bytes"].get<std::int64_t>() > 0;
    }
    return total;
  }
  // Each block at most once: never more bytes than the file holds, never a whole-file read.
  void expect_each_block_once(const std::string& served_file) {
    const Served sent = served(served_file);
    EXPECT_GT(sent.requests, 0);
    EXPECT_EQ(sent.whole_file_gets, 0);
    EXPECT_LE(sent.bytes, static_cast<std::int64_t>(fs::file_size(served_ + "/" + served_file)));
  }

  std::string dir_, served_, url_;
  synth::SynthResult scene_;
  std::unique_ptr<test::Background> server_;
  std::int64_t seen_ = 0;
};

TEST_F(RemoteScenes, TileReadsACogOverHttpAsTheLocalFile) {
  auto tile = [&](const std::string& image, const std::string& out) {
    return test::run_satunet({"tile", "--out", out, "--image", image, "--labels",
                              "building=" + scene_.buildings_path, "--tile", "128", "--overlap",
                              "32", "-q"});
  };
  const auto local = tile(served_ + "/scene.tif", dir_ + "/local");
  ASSERT_EQ(local.exit_code, 0) << local.err;
  served();
  const auto remote = tile(url_ + "scene.tif", dir_ + "/remote");
  ASSERT_EQ(remote.exit_code, 0) << remote.err;
  expect_each_block_once("scene.tif");
  const auto expected = test::read_tiles(dir_ + "/local");
  ASSERT_FALSE(expected.empty());
  const auto tiles = test::read_tiles(dir_ + "/remote");
  ASSERT_EQ(tiles.size(), expected.size());
  for (const auto& [key, stored] : expected) {
    EXPECT_EQ(tiles.at(key).image, stored.image);
    EXPECT_EQ(tiles.at(key).labels, stored.labels);
  }
  // The manifest names the scene as given: a URL is no local path.
  const auto manifest = nlohmann::json::parse(test::file_bytes(dir_ + "/remote/manifest.json"));
  EXPECT_EQ(manifest["scenes"][0]["path"], url_ + "scene.tif");
  test::expect_failure(tile(url_ + "nothing.tif", dir_ + "/none"), 1,
                       url_ + "nothing.tif: no such file");
}

TEST_F(RemoteScenes, PredictAndEvaluateReadOverHttpAsTheLocalFile) {
  const std::string checkpoint = test::make_checkpoint(dir_ + "/model.pt", 3);
  auto predict = [&](const std::string& image, const std::string& mask) {
    return test::run_satunet({"predict", "--checkpoint", checkpoint, "--image", image,
                              "--stitch-to", mask, "--tile", "64", "--threads", "1", "-q"});
  };
  const auto local = predict(served_ + "/scene.tif", dir_ + "/local.tif");
  ASSERT_EQ(local.exit_code, 0) << local.err;
  served();
  const auto remote = predict(url_ + "scene.tif", dir_ + "/remote.tif");
  ASSERT_EQ(remote.exit_code, 0) << remote.err;
  expect_each_block_once("scene.tif");
  EXPECT_EQ(test::file_bytes(dir_ + "/remote.tif"), test::file_bytes(dir_ + "/local.tif"));

  auto evaluate = [&](const std::string& truth, const std::string& json) {
    return test::run_satunet(
        {"evaluate", "--pred", dir_ + "/local.tif", "--truth", truth, "--json", json, "-q"});
  };
  const auto scored_here = evaluate(served_ + "/truth.tif", dir_ + "/local.json");
  ASSERT_EQ(scored_here.exit_code, 0) << scored_here.err;
  const auto scored_there = evaluate(url_ + "truth.tif", dir_ + "/remote.json");
  ASSERT_EQ(scored_there.exit_code, 0) << scored_there.err;
  expect_each_block_once("truth.tif");
  auto scores = [](const std::string& path) {
    auto json = nlohmann::json::parse(test::file_bytes(path));
    json.erase("scenes");  // they name the truth as given
    return json;
  };
  EXPECT_EQ(scores(dir_ + "/remote.json"), scores(dir_ + "/local.json"));
}

// A Sentinel-2-like scene (12 bands, uint16) as a STAC Item of one COG per band, as catalogues
// serve them: tile and predict choose bands by name (--bands B04,B03,B02,B08) and get what the
// scene's own bands 4,3,2,8 give.
TEST(StacItem, BandsChosenByNameAreTheScenesOwn) {
  const std::string dir = test::fresh_directory("stac");
  const auto made = test::run_satunet({"synth", "--out", dir + "/scene", "--size", "192", "--bands",
                                       "12", "--dtype", "uint16", "-q"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string scene = dir + "/scene/scene.tif";
  const std::vector<std::pair<std::string, std::string>> bands = {
      {"B01", ""},      {"B02", "blue"}, {"B03", "green"},  {"B04", "red"},
      {"B05", ""},      {"B06", ""},     {"B07", ""},       {"B08", "nir"},
      {"B8A", "nir08"}, {"B09", ""},     {"B11", "swir16"}, {"B12", "swir22"}};
  nlohmann::ordered_json assets;
  for (std::size_t b = 0; b < bands.size(); ++b) {
    run({"gdal_translate", "-q", "-of", "COG", "-b", std::to_string(b + 1), scene,
         dir + "/" + bands[b].first + ".tif"});
    nlohmann::ordered_json band = {{"name", bands[b].first}};
    if (!bands[b].second.empty())
      band["common_name"] = bands[b].second;
    assets[bands[b].first] = {{"href", bands[b].first + ".tif"},
                              {"type", "image/tiff; application=geotiff"},
                              {"roles", {"data"}},
                              {"eo:bands", {band}}};
  }
  assets["thumbnail"] = {{"href", "thumbnail.png"}, {"roles", {"thumbnail"}}};
  const nlohmann::ordered_json item = {
      {"type", "Feature"}, {"stac_version", "1.0.0"}, {"id", "S2-like"}, {"assets", assets}};
  std::ofstream(dir + "/item.json") << item.dump(2);

  auto tile = [&](const std::string& image, const std::string& chosen, const std::string& out) {
    return test::run_satunet({"tile", "--out", dir + "/" + out, "--image", image, "--bands", chosen,
                              "--labels", "building=" + dir + "/scene/buildings.geojson", "--tile",
                              "64", "--overlap", "0", "-q"});
  };
  ASSERT_EQ(tile(scene, "4,3,2,8", "by-number").exit_code, 0);
  const auto by_name = tile(dir + "/item.json", "B04,B03,B02,B08", "by-name");
  ASSERT_EQ(by_name.exit_code, 0) << by_name.err;
  const auto expected = test::read_tiles(dir + "/by-number");
  const auto tiles = test::read_tiles(dir + "/by-name");
  ASSERT_EQ(tiles.size(), expected.size());
  for (const auto& [key, stored] : expected)
    EXPECT_EQ(tiles.at(key).image, stored.image);
  const auto manifest = nlohmann::json::parse(test::file_bytes(dir + "/by-name/manifest.json"));
  EXPECT_EQ(manifest["bands"][0]["name"], "B04");
  EXPECT_EQ(manifest["bands"][3]["name"], "B08");

  const std::string checkpoint = test::make_checkpoint(dir + "/model.pt", 4);
  auto predict = [&](const std::string& image, const std::string& chosen, const std::string& mask) {
    return test::run_satunet({"predict", "--checkpoint", checkpoint, "--image", image, "--bands",
                              chosen, "--stitch-to", dir + "/" + mask, "--threads", "1", "-q"});
  };
  ASSERT_EQ(predict(scene, "4,3,2,8", "by-number.tif").exit_code, 0);
  ASSERT_EQ(predict(dir + "/item.json", "red,green,blue,B08", "by-name.tif").exit_code, 0);
  EXPECT_EQ(test::read_band_u8(dir + "/by-name.tif"), test::read_band_u8(dir + "/by-number.tif"));

  test::expect_failure(tile(dir + "/item.json", "B04,B13", "none"), 1,
                       dir + "/item.json: --bands asks for band 'B13', but its bands are B01, B02");
  std::ofstream(dir + "/collection.json") << R"({"type": "Collection", "id": "x"})";
  test::expect_failure(tile(dir + "/collection.json", "1", "none"), 1,
                       dir + "/collection.json: not a STAC Item");
}

}  // namespace satunet
