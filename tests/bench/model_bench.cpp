// Forward and forward+backward throughput of the U-Net on this CPU, for the default and the
// small configuration at each thread count. Prints one line per case and the thread speed-up;
// with --jsonl FILE also appends the records "forward.rate" and "forward_backward.rate" (Mpx/s)
// of each case and thread count (common/bench_record.hpp).
//   satunet_bench_model [--jsonl FILE] [TILE [BATCH [REPEATS]]]
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/bench_record.hpp"
#include "common/timer.hpp"
#include "model/losses.hpp"
#include "model/unet.hpp"

namespace {

struct Case {
  std::string name;
  std::string config;  // in the records
  satunet::model::UNetOptions options;
};

// Seconds per call of `body`, after a warm-up call, over at least `repeats` calls.
template <typename Body>
double seconds_per_call(Body body, int repeats) {
  body();
  satunet::Stopwatch clock;
  for (int i = 0; i < repeats; ++i)
    body();
  return clock.seconds() / repeats;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  satunet::bench::RecordFile records;
  try {
    records = satunet::bench::RecordFile(satunet::bench::take_jsonl_option(args));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "satunet_bench_model: %s\n", error.what());
    return 2;
  }
  const int tile = args.size() > 0 ? std::stoi(args[0]) : 256;
  const int batch = args.size() > 1 ? std::stoi(args[1]) : 4;
  const int repeats = args.size() > 2 ? std::stoi(args[2]) : 3;
  const std::vector<Case> cases = {
      {"default (base 32, depth 4, batch norm)", "default", satunet::model::UNetOptions()},
      {"small (base 8, depth 3, batch norm)", "small",
       satunet::model::UNetOptions().base(8).depth(3)}};
  const double megapixels = static_cast<double>(batch) * tile * tile / 1e6;
  std::printf("U-Net on %d x %d tiles, batch %d, 3 bands, 3 classes, float32 (%.2f Mpx a batch)\n",
              tile, tile, batch, megapixels);
  for (const Case& test : cases) {
    torch::manual_seed(1);
    satunet::model::UNet net(test.options);
    net->train();
    const torch::Tensor input = torch::randn({batch, 3, tile, tile});
    const torch::Tensor target = torch::randint(0, 3, {batch, tile, tile}, torch::kLong);
    double forward_one = 0, train_one = 0;
    for (int threads : {1, 2}) {
      satunet::model::set_threads(threads);
      const double forward = seconds_per_call(
          [&] {
            torch::NoGradGuard no_grad;
            net->forward(input);
          },
          repeats);
      const double train = seconds_per_call(
          [&] {
            net->zero_grad();
            satunet::model::ce_loss(net->forward(input), target).backward();
          },
          repeats);
      if (threads == 1) {
        forward_one = forward;
        train_one = train;
      }
      std::printf(
          "%-40s %9lld params  %d thread%s  forward %7.3f Mpx/s  forward+backward %7.3f Mpx/s",
          test.name.c_str(), static_cast<long long>(net->parameter_count()), threads,
          threads == 1 ? " " : "s", megapixels / forward, megapixels / train);
      if (threads > 1)
        std::printf("  (x%.2f, x%.2f over 1 thread)", forward_one / forward, train_one / train);
      std::printf("\n");
      const nlohmann::json configuration = {{"config", test.config},
                                            {"base", test.options.base()},
                                            {"depth", test.options.depth()},
                                            {"parameters", net->parameter_count()},
                                            {"threads", threads},
                                            {"tile", tile},
                                            {"batch", batch},
                                            {"repeats", repeats}};
      records.write("model", "forward.rate", megapixels / forward, "Mpx/s", configuration);
      records.write("model", "forward_backward.rate", megapixels / train, "Mpx/s", configuration);
    }
  }
  return 0;
}
