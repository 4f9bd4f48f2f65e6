#include "data/loader.hpp"

#include <optional>

#include "common/error.hpp"
#include "common/timer.hpp"

namespace satunet::data {

StreamingLoader::StreamingLoader(const ShardDataset& dataset, const DistributedSampler& sampler,
                                 int batch, int prefetch, AugmentOptions augment,
                                 std::uint64_t seed)
    : dataset_(dataset),
      sampler_(sampler),
      batch_(batch),
      prefetch_(std::max(1, prefetch)),
      augment_(augment),
      seed_(seed),
      queue_(static_cast<std::size_t>(prefetch_)) {
  if (batch_ < 1)
    throw UsageError("--batch must be at least 1");
  if (steps_per_epoch() < 1)
    throw Error(std::to_string(sampler.per_rank()) + " " + dataset.split() +
                " tiles per rank are fewer than one batch of " + std::to_string(batch_));
  queue_.close();  // no epoch started: next() has nothing to give
}

StreamingLoader::~StreamingLoader() {
  stop();
}

void StreamingLoader::stop() {
  queue_.cancel();
  if (producer_.joinable())
    producer_.join();
}

void StreamingLoader::start_epoch(std::int64_t epoch, std::int64_t first_step) {
  stop();
  queue_.reopen();
  producer_ = std::thread([this, epoch, first_step] { produce(epoch, first_step); });
}

void StreamingLoader::fill(Batch& batch, const std::vector<std::int64_t>& order, std::int64_t step,
                           std::int64_t epoch) const {
  const int tile = dataset_.tile_size();
  const std::size_t plane = static_cast<std::size_t>(tile) * tile;
  const std::size_t image_values = plane * dataset_.bands();
  batch.size = batch_;
  batch.images.resize(image_values * batch_);
  batch.labels.resize(plane * batch_);
  batch.indices.resize(static_cast<std::size_t>(batch_));
  for (int i = 0; i < batch_; ++i) {
    const std::int64_t index = order[static_cast<std::size_t>(step * batch_ + i)];
    float* image = batch.images.data() + i * image_values;
    std::uint8_t* labels = batch.labels.data() + i * plane;
    dataset_.read(index, image, labels);
    if (augment_.any())
      augment(image, labels, dataset_.bands(), tile, augment_, seed_, epoch, index);
    batch.indices[static_cast<std::size_t>(i)] = index;
  }
}

void StreamingLoader::produce(std::int64_t epoch, std::int64_t first_step) {
  try {
    const std::vector<std::int64_t> order = sampler_.indices(epoch);
    for (std::int64_t step = first_step; step < steps_per_epoch(); ++step) {
      Batch batch;
      fill(batch, order, step, epoch);
      if (!queue_.push(std::move(batch)))
        return;  // stopped
    }
    queue_.close();
  } catch (...) {
    queue_.close(std::current_exception());
  }
}

bool StreamingLoader::next(Batch& batch) {
  Stopwatch waiting;
  std::optional<Batch> next = queue_.pop();
  wait_seconds_ += waiting.seconds();
  if (!next)
    return false;
  batch = std::move(*next);
  return true;
}

}  // namespace satunet::data
