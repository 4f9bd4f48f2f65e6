// `satunet predict --scenes`: a region of many scenes in one job — scenes of several CRSs and
// sizes spread over ranks and parts, each mask what `predict --image` makes of its scene alone,
// a failed scene recorded while the others finish, a rerun that keeps what is complete.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "geo/raster.hpp"
#include "predict/region.hpp"
#include "test_support.hpp"

namespace satunet::predict {
namespace {
namespace fs = std::filesystem;

// Five generated scenes in four CRSs, 96 to 224 px, and one file that is no raster.
struct Region {
  std::string dir, list, checkpoint;
  std::vector<std::string> names = {"north", "east", "mercator", "lambert", "small"};
};

Region make_region(const std::string& dir) {
  Region region;
  region.dir = dir;
  const std::vector<std::pair<std::string, std::string>> shapes = {
      {"224", "32633"}, {"160", "32632"}, {"192", "3857"}, {"128", "2154"}, {"96", "32633"}};
  std::ofstream list(dir + "/scenes.csv");
  list << "image,name\n";
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const auto made =
        test::run_satunet({"synth", "--out", dir + "/" + region.names[i], "--size", shapes[i].first,
                           "--epsg", shapes[i].second, "--seed", std::to_string(i + 1), "-q"});
    EXPECT_EQ(made.exit_code, 0) << made.err;
    list << region.names[i] << "/scene.tif," << region.names[i] << "\n";
    if (i == 2)  // the broken one in the middle of the list
      list << "broken.tif,broken\n";
  }
  std::ofstream(dir + "/broken.tif") << "no raster at all";
  region.list = dir + "/scenes.csv";
  region.checkpoint = test::make_checkpoint(dir + "/model.pt", 3, test::Head::varied);
  return region;
}

std::vector<std::string> predict_args(const Region& region, const std::string& out) {
  return {"predict",
          "--checkpoint",
          region.checkpoint,
          "--scenes",
          region.list,
          "--out",
          out,
          "--threads",
          "1",
          "--products",
          "polygons,road-lines",
          "--clean-roads",
          "road",
          "-q"};
}

nlohmann::json index_of(const std::string& out) {
  return nlohmann::json::parse(test::file_bytes(out + "/index.json"));
}

}  // namespace

TEST(Region, ScenesOfManyCrssInOneJobOnOneTwoAndThreeRanksAndInParts) {
  const Region region = make_region(test::fresh_directory("region"));
  const auto one = test::run_satunet(predict_args(region, region.dir + "/one"));
  test::expect_failure(one, 1, "1 of 6 scenes failed");
  const nlohmann::json index = index_of(region.dir + "/one");
  ASSERT_EQ(index["scenes"].size(), 6u);
  for (const nlohmann::json& scene : index["scenes"]) {
    if (scene["scene"] == "broken") {
      EXPECT_EQ(scene["status"], "failed");
      EXPECT_NE(scene["error"].get<std::string>().find("broken.tif: cannot open raster"),
                std::string::npos)
          << scene;
      continue;
    }
    EXPECT_EQ(scene["status"], "done") << scene;
    EXPECT_GT(scene["windows"].get<int>(), 0);
  }
  // Each mask is the scene predicted alone.
  for (const std::string& name : region.names) {
    const std::string alone = region.dir + "/" + name + "-alone.tif";
    const auto made = test::run_satunet({"predict", "--checkpoint", region.checkpoint, "--image",
                                         region.dir + "/" + name + "/scene.tif", "--stitch-to",
                                         alone, "--threads", "1", "--clean-roads", "road", "-q"});
    ASSERT_EQ(made.exit_code, 0) << made.err;
    EXPECT_EQ(test::file_bytes(region.dir + "/one/masks/" + name + ".tif"), test::file_bytes(alone))
        << name;
    EXPECT_TRUE(fs::exists(region.dir + "/one/polygons/" + name + ".gpkg")) << name;
    EXPECT_TRUE(fs::exists(region.dir + "/one/road-lines/" + name + ".gpkg")) << name;
  }
  // One mosaic per CRS, each over its masks.
  for (const auto& [crs, masks] : std::vector<std::pair<std::string, int>>{
           {"EPSG_32633", 2}, {"EPSG_32632", 1}, {"EPSG_3857", 1}, {"EPSG_2154", 1}}) {
    const std::string mosaic = region.dir + "/one/mosaic-" + crs + ".vrt";
    ASSERT_TRUE(fs::exists(mosaic)) << mosaic;
    const std::string vrt = test::file_bytes(mosaic);
    int sources = 0;
    for (std::size_t at = vrt.find("<SourceFilename"); at != std::string::npos;
         at = vrt.find("<SourceFilename", at + 1))
      ++sources;
    EXPECT_EQ(sources, masks) << mosaic;
  }
  // The same masks on 2 and 3 ranks, and in three parts of one job array.
  const auto masks_of = [&](const std::string& out) {
    std::vector<std::string> bytes;
    for (const std::string& name : region.names)
      bytes.push_back(test::file_bytes(out + "/masks/" + name + ".tif"));
    return bytes;
  };
  for (const int ranks : {2, 3}) {
    const std::string out = region.dir + "/ranks-" + std::to_string(ranks);
    EXPECT_NE(test::run_satunet_ranks(ranks, predict_args(region, out)).exit_code, 0)
        << "the broken scene fails on every rank count";
    EXPECT_EQ(masks_of(out), masks_of(region.dir + "/one")) << ranks << " ranks";
  }
  const std::string parts = region.dir + "/parts";
  for (const char* part : {"1/3", "2/3", "3/3"}) {
    auto args = predict_args(region, parts);
    args.insert(args.end(), {"--part", part});
    test::run_satunet(args);
  }
  EXPECT_EQ(masks_of(parts), masks_of(region.dir + "/one"));
  EXPECT_EQ(index_of(parts)["scenes"].size(), 6u) << "every part's scenes in one index";
}

TEST(Region, ARerunKeepsCompleteScenesAndRedoesTheRest) {
  const Region region = make_region(test::fresh_directory("region"));
  const std::string out = region.dir + "/out";
  test::run_satunet(predict_args(region, out));
  const std::string kept = test::file_bytes(out + "/masks/north.tif");
  // A job killed mid-way: one scene's mask gone, a temporary of it left, another scene's
  // polygons not yet written.
  fs::remove(out + "/masks/east.tif");
  std::ofstream(out + "/masks/.east.partial-99999.tif") << "half a mask";
  fs::remove(out + "/polygons/small.gpkg");
  const auto rerun = test::run_satunet(predict_args(region, out));
  test::expect_failure(rerun, 1, "1 of 6 scenes failed");
  std::map<std::string, std::string> status;
  const nlohmann::json index = index_of(out);
  for (const nlohmann::json& scene : index["scenes"])
    status[scene["scene"]] = scene["status"];
  EXPECT_EQ(status, (std::map<std::string, std::string>{{"north", "kept"},
                                                        {"east", "done"},
                                                        {"mercator", "kept"},
                                                        {"broken", "failed"},
                                                        {"lambert", "kept"},
                                                        {"small", "done"}}));
  EXPECT_EQ(test::file_bytes(out + "/masks/north.tif"), kept);
  EXPECT_TRUE(fs::exists(out + "/masks/east.tif"));
  EXPECT_TRUE(fs::exists(out + "/polygons/small.gpkg"));
  EXPECT_FALSE(fs::exists(out + "/masks/.east.partial-99999.tif"));
  // Other settings are another region: refused, not mixed in.
  auto other = predict_args(region, out);
  other.insert(other.end(), {"--tile", "32"});
  test::expect_failure(test::run_satunet(other), 1,
                       out + ": holds a region predicted with other settings");
  // ... unless --overwrite replaces the region: every scene predicted anew with them.
  other.push_back("--overwrite");
  test::expect_failure(test::run_satunet(other), 1, "1 of 6 scenes failed");
  const nlohmann::json replaced = index_of(out);
  EXPECT_EQ(replaced["settings"]["tile"], 32);
  for (const nlohmann::json& scene : replaced["scenes"])
    EXPECT_NE(scene["status"], "kept") << scene;
  // --fail-fast ends the job at the broken scene, naming it.
  auto fast = predict_args(region, region.dir + "/fast");
  fast.push_back("--fail-fast");
  test::expect_failure(test::run_satunet(fast), 1, "broken.tif: cannot open raster");
}

// A real kill (SIGKILL) once the first scene is done: the rerun keeps what was complete and
// makes the rest, each mask what an uninterrupted job makes.
TEST(Region, AJobKilledMidwayIsResumedByItsRerun) {
  const Region region = make_region(test::fresh_directory("region"));
  const std::string whole = region.dir + "/whole", killed = region.dir + "/killed";
  test::run_satunet(predict_args(region, whole));
  auto args = predict_args(region, killed);
  args.insert(args.begin(), SATUNET_BINARY);
  {
    test::Background running(args);
    // A scene is done when its mask and its polygons are there under their own names.
    const auto a_scene_done = [&] {
      for (const std::string& name : region.names)
        if (fs::exists(killed + "/masks/" + name + ".tif") &&
            fs::exists(killed + "/polygons/" + name + ".gpkg"))
          return true;
      return false;
    };
    while (!a_scene_done()) {
      if (const auto ended = running.wait_for(std::chrono::milliseconds(2))) {
        FAIL() << "ended before a scene was done: " << ended->err;
      }
    }
    kill(-running.pid(), SIGKILL);
    running.wait();
  }
  EXPECT_FALSE(fs::exists(killed + "/index.json")) << "killed before it could write one";
  const auto rerun = test::run_satunet(predict_args(region, killed));
  test::expect_failure(rerun, 1, "1 of 6 scenes failed");
  const nlohmann::json index = index_of(killed);
  int kept = 0;
  for (const nlohmann::json& scene : index["scenes"])
    kept += scene["status"] == "kept";
  EXPECT_GE(kept, 1);
  EXPECT_LT(kept, 5) << "the job was killed before its end";
  for (const std::string& name : region.names)
    EXPECT_EQ(test::file_bytes(killed + "/masks/" + name + ".tif"),
              test::file_bytes(whole + "/masks/" + name + ".tif"))
        << name;
}

TEST(Region, BadListsAndOptionsAreRefused) {
  const std::string dir = test::fresh_directory("bad");
  std::ofstream(dir + "/twice.csv") << "image\na/scene.tif\nb/scene.tif\n";
  test::expect_error([&] { read_region_scenes(dir + "/twice.csv"); },
                     dir + "/twice.csv: two scenes named scene (");
  fs::create_directories(dir + "/empty");
  test::expect_error([&] { read_region_scenes(dir + "/empty"); }, dir + "/empty: holds no raster");
  EXPECT_EQ(balance({10, 40, 30, 20}, 2), (std::vector<int>{0, 0, 1, 1}));
  EXPECT_EQ(balance({0, 0, 0}, 3), (std::vector<int>{0, 1, 2}));
  const std::string list = dir + "/twice.csv";
  for (const auto& [extra, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--image", "x.tif"}, "give --image or --scenes, not both"},
           {{"--stitch-to", "m.tif"},
            "--stitch-to, --probabilities, --polygons and --road-lines go with"},
           {{"--road-lines", "r.gpkg", "--clean-roads", "road"},
            "--stitch-to, --probabilities, --polygons and --road-lines go with"},
           {{"--products", "masks"},
            "--products: 'masks' is none of probabilities, polygons and road-lines"},
           {{"--products", "road-lines"},
            "--products road-lines: the centre lines come from a road cleanup; give "
            "--clean-roads CLASS"},
           {{"--part", "4/3"}, "--part 4/3: give I/N with 1 <= I <= N"},
           {{"--part", "2/3", "--overwrite"}, "--overwrite with --part"}}) {
    std::vector<std::string> args = {"predict", "--checkpoint", "c.pt",      "--scenes",
                                     list,      "--out",        dir + "/out"};
    args.insert(args.end(), extra.begin(), extra.end());
    test::expect_failure(test::run_satunet(args), 2, says);
  }
  test::expect_failure(test::run_satunet({"predict", "--checkpoint", "c.pt", "--scenes", list}), 2,
                       "--scenes needs --out");
  test::expect_failure(test::run_satunet({"predict", "--checkpoint", "c.pt", "--image", "x.tif",
                                          "--out", dir + "/o", "--part", "1/2"}),
                       2, "--part goes with --scenes");
}

}  // namespace satunet::predict
