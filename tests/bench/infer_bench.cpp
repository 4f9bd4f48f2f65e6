// The bare model forward that `satunet predict` is compared with: the same windows of the same
// scene, read and normalised into memory first, then only forward + softmax is timed.
//   satunet_bench_infer checkpoint OUT.pt BASE DEPTH TILE    a random-weight checkpoint
//   satunet_bench_infer [--jsonl FILE] forward CHECKPOINT SCENE TILE OVERLAP BATCH THREADS
//       [cpu|cuda [fp32|bf16]]
// `forward` prints: windows, seconds of forward passes, scene megapixels per second; with
// --jsonl FILE it also appends them as the records "forward.seconds" (s) and "forward.rate"
// (scene Mpx/s) (common/bench_record.hpp). On CUDA the timed loop includes the copies to and
// from the device, as predict has them.
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/bench_record.hpp"
#include "common/timer.hpp"
#include "geo/raster.hpp"
#include "geo/window_grid.hpp"
#include "model/checkpoint.hpp"
#include "model/torch_compat.hpp"

namespace {

using namespace satunet;

int make_checkpoint(const std::string& path, int base, int depth, int tile) {
  torch::manual_seed(1);
  const auto options = model::UNetOptions().in_channels(3).classes(3).base(base).depth(depth);
  model::UNet net(options);
  model::CheckpointMeta meta;
  meta.model = options;
  meta.classes = {"background", "building", "road"};
  meta.bands = {{"red", 90, 40}, {"green", 90, 40}, {"blue", 90, 40}};
  meta.tile_size = tile;
  meta.created_by = "satunet_bench_infer";
  model::save_checkpoint(path, net, meta);
  return 0;
}

int time_forward(const std::string& checkpoint, const std::string& scene_path, int tile,
                 int overlap, int batch, int threads, const std::string& device_name,
                 const std::string& precision, const bench::RecordFile& records) {
  model::set_threads(threads);
  model::LoadedCheckpoint loaded = model::load_checkpoint(checkpoint);
  const torch::Device device = device_name == "cuda" ? torch::kCUDA : torch::kCPU;
  loaded.model->to(device);
  loaded.model->eval();
  const geo::Raster scene = geo::Raster::open(scene_path);
  const geo::RasterInfo& info = scene.info();
  const geo::WindowGrid grid(info.width, info.height, tile, overlap);
  const auto plane = static_cast<std::size_t>(tile) * static_cast<std::size_t>(tile);
  const std::size_t window_values = 3 * plane;
  // Batches padded to full size, as predict runs them.
  const std::int64_t batches = (grid.count() + batch - 1) / batch;
  std::vector<float> images(static_cast<std::size_t>(batches * batch) * window_values, 0.0f);
  std::vector<float> pixels;
  for (std::int64_t index = 0; index < grid.count(); ++index) {
    const geo::Window window = grid.inside(index);
    pixels.resize(3 * static_cast<std::size_t>(window.width * window.height));
    scene.read(window, {1, 2, 3}, GDT_Float32, pixels.data());
    float* image = images.data() + static_cast<std::size_t>(index) * window_values;
    for (std::size_t band = 0; band < 3; ++band)
      for (std::int64_t y = 0; y < window.height; ++y)
        for (std::int64_t x = 0; x < window.width; ++x)
          image[band * plane + static_cast<std::size_t>(y * tile + x)] =
              (pixels[band * static_cast<std::size_t>(window.width * window.height) +
                      static_cast<std::size_t>(y * window.width + x)] -
               90.0f) /
              40.0f;
  }
  torch::InferenceMode inference;
  const model::compat::CudaBf16Autocast autocast(device.is_cuda() && precision == "bf16");
  Stopwatch clock;
  for (std::int64_t b = 0; b < batches; ++b) {
    const torch::Tensor input =
        torch::from_blob(images.data() + static_cast<std::size_t>(b * batch) * window_values,
                         {batch, 3, tile, tile})
            .to(device);
    const torch::Tensor probabilities =
        torch::softmax(loaded.model->forward(input).to(torch::kFloat32), 1).cpu();
    (void)probabilities.data_ptr();
  }
  const double seconds = clock.seconds();
  const double megapixels = static_cast<double>(info.width * info.height) / 1e6;
  std::printf("%lld %.3f %.3f\n", static_cast<long long>(grid.count()), seconds,
              megapixels / seconds);
  const nlohmann::json configuration = {
      {"checkpoint", checkpoint}, {"image", scene_path}, {"windows", grid.count()},
      {"megapixels", megapixels}, {"tile", tile},        {"overlap", overlap},
      {"batch", batch},           {"threads", threads},  {"device", device_name},
      {"precision", precision}};
  records.write("infer", "forward.seconds", seconds, "s", configuration);
  records.write("infer", "forward.rate", megapixels / seconds, "Mpx/s", configuration);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  bench::RecordFile records;
  try {
    records = bench::RecordFile(bench::take_jsonl_option(args));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "satunet_bench_infer: %s\n", error.what());
    return 2;
  }
  if (args.size() == 5 && args[0] == "checkpoint")
    return make_checkpoint(args[1], std::stoi(args[2]), std::stoi(args[3]), std::stoi(args[4]));
  if (args.size() >= 7 && args.size() <= 9 && args[0] == "forward")
    return time_forward(args[1], args[2], std::stoi(args[3]), std::stoi(args[4]),
                        std::stoi(args[5]), std::stoi(args[6]), args.size() > 7 ? args[7] : "cpu",
                        args.size() > 8 ? args[8] : "fp32", records);
  std::fprintf(stderr,
               "usage: satunet_bench_infer checkpoint OUT.pt BASE DEPTH TILE\n"
               "       satunet_bench_infer [--jsonl FILE] forward CHECKPOINT SCENE TILE OVERLAP "
               "BATCH THREADS [cpu|cuda [fp32|bf16]]\n");
  return 2;
}
