// Forward and forward+backward throughput of the U-Net on this CPU, for the default and the
// small configuration at each thread count. Prints one line per case and the thread speed-up.
#include <torch/torch.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/timer.hpp"
#include "model/losses.hpp"
#include "model/unet.hpp"

namespace {

struct Case {
  std::string name;
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
  const int tile = argc > 1 ? std::stoi(argv[1]) : 256;
  const int batch = argc > 2 ? std::stoi(argv[2]) : 4;
  const int repeats = argc > 3 ? std::stoi(argv[3]) : 3;
  const std::vector<Case> cases = {
      {"default (base 32, depth 4, batch norm)", satunet::model::UNetOptions()},
      {"small (base 8, depth 3, batch norm)", satunet::model::UNetOptions().base(8).depth(3)}};
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
    }
  }
  return 0;
}
