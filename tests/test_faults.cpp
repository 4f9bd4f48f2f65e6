// Faults injected into running jobs: tile, train and predict on 1 and 2 ranks, each with a rank
// killed (SIGKILL) at a random point, a stop signal (SIGTERM) while it writes, its output file
// system full, its input shard or checkpoint damaged between runs, and a second job on the same
// output. After each: the job ended within 60 s, an error line names the cause, nothing
// half-written looks complete, and what was complete before is intact and usable (`satunet
// info`, a resume or a re-run succeed). Every case prints what it injected and what it checked.
//
// SATUNET_FAULT_SEED chooses the random points (the seed is printed, to replay a failure).
#include <gtest/gtest.h>
#include <hdf5.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "common/error.hpp"
#include "common/zip_check.hpp"
#include "model/checkpoint.hpp"
#include "shards/hdf5_handle.hpp"
#include "shards/manifest.hpp"
#include "test_support.hpp"

namespace satunet::faults {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr auto kEndsWithin = 60s;

std::mt19937& random_points() {
  static std::mt19937 generator = [] {
    const char* given = std::getenv("SATUNET_FAULT_SEED");
    const unsigned seed = given ? static_cast<unsigned>(std::stoul(given)) : 20261130u;
    std::cout << "[fault] seed " << seed << " (SATUNET_FAULT_SEED replays it)\n";
    return std::mt19937(seed);
  }();
  return generator;
}

int random_between(int low, int high) {
  return std::uniform_int_distribution<int>(low, high)(random_points());
}

// What a case did and what it verified, for the log.
class Report {
 public:
  Report(int ranks, std::string injected) {
    std::cout << "[fault] " << ranks << (ranks == 1 ? " rank: " : " ranks: ") << "injected "
              << injected << "\n";
  }
  void checked(const std::string& what) { std::cout << "[fault]   checked: " << what << "\n"; }
};

std::vector<std::string> job(int ranks, const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  if (ranks > 1)
    argv = {"mpirun", "-n", std::to_string(ranks), "--oversubscribe", "--bind-to", "none"};
  argv.push_back(SATUNET_BINARY);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// The satunet processes of a job: itself, or mpirun's children.
std::vector<pid_t> rank_pids(pid_t launched, int ranks) {
  if (ranks == 1)
    return {launched};
  const std::string children =
      "/proc/" + std::to_string(launched) + "/task/" + std::to_string(launched) + "/children";
  std::istringstream list(test::file_bytes(children));
  std::vector<pid_t> pids;
  for (pid_t pid = 0; list >> pid;)
    pids.push_back(pid);
  return pids;
}

bool wait_until(const std::function<bool()>& ready, std::chrono::seconds limit = 60s) {
  const auto start = std::chrono::steady_clock::now();
  while (!ready()) {
    if (std::chrono::steady_clock::now() - start > limit)
      return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// The job's end within the bound, or a failed test (and the job killed).
test::CommandResult ends_in_time(test::Background& running, Report& report) {
  const auto result = running.wait_for(kEndsWithin);
  if (!result) {
    ADD_FAILURE() << "the job still runs " << kEndsWithin.count() << " s after the fault";
    return {};
  }
  report.checked("the job ended within " + std::to_string(kEndsWithin.count()) + " s (exit " +
                 std::to_string(result->exit_code) + ")");
  return *result;
}

void says(const test::CommandResult& result, const std::string& cause, Report& report) {
  EXPECT_NE(result.err.find(cause), std::string::npos) << "'" << cause << "' not in " << result.err;
  report.checked("an error line names the cause: '" + cause + "'");
}

// SIGKILL into one of the job's ranks, chosen at random; then the job must end, failed, and
// on more ranks than one say why. False when the job had already finished: nothing to check.
bool kill_a_rank(test::Background& running, int ranks, Report& report) {
  const auto pids = rank_pids(running.pid(), ranks);
  if (pids.empty()) {
    report.checked("the job had finished before the fault: nothing to check");
    return false;
  }
  kill(pids[static_cast<std::size_t>(random_between(0, static_cast<int>(pids.size()) - 1))],
       SIGKILL);
  const auto result = ends_in_time(running, report);
  EXPECT_NE(result.exit_code, 0);
  if (ranks > 1)
    says(result, "signal 9 (Killed)", report);
  return true;
}

// Files whose names say they are unfinished (PendingFile's temporaries).
std::vector<std::string> partial_files(const std::string& dir) {
  std::vector<std::string> found;
  if (!fs::exists(dir))
    return found;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.path().filename().string().find(".partial-") != std::string::npos)
      found.push_back(entry.path().string());
  return found;
}

void nothing_partial(const std::string& dir, Report& report) {
  EXPECT_EQ(partial_files(dir), std::vector<std::string>{}) << "temporaries left in " << dir;
  report.checked("no temporary file left in " + fs::path(dir).filename().string());
}

void usable(const std::string& path, Report& report) {
  const auto info = test::run_satunet({"info", path});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  report.checked("satunet info " + fs::path(path).filename().string() + " succeeds");
}

// Where a small file system can be mounted (root in a mount namespace), the job runs with its
// output on a tmpfs of `bytes` that starts as a copy of `seed` (if any); after it ends, what
// the job left there is copied to `after`. Elsewhere RLIMIT_FSIZE stands in for the full disk.
class FullDisk {
 public:
  bool tmpfs = false;

  FullDisk() {
    const std::string probe = test::fresh_directory("mount-probe");
    tmpfs = test::run_program(
                {"unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs " + probe})
                .exit_code == 0;
  }

  std::string describe(long bytes) const {
    return (tmpfs ? "a full file system (tmpfs of " : "a full disk (RLIMIT_FSIZE of ") +
           std::to_string(bytes / 1024) + " KiB)";
  }

  test::CommandResult run(const std::vector<std::string>& argv, const std::string& disk,
                          const std::string& seed, long bytes, const std::string& after,
                          Report& report) const {
    const test::CommandResult result = run_on_disk(argv, disk, seed, bytes, after);
    EXPECT_NE(result.exit_code, 137) << "killed after " << kEndsWithin.count() << " s";
    report.checked("the job ended within " + std::to_string(kEndsWithin.count()) + " s (exit " +
                   std::to_string(result.exit_code) + ")");
    return result;
  }

 private:
  test::CommandResult run_on_disk(const std::vector<std::string>& argv, const std::string& disk,
                                  const std::string& seed, long bytes,
                                  const std::string& after) const {
    fs::create_directories(disk);
    fs::create_directories(after);
    if (!tmpfs) {
      if (!seed.empty())
        fs::copy(seed, disk, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
      test::Background running(argv, bytes);
      auto result = running.wait_for(kEndsWithin);
      fs::copy(disk, after, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
      return result ? *result : test::CommandResult{};
    }
    std::string script =
        "mount -t tmpfs -o size=" + std::to_string(bytes) + " tmpfs '" + disk + "' || exit 99; ";
    if (!seed.empty())
      script += "cp -a '" + seed + "/.' '" + disk + "/' || exit 98; ";
    script += "timeout -s KILL " + std::to_string(kEndsWithin.count()) +
              " \"$@\"; status=$?; cp -a '" + disk + "/.' '" + after + "/'; exit $status";
    std::vector<std::string> wrapped = {"unshare", "-m", "sh", "-c", script, "sh"};
    wrapped.insert(wrapped.end(), argv.begin(), argv.end());
    return test::run_program(wrapped);
  }
};

const FullDisk& full_disk() {
  static const FullDisk disk;
  return disk;
}

std::string flipped_bit(std::string bytes, std::size_t from, std::size_t to) {
  const auto at =
      from + static_cast<std::size_t>(random_between(0, static_cast<int>(to - from - 1)));
  bytes[at] = static_cast<char>(bytes[at] ^ (1 << random_between(0, 7)));
  return bytes;
}

// Flips one random bit of a checkpoint where it matters: not in the padding between the
// archive's entries, which no reader looks at.
void flip_a_checkpoint_bit(const std::string& path) {
  const std::string bytes = test::file_bytes(path);
  for (;;) {
    const std::string damaged = flipped_bit(bytes, 0, bytes.size());
    try {
      check_zip_integrity(damaged, path);
    } catch (const Error&) {
      std::ofstream(path, std::ios::binary | std::ios::trunc) << damaged;
      return;
    }
  }
}

// Flips one random bit in a random tile's stored chunk of a shard's /images.
void flip_a_tile_bit(const std::string& path) {
  haddr_t address = 0;
  hsize_t size = 0;
  {
    const shards::Hdf5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "open");
    const shards::Hdf5Handle images(H5Dopen2(file.get(), "images", H5P_DEFAULT), path, "images");
    const shards::Hdf5Handle space(H5Dget_space(images.get()), path, "space");
    hsize_t chunks = 0;
    ASSERT_GE(H5Dget_num_chunks(images.get(), space.get(), &chunks), 0);
    std::vector<hsize_t> offset(4);
    unsigned filters = 0;
    const auto chunk = static_cast<hsize_t>(random_between(0, static_cast<int>(chunks) - 1));
    ASSERT_GE(H5Dget_chunk_info(images.get(), space.get(), chunk, offset.data(), &filters, &address,
                                &size),
              0);
  }
  const std::string bytes = test::file_bytes(path);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << flipped_bit(
      bytes, static_cast<std::size_t>(address), static_cast<std::size_t>(address + size));
}

void truncate_to_half(const std::string& path) {
  const std::string bytes = test::file_bytes(path);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
}

// Damages `path` with `flip_a_bit`, or by cutting it in half when there is none; says how.
std::string damage(const std::string& path, void (*flip_a_bit)(const std::string&)) {
  if (flip_a_bit) {
    flip_a_bit(path);
    return "a flipped bit in";
  }
  truncate_to_half(path);
  return "the loss of half of";
}

// A scene and its labels, shared by the cases of one suite.
struct Scene {
  std::string dir;
  std::string image, buildings, roads;
};

Scene scene_of(const std::string& suite, std::int64_t size) {
  static std::map<std::string, Scene> made;
  auto found = made.find(suite);
  if (found != made.end())
    return found->second;
  Scene scene;
  scene.dir = std::string(SATUNET_TEST_TMP) + "/" + suite + "-scene";
  fs::remove_all(scene.dir);
  const auto synthetic = test::synthetic_scene(scene.dir, size);
  scene.image = synthetic.scene_path;
  scene.buildings = synthetic.buildings_path;
  scene.roads = synthetic.roads_path;
  return made[suite] = scene;
}

std::vector<std::string> tile_args(const Scene& scene, const std::string& out) {
  return {"tile",
          "--out",
          out,
          "--image",
          scene.image,
          "--labels",
          "building=" + scene.buildings,
          "--labels",
          "road=" + scene.roads,
          "--width-field",
          "width_m",
          "--tile",
          "64",
          "--compress",
          "6",
          "--threads",
          "1",
          "--overwrite",
          "-q"};
}

std::string dataset_of(const std::string& suite, std::int64_t size) {
  const Scene scene = scene_of(suite, size);
  const std::string out = scene.dir + "/dataset";
  if (!fs::exists(out + "/manifest.json")) {
    auto args = tile_args(scene, out);
    args.insert(args.end(), {"--overlap", "0", "--val-fraction", "0.1", "--split-block", "2"});
    const auto tiled = test::run_satunet(args);
    EXPECT_EQ(tiled.exit_code, 0) << tiled.err;
  }
  return out;
}

std::vector<std::string> train_args(const std::string& data, const std::string& out,
                                    std::vector<std::string> extra) {
  std::vector<std::string> args = {"train",  "--data",    data,      "--out", out,
                                   "--base", "4",         "--depth", "2",     "--batch",
                                   "2",      "--threads", "1",       "-q"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// The run in `out` resumes from its last.pt and trains `more` steps.
void resumes(const std::string& data, const std::string& out, int ranks, std::int64_t more,
             Report& report) {
  const std::string last = out + "/checkpoints/last.pt";
  const std::int64_t saved = model::load_checkpoint(last).meta.step;
  const auto resumed = test::run_program(
      job(ranks, train_args(data, out, {"--resume", "--max-steps", std::to_string(saved + more)})));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(model::load_checkpoint(last).meta.step, saved + more);
  report.checked("resumed from step " + std::to_string(saved) + " to " +
                 std::to_string(saved + more));
}

// How a batch system asks a training job to stop: SIGTERM to a lone process; through mpirun,
// SIGUSR1, which mpirun passes on to every rank (SIGTERM it answers by ending the job itself).
struct StopSignal {
  int number;
  std::string name;
};
StopSignal stop_signal_for(int ranks) {
  return ranks == 1 ? StopSignal{SIGTERM, "SIGTERM"} : StopSignal{SIGUSR1, "SIGUSR1"};
}

std::int64_t steps_logged(const std::string& run) {
  return static_cast<std::int64_t>(test::read_run_csv(run + "/steps.csv").rows.size());
}

// ---- tile and predict: an output directory that one file, written last, makes complete ----

struct OutputJob {
  std::string name;      // "tile"
  std::string complete;  // the file written last, e.g. "manifest.json"
  std::function<std::vector<std::string>(const std::string& out)> args;
  std::pair<int, int> kill_window_ms;  // when a rank may be killed, after its first shard
  long disk_bytes;                     // a file system that fills before the job ends
};

void not_complete(const std::string& out, const OutputJob& stage, Report& report) {
  EXPECT_FALSE(fs::exists(out + "/" + stage.complete));
  report.checked("no " + stage.complete + ": the output does not look complete");
}

void a_rank_killed_at_a_random_point(const OutputJob& stage) {
  for (int ranks : {1, 2}) {
    const std::string out = test::fresh_directory("killed-" + std::to_string(ranks));
    const int after_ms = random_between(stage.kill_window_ms.first, stage.kill_window_ms.second);
    Report report(ranks, "SIGKILL into a rank " + std::to_string(after_ms) + " ms into " +
                             stage.name + " writing shards");
    test::Background running(job(ranks, stage.args(out)));
    ASSERT_TRUE(wait_until([&] { return fs::exists(out + "/shards"); }));
    std::this_thread::sleep_for(std::chrono::milliseconds(after_ms));
    if (!kill_a_rank(running, ranks, report))
      continue;
    not_complete(out, stage, report);
    const auto again = test::run_program(job(ranks, stage.args(out)));
    ASSERT_EQ(again.exit_code, 0) << again.err;
    nothing_partial(out, report);
    usable(out, report);
  }
}

void a_stop_signal_while_writing(const OutputJob& stage) {
  for (int ranks : {1, 2}) {
    const std::string out = test::fresh_directory("stopped-" + std::to_string(ranks));
    Report report(ranks, "SIGTERM to the " + stage.name + " job as its first shard is written");
    test::Background running(job(ranks, stage.args(out)));
    ASSERT_TRUE(wait_until([&] { return !partial_files(out).empty(); }));
    kill(running.pid(), SIGTERM);
    const auto result = ends_in_time(running, report);
    EXPECT_NE(result.exit_code, 0);
    says(result, "stopped by signal 15 (Terminated) before it finished", report);
    not_complete(out, stage, report);
    nothing_partial(out, report);
    ASSERT_EQ(test::run_program(job(ranks, stage.args(out))).exit_code, 0);
    usable(out, report);
  }
}

void the_output_file_system_full(const OutputJob& stage) {
  for (int ranks : {1, 2}) {
    const std::string dir = test::fresh_directory("full-" + std::to_string(ranks));
    Report report(ranks,
                  full_disk().describe(stage.disk_bytes) + " under " + stage.name + "'s --out");
    const auto result = full_disk().run(job(ranks, stage.args(dir + "/disk/out")), dir + "/disk",
                                        "", stage.disk_bytes, dir + "/after", report);
    EXPECT_EQ(result.exit_code, 1) << result.err;
    says(result, full_disk().tmpfs ? "No space left on device" : "File too large", report);
    not_complete(dir + "/after/out", stage, report);
    nothing_partial(dir + "/after", report);
  }
}

void two_jobs_on_one_output(const OutputJob& stage) {
  for (int ranks : {1, 2}) {
    const std::string out = test::fresh_directory("two-" + std::to_string(ranks));
    Report report(ranks, "a second " + stage.name + " job on the --out of a running one");
    test::Background first(job(ranks, stage.args(out)));
    ASSERT_TRUE(wait_until([&] { return fs::exists(out + "/shards"); }));
    const auto second = test::run_program(job(ranks, stage.args(out)));
    EXPECT_EQ(second.exit_code, 1);
    says(second, out + ": in use by another satunet", report);
    const auto result = ends_in_time(first, report);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    report.checked("the first job finished undisturbed");
    usable(out, report);
  }
}

// ---- tile ----

OutputJob tile_job() {
  const Scene scene = scene_of("FaultsTile", 4096);
  return {"tile",
          "manifest.json",
          [scene](const std::string& out) { return tile_args(scene, out); },
          {150, 900},
          1 << 20};
}

}  // namespace

TEST(FaultsTile, ARankKilledAtARandomPoint) {
  a_rank_killed_at_a_random_point(tile_job());
}
TEST(FaultsTile, AStopSignalWhileWriting) {
  a_stop_signal_while_writing(tile_job());
}
TEST(FaultsTile, TheOutputFileSystemFull) {
  the_output_file_system_full(tile_job());
}
TEST(FaultsTile, TwoJobsOnOneOutput) {
  two_jobs_on_one_output(tile_job());
}

// ---- train ----

TEST(FaultsTrain, ARankKilledAtARandomStep) {
  const std::string data = dataset_of("FaultsTrain", 512);
  for (int ranks : {1, 2}) {
    const std::string out = test::fresh_directory("killed-" + std::to_string(ranks));
    const int step = random_between(3, 12);
    Report report(ranks, "SIGKILL into a rank at step " + std::to_string(step));
    test::Background running(
        job(ranks, train_args(data, out, {"--max-steps", "100000", "--checkpoint-every", "2"})));
    ASSERT_TRUE(wait_until(
        [&] { return steps_logged(out) >= step && fs::exists(out + "/checkpoints/last.pt"); }));
    ASSERT_TRUE(kill_a_rank(running, ranks, report));
    usable(out + "/checkpoints/last.pt", report);
    // A kill while a checkpoint is written leaves its temporary: named so, never taken for a
    // checkpoint, and removed by the next run into the directory.
    resumes(data, out, ranks, 2, report);
    nothing_partial(out + "/checkpoints", report);
  }
}

TEST(FaultsTrain, AStopSignalWhileCheckpointsAreWritten) {
  const std::string data = dataset_of("FaultsTrain", 512);
  for (int ranks : {1, 2}) {
    const std::string out = test::fresh_directory("stopped-" + std::to_string(ranks));
    const int step = random_between(2, 10);
    const StopSignal stop = stop_signal_for(ranks);
    Report report(ranks, stop.name + " to the job at step " + std::to_string(step) +
                             ", a checkpoint written every step");
    test::Background running(
        job(ranks, train_args(data, out, {"--max-steps", "100000", "--checkpoint-every", "1"})));
    ASSERT_TRUE(wait_until([&] { return steps_logged(out) >= step; }));
    kill(running.pid(), stop.number);
    const auto result = ends_in_time(running, report);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NE(result.out.find("stopped by signal " + std::to_string(stop.number) + " at step"),
              std::string::npos)
        << result.out;
    report.checked("it says where it stopped, and exits 0 for a requeue");
    nothing_partial(out + "/checkpoints", report);
    usable(out + "/checkpoints/last.pt", report);
    resumes(data, out, ranks, 1, report);
  }
}

TEST(FaultsTrain, TheOutputFileSystemFullWhileCheckpointing) {
  const std::string data = dataset_of("FaultsTrain", 512);
  for (int ranks : {1, 2}) {
    const std::string dir = test::fresh_directory("full-" + std::to_string(ranks));
    // A finished run to continue, on a file system with room for little more than it.
    ASSERT_EQ(
        test::run_satunet(train_args(data, dir + "/seed/run", {"--max-steps", "2"})).exit_code, 0);
    const std::string before = test::file_bytes(dir + "/seed/run/checkpoints/last.pt");
    long used = 0;
    for (const auto& entry : fs::recursive_directory_iterator(dir + "/seed"))
      if (entry.is_regular_file())
        used += static_cast<long>((entry.file_size() + 4095) / 4096 * 4096);
    const long bytes = used + 64 * 1024;
    Report report(ranks, full_disk().describe(bytes) + " as a resumed run writes checkpoints");
    const auto result = full_disk().run(
        job(ranks, train_args(data, dir + "/disk/run",
                              {"--resume", "--max-steps", "6", "--checkpoint-every", "1"})),
        dir + "/disk", dir + "/seed", bytes, dir + "/after", report);
    EXPECT_EQ(result.exit_code, 1) << result.err;
    says(result, full_disk().tmpfs ? "No space left on device" : "File too large", report);
    EXPECT_EQ(result.err.find("terminate called"), std::string::npos) << result.err;
    EXPECT_EQ(test::file_bytes(dir + "/after/run/checkpoints/last.pt"), before);
    report.checked("the previous last.pt is intact, byte for byte");
    nothing_partial(dir + "/after", report);
    usable(dir + "/after/run/checkpoints/last.pt", report);
  }
}

TEST(FaultsTrain, AShardDamagedBetweenRuns) {
  const std::string data = dataset_of("FaultsTrain", 512);
  for (int ranks : {1, 2}) {
    for (const bool flipped : {true, false}) {
      const std::string dir = test::fresh_directory("shard-" + std::to_string(ranks));
      fs::copy(data, dir + "/data", fs::copy_options::recursive);
      const auto manifest = shards::Manifest::load(dir + "/data");
      std::string shard;
      for (const auto& entry : manifest.shards)
        if (entry.split == "train" && shard.empty())
          shard = dir + "/data/" + entry.path;
      Report report(ranks,
                    damage(shard, flipped ? flip_a_tile_bit : nullptr) + " a shard of the dataset");
      test::Background running(
          job(ranks, train_args(dir + "/data", dir + "/run", {"--epochs", "1"})));
      const auto result = ends_in_time(running, report);
      EXPECT_EQ(result.exit_code, 1) << result.err;
      says(result, shard + ": ", report);
      nothing_partial(dir + "/run", report);
    }
  }
}

TEST(FaultsTrain, ACheckpointDamagedBetweenRuns) {
  const std::string data = dataset_of("FaultsTrain", 512);
  for (int ranks : {1, 2}) {
    const std::string dir = test::fresh_directory("checkpoint-" + std::to_string(ranks));
    ASSERT_EQ(test::run_satunet(train_args(data, dir + "/run", {"--max-steps", "2"})).exit_code, 0);
    const std::string last = dir + "/run/checkpoints/last.pt";
    const std::string intact = test::file_bytes(last);
    for (const bool flipped : {true, false}) {
      Report report(ranks, damage(last, flipped ? flip_a_checkpoint_bit : nullptr) +
                               " last.pt before a resume");
      test::Background running(
          job(ranks, train_args(data, dir + "/run", {"--resume", "--max-steps", "4"})));
      const auto result = ends_in_time(running, report);
      EXPECT_EQ(result.exit_code, 1) << result.err;
      says(result, last + ": ", report);
      says(result, flipped ? "damaged archive: " : "not a zip archive, or a truncated one", report);
      std::ofstream(last, std::ios::binary | std::ios::trunc) << intact;
    }
  }
}

TEST(FaultsTrain, TwoJobsOnOneOutput) {
  const std::string data = dataset_of("FaultsTrain", 512);
  for (int ranks : {1, 2}) {
    const std::string out = test::fresh_directory("two-" + std::to_string(ranks));
    Report report(ranks, "a second train job on the --out of a running one");
    test::Background first(job(ranks, train_args(data, out, {"--max-steps", "100000"})));
    ASSERT_TRUE(wait_until([&] { return steps_logged(out) >= 1; }));
    const auto second =
        test::run_program(job(ranks, train_args(data, out, {"--max-steps", "2", "--overwrite"})));
    EXPECT_EQ(second.exit_code, 1);
    says(second, out + ": in use by another satunet", report);
    kill(first.pid(), stop_signal_for(ranks).number);
    const auto result = ends_in_time(first, report);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    report.checked("the first job ran on undisturbed and stopped as asked");
    usable(out + "/checkpoints/last.pt", report);
  }
}

// ---- predict ----

namespace {

std::string checkpoint_for(const std::string& suite) {
  const std::string checkpoint = scene_of(suite, 4096).dir + "/model.pt";
  if (!fs::exists(checkpoint))
    test::make_checkpoint(checkpoint, 3);
  return checkpoint;
}

std::vector<std::string> predict_args(const std::string& suite, const std::string& out,
                                      const std::string& checkpoint = "") {
  return {"predict",
          "--checkpoint",
          checkpoint.empty() ? checkpoint_for(suite) : checkpoint,
          "--image",
          scene_of(suite, 4096).image,
          "--out",
          out,
          "--batch",
          "4",
          "--threads",
          "1",
          "--compress",
          "6",
          "--overwrite",
          "-q"};
}

}  // namespace

OutputJob predict_job() {
  return {"predict",
          "prediction.json",
          [](const std::string& out) { return predict_args("FaultsPredict", out); },
          {300, 1500},
          512 * 1024};
}

TEST(FaultsPredict, ARankKilledAtARandomPoint) {
  a_rank_killed_at_a_random_point(predict_job());
}
TEST(FaultsPredict, AStopSignalWhileWriting) {
  a_stop_signal_while_writing(predict_job());
}
TEST(FaultsPredict, TheOutputFileSystemFull) {
  the_output_file_system_full(predict_job());
}
TEST(FaultsPredict, TwoJobsOnOneOutput) {
  two_jobs_on_one_output(predict_job());
}

// The class map fills its file system while it is blended: straight from the pipeline
// (`bench predict --stitch-to`, the identity model; one rank) and from shards (`stitch`). Its
// strips are written on a thread of their own: the failure must still end the job with the
// cause, and leave neither a mask nor a temporary.
TEST(FaultsPredict, TheFileSystemFullUnderTheClassMap) {
  const std::string dir = test::fresh_directory("full-mask");
  const std::string scene = scene_of("FaultsPredict", 4096).image;
  ASSERT_EQ(test::run_satunet({"bench", "predict", "--image", scene, "--out", dir + "/shards",
                               "--tile", "256", "--overlap", "64", "-q"})
                .exit_code,
            0);
  const std::vector<std::vector<std::string>> jobs = {
      {"bench", "predict", "--image", scene, "--tile", "256", "--overlap", "64", "--stitch-to",
       dir + "/disk/mask.tif", "--threads", "1", "-q"},
      {"stitch", "--pred", dir + "/shards", "--out", dir + "/disk/mask.tif", "-q"}};
  for (const std::vector<std::string>& args : jobs) {
    const long bytes = 128 * 1024;  // the map takes several times that
    Report report(1, full_disk().describe(bytes) + " under " + args[0] + "'s class map");
    fs::remove_all(dir + "/disk");
    fs::remove_all(dir + "/after");
    const auto result =
        full_disk().run(job(1, args), dir + "/disk", "", bytes, dir + "/after", report);
    EXPECT_EQ(result.exit_code, 1) << result.err;
    says(result, dir + "/disk/mask.tif: ", report);
    says(result, full_disk().tmpfs ? "No space left on device" : "File too large", report);
    EXPECT_FALSE(fs::exists(dir + "/after/mask.tif"));
    report.checked("no mask.tif");
    nothing_partial(dir + "/after", report);
  }
}

TEST(FaultsPredict, ACheckpointDamagedBetweenRuns) {
  for (int ranks : {1, 2}) {
    const std::string dir = test::fresh_directory("checkpoint-" + std::to_string(ranks));
    const std::string checkpoint = dir + "/model.pt";
    fs::copy_file(checkpoint_for("FaultsPredict"), checkpoint);
    flip_a_checkpoint_bit(checkpoint);
    Report report(ranks, "a flipped bit in the checkpoint");
    test::Background running(job(ranks, predict_args("FaultsPredict", dir + "/pred", checkpoint)));
    const auto result = ends_in_time(running, report);
    EXPECT_EQ(result.exit_code, 1) << result.err;
    says(result, checkpoint + ": damaged archive: ", report);
    EXPECT_FALSE(fs::exists(dir + "/pred/prediction.json"));
    report.checked("no prediction.json");
  }
}

}  // namespace satunet::faults
