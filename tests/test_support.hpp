#pragma once
// What the tests share: running the binary, scratch directories, the real samples, generated
// scenes and datasets, tiny checkpoints, and predicting and stitching in-process.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "predict/predictor.hpp"
#include "shards/manifest.hpp"
#include "shards/shard.hpp"
#include "stitch/stitcher.hpp"
#include "synth/synth.hpp"

namespace at {
class Tensor;  // torch::Tensor, for the tests that include LibTorch
}

namespace satunet::test {

// ---- processes and files ----

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  long peak_rss_mb = 0;  // of the program itself (not of processes it started)
};

// The command ended with exit code `code` and said `text` on stderr.
void expect_failure(const CommandResult& result, int code, const std::string& text);

// A program (argv[0], looked up on the PATH; no shell) started in the background in a process
// group of its own, both streams captured. A positive `max_file_bytes` limits the size of
// every file it writes (RLIMIT_FSIZE), to provoke write failures.
class Background {
 public:
  explicit Background(const std::vector<std::string>& argv, long max_file_bytes = 0);
  ~Background();  // kills the whole group if it still runs
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;
  pid_t pid() const { return pid_; }
  CommandResult wait();
  // The result if it ends within `limit`; else nothing, and it runs on.
  std::optional<CommandResult> wait_for(std::chrono::milliseconds limit);

 private:
  pid_t pid_ = -1;
  std::string out_path_;
  std::string err_path_;
};

// The same, waited for.
CommandResult run_program(const std::vector<std::string>& argv, long max_file_bytes = 0);
// The satunet binary with `args`; the same under mpirun on `ranks` ranks.
CommandResult run_satunet(const std::vector<std::string>& args, long max_file_bytes = 0);
CommandResult run_satunet_ranks(int ranks, const std::vector<std::string>& args);

// In a forked child: forget the test's MPI job, so that what it starts (satunet, or mpirun) is a
// job of its own rather than a stray rank of the test's.
void leave_mpi_job();

// A fresh empty directory for the current test, under the build tree.
std::string fresh_directory(const std::string& name);

// A file of the real labelled samples shipped with the tests (tests/data/real).
std::string real_data(const std::string& relative);

// All pixels of one band, converted to T.
std::vector<std::uint8_t> read_band_u8(const std::string& path, int band = 1);
std::vector<double> read_band_f64(const std::string& path, int band = 1);

std::string file_bytes(const std::string& path);

// `action` throws an Error whose message holds `says`, or every one of `phrases`.
void expect_error(const std::function<void()>& action, const std::vector<std::string>& phrases);
void expect_error(const std::function<void()>& action, const std::string& says);

// ---- generated scenes and datasets ----

// `satunet synth` into `dir`: a size x size scene with its truth and vector labels.
synth::SynthResult synthetic_scene(const std::string& dir, std::int64_t size,
                                   std::uint64_t seed = 1, int bands = 3,
                                   synth::SampleType dtype = synth::SampleType::uint8);

struct StoredTile {
  std::string split;
  std::vector<double> image;  // [band][T][T]
  std::vector<std::uint8_t> labels;
  shards::TileWindow window;
};
using TileKey = std::tuple<int, std::int64_t, std::int64_t>;  // scene, x_off, y_off

// Reading a whole dataset back, for tests that compare it with its sources.
std::map<TileKey, StoredTile> read_tiles(const std::string& dataset_dir);

// A generated scene (seed 3) in DIR/scene, cut into 64 px tiles without overlap, buildings
// and roads from its GeoJSON, in DIR/dataset; returns DIR/dataset. One rank makes it.
std::string make_synthetic_dataset(const std::string& dir, std::int64_t size, double val_fraction,
                                   int split_block);

// ---- training runs ----

// A log of a training run (RUN/metrics.csv, RUN/steps.csv) as written: the header's columns,
// and each row's cells by column name (not a row still being written). A missing file reads
// as no columns and no rows.
struct RunCsv {
  std::vector<std::string> columns;
  std::vector<std::map<std::string, std::string>> rows;
  // The cells of `column` as numbers, row by row: NaN where a cell is empty or missing.
  std::vector<double> numbers(const std::string& column) const;
};
RunCsv read_run_csv(const std::string& path);

// Every tensor a checkpoint of `satunet train` holds, by name: the model's weights and
// buffers ("model.NAME"), the optimizer's state ("optimizer.pI_PART"), the generator's
// ("rng.cpu") and the ranks' own running statistics ("statistics.of_ranks").
std::map<std::string, at::Tensor> checkpoint_tensors(const std::string& path);

// ---- models, prediction and stitching ----

extern const std::vector<std::string> kClasses;  // background, building, road

// How the tiny test model's last layer is set.
enum class Head {
  random,    // as initialised: smooth, mostly one class
  varied,    // random weights scaled up: every class somewhere, in ragged shapes
  building,  // ignores its input: building scores highest everywhere (softmax 0.79 vs 0.11)
  diverged,  // a NaN weight, as a run that diverged would have left
};

// A tiny U-Net checkpoint (base 4, depth 2, 64 px tiles) for `bands` input bands.
std::string make_checkpoint(const std::string& path, int bands, Head head = Head::random);

// Options for a small prediction on one thread, replacing what is there.
predict::PredictOptions predict_options(const std::string& checkpoint, const std::string& image,
                                        const std::string& out);
stitch::StitchResult stitch_to(const std::string& prediction, const std::string& mask,
                               const std::string& probabilities = "");
// Predicts on this rank alone and stitches.
void predict_alone(const predict::PredictOptions& options, const std::string& mask,
                   const std::string& probabilities = "");

// The mask's size, geotransform, CRS, type, nodata and classes are the scene's.
void expect_same_grid(const std::string& mask_path, const std::string& scene_path);
// 1 where the scene has data, by its own rules: alpha > 0, else not every band at nodata.
std::vector<std::uint8_t> scene_validity(const std::string& scene_path);
// The pixels of `source` (uint8) in a GeoTIFF without geotransform or CRS.
std::string ungeoreferenced_copy(const std::string& source, const std::string& target);
// A class map (categories background, building, road; nodata 255) of `pixels`: on the grid of
// `like`, or in UTM 33N with 1 m pixels where `like` is empty.
std::string write_class_map(const std::string& path, int width, int height,
                            const std::vector<std::uint8_t>& pixels, const std::string& like = "");
// What a perfect model would predict for `truth` (a class raster): one-hot probabilities in
// windows of 64 px overlapping by 16, nodata where the truth has none, written as predict would.
void write_prediction_from_truth(const std::string& truth_path,
                                 const std::vector<std::string>& classes, const std::string& dir);

std::size_t count_equal(const std::vector<std::uint8_t>& values, std::uint8_t value);

}  // namespace satunet::test
