// Every subcommand and every output it writes, against the inputs and products around it: no
// output replaces an input or lies inside one, none replaces an earlier result without
// --overwrite, one path is not two outputs, and an output that cannot be written is refused
// before the work. Each refusal leaves every file of the fixture as it was.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/output_lock.hpp"
#include "test_support.hpp"

namespace satunet {
namespace {
namespace fs = std::filesystem;

// Every file under `dir` with a hash of its bytes; lock files (which hold the last holder's
// process id) aside.
std::map<std::string, std::size_t> snapshot(const std::string& dir) {
  const fs::path lock_name = fs::path(OutputLock::file_in(dir)).filename();
  std::map<std::string, std::size_t> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.path().filename() != lock_name)
      files[entry.path().string()] =
          entry.is_regular_file()
              ? std::hash<std::string>{}(test::file_bytes(entry.path().string()))
              : 0;
  return files;
}

// The files added, removed or changed between two snapshots.
std::string changes(const std::map<std::string, std::size_t>& before,
                    const std::map<std::string, std::size_t>& after) {
  std::string changed;
  for (const auto& [path, hash] : after)
    if (before.count(path) == 0)
      changed += "added " + path + "\n";
    else if (before.at(path) != hash)
      changed += "changed " + path + "\n";
  for (const auto& [path, hash] : before)
    if (after.count(path) == 0)
      changed += "removed " + path + "\n";
  return changed;
}

struct Refusal {
  std::vector<std::string> args;
  int exit_code;
  std::string says;
};

}  // namespace

TEST(Outputs, EveryCommandRefusesToDestroyAnInputOrAnEarlierResult) {
  const std::string f = test::fresh_directory("fixture");
  const auto scene = test::synthetic_scene(f + "/scene", 96);
  const std::string image = scene.scene_path, truth = scene.truth_path;
  auto made = [](const test::CommandResult& result) {
    ASSERT_EQ(result.exit_code, 0) << result.err;
  };
  made(test::run_satunet({"tile", "--out", f + "/data", "--image", image, "--labels",
                          "building=" + scene.buildings_path, "--labels",
                          "road=" + scene.roads_path, "--width-field", "width_m", "--tile", "32",
                          "--overlap", "0", "--val-fraction", "0.25", "-q"}));
  made(test::run_satunet({"train", "--data", f + "/data", "--out", f + "/run", "--base", "4",
                          "--depth", "2", "--batch", "2", "--max-steps", "2", "--threads", "1",
                          "-q"}));
  const std::string checkpoint = f + "/run/checkpoints/last.pt";
  made(test::run_satunet({"predict", "--checkpoint", checkpoint, "--image", image, "--out",
                          f + "/pred", "--tile", "32", "--threads", "1", "-q"}));
  made(test::run_satunet({"stitch", "--pred", f + "/pred", "--out", f + "/mask.tif", "-q"}));
  std::ofstream(f + "/existing.txt") << "an earlier result";
  const std::string shard = f + "/pred/shards/rank-0-of-1.h5";
  ASSERT_TRUE(fs::exists(shard));

  const std::vector<std::string> tile = {
      "tile", "--image", image, "--labels", "building=" + scene.buildings_path, "-q"};
  const std::vector<std::string> train = {"train",  "--data", f + "/data", "--max-steps", "1",
                                          "--base", "4",      "--depth",   "2",           "-q"};
  const std::vector<std::string> predict = {"predict", "--checkpoint", checkpoint, "--image",
                                            image,     "--tile",       "32",       "-q"};
  const std::vector<std::string> stitch = {"stitch", "--pred", f + "/pred", "-q"};
  const std::vector<std::string> evaluate = {"evaluate", "--pred", f + "/mask.tif",
                                             "--truth",  truth,    "-q"};
  const std::vector<std::string> report = {"report", "--run", f + "/run", "-q"};
  const std::vector<std::string> quicklook = {"quicklook", "--image", image, "-q"};
  auto with = [](std::vector<std::string> args, const std::vector<std::string>& more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  const std::string missing = f + "/no/such/dir";
  const std::vector<Refusal> refusals = {
      // An earlier result, without --overwrite.
      {{"synth", "--size", "64", "--out", f + "/scene"},
       1,
       f + "/scene: holds a synthetic scene already; --overwrite replaces it"},
      {with(tile, {"--out", f + "/data"}), 1, f + "/data: holds a dataset already"},
      {with(train, {"--out", f + "/run"}), 1, f + "/run: holds"},
      {with(predict, {"--out", f + "/pred"}), 1, f + "/pred: holds"},
      {with(predict, {"--stitch-to", f + "/mask.tif"}), 1, "exists; --overwrite replaces it"},
      {with(stitch, {"--out", f + "/mask.tif"}), 1, "exists; --overwrite replaces it"},
      {with(stitch, {"--out", f + "/new.tif", "--probabilities", f + "/existing.txt"}), 1,
       "exists; --overwrite replaces it"},
      {with(evaluate, {"--json", f + "/existing.txt"}), 1, "exists; --overwrite replaces it"},
      {with(evaluate, {"--errors", f + "/existing.txt"}), 1, "exists; --overwrite replaces it"},
      {with(report, {"--out", f + "/existing.txt"}), 1, "exists; --overwrite replaces it"},
      {with(quicklook, {"--out", f + "/existing.txt"}), 1, "exists; --overwrite replaces it"},
      // An input, or a file inside an input, even with --overwrite.
      {with(train, {"--out", f + "/data", "--overwrite"}), 1,
       f + "/data: is an input of this command"},
      {with(train, {"--out", f + "/data/run", "--overwrite"}), 1,
       f + "/data/run: lies inside " + f + "/data, an input of this command"},
      {with(train, {"--out", f + "/run", "--overwrite", "--init-from", checkpoint}), 1,
       checkpoint + ": an input of this command inside " + f + "/run"},
      {with(predict, {"--stitch-to", image, "--overwrite"}), 1,
       image + ": is an input of this command"},
      {with(stitch, {"--out", shard, "--overwrite"}), 1, shard + ": lies inside " + f + "/pred"},
      {with(evaluate, {"--json", truth, "--overwrite"}), 1, truth + ": is an input"},
      {with(evaluate, {"--errors", f + "/mask.tif", "--overwrite"}), 1,
       f + "/mask.tif: is an input"},
      {with(report, {"--out", f + "/run/metrics.csv", "--overwrite"}), 1,
       f + "/run/metrics.csv: lies inside " + f + "/run"},
      {with(quicklook, {"--out", image, "--overwrite"}), 1, image + ": is an input"},
      // One path for two outputs.
      {with(stitch, {"--out", f + "/x.tif", "--probabilities", f + "/x.tif"}), 2,
       f + "/x.tif is named for two outputs"},
      {with(predict, {"--stitch-to", f + "/y.tif", "--probabilities", f + "/./y.tif"}), 2,
       "is named for two outputs"},
      {with(evaluate, {"--json", f + "/z", "--errors", f + "/z"}), 2, "is named for two outputs"},
      // Where nothing can be written: refused before the work.
      {with(predict, {"--stitch-to", missing + "/m.tif"}), 1, "no directory"},
      {with(stitch, {"--out", missing + "/m.tif"}), 1, "no directory"},
      {with(evaluate, {"--json", missing + "/s.json"}), 1, "no directory"},
      {with(report, {"--out", missing + "/r.html"}), 1, "no directory"},
      {with(quicklook, {"--out", missing + "/q.png"}), 1, "no directory"},
      {with(stitch, {"--out", f + "/scene"}), 1, f + "/scene: is a directory"},
  };
  auto before = snapshot(f);
  for (const Refusal& refusal : refusals) {
    std::string line;
    for (const std::string& arg : refusal.args)
      line += arg + " ";
    SCOPED_TRACE(line);
    const auto result = test::run_satunet(refusal.args);
    test::expect_failure(result, refusal.exit_code, refusal.says);
    const auto after = snapshot(f);
    EXPECT_EQ(changes(before, after), "") << "a refused command changed the fixture";
    EXPECT_FALSE(fs::exists(missing));
    before = after;  // each row answers for its own changes
  }
}

}  // namespace satunet
