#include "test_support.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <unistd.h>
#include <csignal>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <thread>

#include <gdal_priv.h>
#include <torch/torch.h>

#include "comm/mpi_communicator.hpp"
#include "common/error.hpp"
#include "common/labels.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"
#include "geo/window_grid.hpp"
#include "model/checkpoint.hpp"
#include "shards/prediction.hpp"
#include "tiling/tiler.hpp"

namespace satunet::test {
namespace fs = std::filesystem;

void leave_mpi_job() {
  for (const char* name :
       {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "PMI_RANK",
        "PMIX_RANK", "PMIX_NAMESPACE", "PMIX_SERVER_URI2", "PMIX_SERVER_URI3",
        "OMPI_MCA_orte_hnp_uri", "OMPI_MCA_ess"})
    unsetenv(name);
}

Background::Background(const std::vector<std::string>& argv, long max_file_bytes) {
  static int started = 0;
  const fs::path dir = fresh_directory("process-" + std::to_string(started++));
  out_path_ = (dir / "stdout").string();
  err_path_ = (dir / "stderr").string();
  // Whatever the test has buffered must not be written again by the child.
  std::cout.flush();
  std::fflush(nullptr);
  pid_ = fork();
  if (pid_ != 0)
    return;
  std::vector<char*> args;
  for (const std::string& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  if (!freopen(out_path_.c_str(), "w", stdout) || !freopen(err_path_.c_str(), "w", stderr))
    _exit(126);
  leave_mpi_job();
  // A group of its own, so that the tests can signal a job (mpirun and its ranks) as a whole.
  setpgid(0, 0);
  if (max_file_bytes > 0) {
    const rlimit limit{static_cast<rlim_t>(max_file_bytes), static_cast<rlim_t>(max_file_bytes)};
    setrlimit(RLIMIT_FSIZE, &limit);
    signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG
    // MPI's own shared-memory store would meet the limit first: a hash table instead.
    setenv("PMIX_MCA_gds", "hash", 1);
  }
  execvp(args[0], args.data());
  _exit(127);
}

Background::~Background() {
  if (pid_ > 0) {
    kill(-pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

CommandResult Background::wait() {
  return *wait_for(std::chrono::hours(24 * 365));  // as long as it takes
}

std::optional<CommandResult> Background::wait_for(std::chrono::milliseconds limit) {
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  rusage usage{};
  while (wait4(pid_, &status, WNOHANG, &usage) == 0) {
    if (std::chrono::steady_clock::now() - start >= limit)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.peak_rss_mb = usage.ru_maxrss / 1024;
  result.out = file_bytes(out_path_);
  result.err = file_bytes(err_path_);
  return result;
}

void expect_failure(const CommandResult& result, int code, const std::string& text) {
  EXPECT_EQ(result.exit_code, code) << result.err;
  EXPECT_NE(result.err.find(text), std::string::npos) << "'" << text << "' not in: " << result.err;
}

CommandResult run_program(const std::vector<std::string>& argv, long max_file_bytes) {
  return Background(argv, max_file_bytes).wait();
}

CommandResult run_satunet(const std::vector<std::string>& args, long max_file_bytes) {
  std::vector<std::string> argv = {SATUNET_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv, max_file_bytes);
}

CommandResult run_satunet_ranks(int ranks, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"mpirun",    "-n",   std::to_string(ranks), "--oversubscribe",
                                   "--bind-to", "none", SATUNET_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_program(argv);
}

std::string fresh_directory(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "none";
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  const fs::path dir =
      fs::path(SATUNET_TEST_TMP) / test / (name + (rank ? std::string("-r") + rank : ""));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string real_data(const std::string& relative) {
  return (fs::path(SATUNET_SOURCE_DIR) / "tests/data/real" / relative).string();
}

template <typename T>
std::vector<T> read_band(const std::string& path, int band, GDALDataType type) {
  const geo::Raster raster = geo::Raster::open(path);
  const auto& info = raster.info();
  std::vector<T> values(static_cast<std::size_t>(info.width * info.height));
  raster.read({0, 0, info.width, info.height}, {band}, type, values.data());
  return values;
}

std::vector<std::uint8_t> read_band_u8(const std::string& path, int band) {
  return read_band<std::uint8_t>(path, band, GDT_Byte);
}

std::vector<double> read_band_f64(const std::string& path, int band) {
  return read_band<double>(path, band, GDT_Float64);
}

std::string file_bytes(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

void expect_error(const std::function<void()>& action, const std::vector<std::string>& phrases) {
  try {
    action();
    ADD_FAILURE() << "no error; expected one saying '" << phrases.front() << "'";
  } catch (const Error& error) {
    for (const std::string& phrase : phrases)
      EXPECT_NE(std::string(error.what()).find(phrase), std::string::npos)
          << "'" << error.what() << "' does not say '" << phrase << "'";
  }
}

void expect_error(const std::function<void()>& action, const std::string& says) {
  expect_error(action, std::vector<std::string>{says});
}

std::vector<double> RunCsv::numbers(const std::string& column) const {
  std::vector<double> values;
  for (const auto& row : rows) {
    const auto cell = row.find(column);
    values.push_back(cell == row.end() || cell->second.empty()
                         ? std::numeric_limits<double>::quiet_NaN()
                         : std::stod(cell->second));
  }
  return values;
}

RunCsv read_run_csv(const std::string& path) {
  std::ifstream file(path);
  RunCsv csv;
  std::string line;
  if (!std::getline(file, line))
    return csv;
  std::istringstream names(line);
  for (std::string name; std::getline(names, name, ',');)
    csv.columns.push_back(name);
  // Not a last line without its newline: a row still being written.
  while (std::getline(file, line) && !file.eof()) {
    std::istringstream cells(line);
    std::map<std::string, std::string> row;
    std::string cell;
    for (const std::string& name : csv.columns)
      if (std::getline(cells, cell, ','))
        row[name] = cell;
    csv.rows.push_back(std::move(row));
  }
  return csv;
}

std::map<std::string, torch::Tensor> checkpoint_tensors(const std::string& path) {
  auto loaded = model::load_checkpoint(path);
  std::map<std::string, torch::Tensor> tensors;
  for (const auto& item : loaded.model->named_parameters())
    tensors["model." + item.key()] = item.value();
  for (const auto& item : loaded.model->named_buffers())
    tensors["model." + item.key()] = item.value();
  torch::serialize::InputArchive optimizer, rng, statistics;
  loaded.archive.read("optimizer", optimizer);
  const auto parameters = loaded.model->parameters();
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const std::string prefix = "p" + std::to_string(i) + "_";
    for (const char* part : {"exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer"}) {
      torch::Tensor value;
      if (optimizer.try_read(prefix + part, value))
        tensors["optimizer." + prefix + part] = value;
    }
    c10::IValue step;
    if (optimizer.try_read(prefix + "step", step))
      tensors["optimizer." + prefix + "step"] = torch::tensor(step.toInt());
  }
  loaded.archive.read("rng", rng);
  rng.read("cpu", tensors["rng.cpu"]);
  loaded.archive.read("statistics", statistics);
  statistics.read("of_ranks", tensors["statistics.of_ranks"]);
  torch::serialize::InputArchive average, live;
  if (loaded.archive.try_read("ema", average)) {
    average.read("live", live);
    for (const auto& item : loaded.model->named_parameters())
      live.read(item.key(), tensors["ema.live." + item.key()]);
    average.read("updates", tensors["ema.updates"]);
  }
  return tensors;
}

synth::SynthResult synthetic_scene(const std::string& dir, std::int64_t size, std::uint64_t seed,
                                   int bands, synth::SampleType dtype) {
  synth::SynthOptions options;
  options.out_dir = dir;
  options.size = size;
  options.seed = seed;
  options.bands = bands;
  options.dtype = dtype;
  return synth::synthesize(options);
}

std::map<TileKey, StoredTile> read_tiles(const std::string& dataset_dir) {
  const shards::Manifest manifest = shards::Manifest::load(dataset_dir);
  std::map<TileKey, StoredTile> tiles;
  for (const shards::ShardEntry& entry : manifest.shards) {
    const shards::ShardReader reader(dataset_dir + "/" + entry.path);
    const auto& header = reader.header();
    const std::size_t plane = static_cast<std::size_t>(header.tile_size * header.tile_size);
    std::vector<float> image(plane * header.bands);
    for (std::int64_t i = 0; i < reader.tiles(); ++i) {
      StoredTile tile;
      tile.split = header.split;
      tile.window = reader.window(i);
      reader.read_image_as_float(i, image.data());
      tile.image.assign(image.begin(), image.end());
      tile.labels.resize(plane);
      reader.read_labels(i, tile.labels.data());
      tiles[{reader.scene(i), tile.window.x_off, tile.window.y_off}] = std::move(tile);
    }
  }
  return tiles;
}

std::string make_synthetic_dataset(const std::string& dir, std::int64_t size, double val_fraction,
                                   int split_block) {
  const synth::SynthResult scene = synthetic_scene(dir + "/scene", size, 3);
  tiling::TileOptions tiles;
  tiles.images = {scene.scene_path};
  tiles.labels = {{"building", scene.buildings_path}, {"road", scene.roads_path}};
  tiles.line_widths.width_field = "width_m";
  tiles.tile = 64;
  tiles.overlap = 0;
  tiles.val_fraction = val_fraction;
  tiles.split_block = split_block;
  tiles.out_dir = dir + "/dataset";
  comm::MpiCommunicator self(comm::MpiScope::self);
  tiling::tile_dataset(tiles, self);
  return tiles.out_dir;
}

const std::vector<std::string> kClasses = {"background", "building", "road"};

std::string make_checkpoint(const std::string& path, int bands, Head head) {
  torch::manual_seed(7);
  const auto options = model::UNetOptions().in_channels(bands).classes(3).base(4).depth(2);
  model::UNet net(options);
  {
    torch::NoGradGuard no_grad;
    auto parameters = net->named_parameters();
    if (head == Head::varied) {
      parameters["head.weight"].mul_(20.0);
      parameters["head.bias"].zero_();
    } else if (head == Head::building) {
      parameters["head.weight"].zero_();
      parameters["head.bias"].zero_();
      parameters["head.bias"][1].fill_(2.0);
    } else if (head == Head::diverged) {
      parameters["head.bias"][0].fill_(std::numeric_limits<float>::quiet_NaN());
    }
  }
  model::CheckpointMeta meta;
  meta.model = options;
  meta.classes = kClasses;
  const char* names[] = {"red", "green", "blue", "nir"};
  for (int band = 0; band < bands; ++band)
    meta.bands.push_back({names[band % 4], 90.0 + band, 40.0, ""});
  meta.tile_size = 64;
  meta.created_by = "satunet test";
  model::save_checkpoint(path, net, meta);
  return path;
}

predict::PredictOptions predict_options(const std::string& checkpoint, const std::string& image,
                                        const std::string& out) {
  predict::PredictOptions options;
  options.checkpoint = checkpoint;
  options.image = image;
  options.out = out;
  options.batch = 4;
  options.threads = 1;
  options.overwrite = true;
  return options;
}

stitch::StitchResult stitch_to(const std::string& prediction, const std::string& mask,
                               const std::string& probabilities) {
  stitch::StitchOptions options;
  options.prediction = prediction;
  options.out = mask;
  options.outputs.probabilities = probabilities;
  options.overwrite = true;
  return stitch::stitch(options);
}

void predict_alone(const predict::PredictOptions& options, const std::string& mask,
                   const std::string& probabilities) {
  comm::MpiCommunicator self(comm::MpiScope::self);
  predict::predict(options, self);
  stitch_to(options.out, mask, probabilities);
}

void expect_same_grid(const std::string& mask_path, const std::string& scene_path) {
  const geo::Raster mask = geo::Raster::open(mask_path);
  const geo::Raster scene = geo::Raster::open(scene_path);
  const geo::RasterInfo& out = mask.info();
  const geo::RasterInfo& in = scene.info();
  EXPECT_EQ(out.width, in.width) << mask_path;
  EXPECT_EQ(out.height, in.height) << mask_path;
  EXPECT_EQ(out.transform, in.transform)
      << out.transform.to_string() << " vs " << in.transform.to_string();
  EXPECT_TRUE(out.srs().same_as(in.srs())) << out.srs().label() << " vs " << in.srs().label();
  ASSERT_EQ(out.bands.size(), 1u);
  EXPECT_EQ(out.bands[0].type, GDT_Byte);
  EXPECT_EQ(out.bands[0].nodata, std::optional<double>(255.0));
  EXPECT_EQ(out.bands[0].categories, kClasses);
}

std::vector<std::uint8_t> scene_validity(const std::string& scene_path) {
  const geo::Raster scene = geo::Raster::open(scene_path);
  const geo::RasterInfo& info = scene.info();
  const auto pixels = static_cast<std::size_t>(info.width * info.height);
  std::vector<std::uint8_t> valid(pixels, 0);
  std::vector<std::vector<double>> bands;
  int alpha = 0;
  for (const geo::BandInfo& band : info.bands) {
    if (band.colour == "Alpha")
      alpha = band.index;
    else
      bands.push_back(read_band_f64(scene_path, band.index));
  }
  const auto alpha_values = alpha ? read_band_f64(scene_path, alpha) : std::vector<double>();
  for (std::size_t i = 0; i < pixels; ++i) {
    if (alpha) {
      valid[i] = alpha_values[i] > 0;
      continue;
    }
    bool all_nodata = true;
    for (std::size_t b = 0; b < bands.size(); ++b) {
      const auto nodata = info.bands[b].nodata;
      all_nodata = all_nodata && nodata && bands[b][i] == *nodata;
    }
    valid[i] = !all_nodata;
  }
  return valid;
}

std::string ungeoreferenced_copy(const std::string& source, const std::string& target) {
  geo::init_gdal();
  GDALDatasetUniquePtr in(GDALDataset::Open(source.c_str(), GDAL_OF_RASTER));
  const int width = in->GetRasterXSize(), height = in->GetRasterYSize();
  GDALDatasetUniquePtr out(GetGDALDriverManager()->GetDriverByName("GTiff")->Create(
      target.c_str(), width, height, in->GetRasterCount(), GDT_Byte, nullptr));
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(width * height));
  for (int band = 1; band <= in->GetRasterCount(); ++band) {
    EXPECT_EQ(in->GetRasterBand(band)->RasterIO(GF_Read, 0, 0, width, height, pixels.data(), width,
                                                height, GDT_Byte, 0, 0),
              CE_None);
    EXPECT_EQ(out->GetRasterBand(band)->RasterIO(GF_Write, 0, 0, width, height, pixels.data(),
                                                 width, height, GDT_Byte, 0, 0),
              CE_None);
  }
  return target;
}

std::string write_class_map(const std::string& path, int width, int height,
                            const std::vector<std::uint8_t>& pixels, const std::string& like) {
  geo::init_gdal();
  GDALDatasetUniquePtr out(GetGDALDriverManager()->GetDriverByName("GTiff")->Create(
      path.c_str(), width, height, 1, GDT_Byte, nullptr));
  if (like.empty()) {
    double transform[6] = {500000, 1, 0, 6000000, 0, -1};
    out->SetGeoTransform(transform);
    OGRSpatialReference utm;
    utm.importFromEPSG(32633);
    out->SetSpatialRef(&utm);
  } else {
    GDALDatasetUniquePtr in(GDALDataset::Open(like.c_str(), GDAL_OF_RASTER));
    double transform[6];
    in->GetGeoTransform(transform);
    out->SetGeoTransform(transform);
    out->SetSpatialRef(in->GetSpatialRef());
  }
  GDALRasterBand* band = out->GetRasterBand(1);
  band->SetNoDataValue(255);
  CPLStringList names;
  for (const char* name : {"background", "building", "road"})
    names.AddString(name);
  band->SetCategoryNames(names.List());
  EXPECT_EQ(band->RasterIO(GF_Write, 0, 0, width, height, const_cast<std::uint8_t*>(pixels.data()),
                           width, height, GDT_Byte, 0, 0),
            CE_None);
  return path;
}

void write_prediction_from_truth(const std::string& truth_path,
                                 const std::vector<std::string>& classes, const std::string& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir + "/shards");
  const geo::Raster truth = geo::Raster::open(truth_path);
  const geo::RasterInfo& info = truth.info();
  const int tile = 64;
  const geo::WindowGrid grid(info.width, info.height, tile, 16);
  shards::PredictionHeader header;
  header.tile_size = tile;
  header.overlap = 16;
  header.windows_total = grid.count();
  header.blend = shards::Blend::gaussian;
  header.class_names = classes;
  header.scene = truth_path;
  header.scene_width = info.width;
  header.scene_height = info.height;
  header.crs_wkt = info.crs_wkt;
  header.geotransform = info.transform.coefficients();
  shards::PredictionWriter writer(dir + "/shards/truth.h5", header,
                                  shards::Compression::deflate(1));
  const auto plane = static_cast<std::size_t>(tile * tile);
  std::vector<std::uint8_t> labels, probabilities(classes.size() * plane), valid(plane);
  for (std::int64_t index = 0; index < grid.count(); ++index) {
    const geo::Window window = grid.inside(index);
    labels.resize(static_cast<std::size_t>(window.width * window.height));
    truth.read(window, {1}, GDT_Byte, labels.data());
    std::fill(probabilities.begin(), probabilities.end(), 0);
    std::fill(valid.begin(), valid.end(), 0);
    for (std::int64_t y = 0; y < window.height; ++y)
      for (std::int64_t x = 0; x < window.width; ++x) {
        const std::uint8_t label = labels[static_cast<std::size_t>(y * window.width + x)];
        const auto at = static_cast<std::size_t>(y * tile + x);
        if (label == kIgnoreLabel)
          continue;
        valid[at] = 1;
        probabilities[label * plane + at] = 255;
      }
    writer.append(index, {window.x_off, window.y_off, window.width, window.height},
                  probabilities.data(), valid.data());
  }
  writer.commit();
  shards::PredictionIndex index;
  static_cast<shards::PredictionMeta&>(index) = header;
  index.crs = info.srs().label();
  index.shards = {{"shards/truth.h5", grid.count()}};
  index.save(dir);
}

std::size_t count_equal(const std::vector<std::uint8_t>& values, std::uint8_t value) {
  return static_cast<std::size_t>(std::count(values.begin(), values.end(), value));
}

}  // namespace satunet::test
