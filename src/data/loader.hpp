#pragma once
// Streams batches of one rank's tiles: a prefetch thread reads shards, normalises and augments
// into a bounded queue while the caller trains on the previous batch.
#include <cstdint>
#include <thread>
#include <vector>

#include "common/bounded_queue.hpp"

#include "data/augment.hpp"
#include "data/dataset.hpp"
#include "data/sampler.hpp"

namespace satunet::data {

struct Batch {
  int size = 0;
  std::vector<float> images;         // [size, bands, T, T]
  std::vector<std::uint8_t> labels;  // [size, T, T]
  std::vector<std::int64_t> indices;
};

class StreamingLoader {
 public:
  StreamingLoader(const ShardDataset& dataset, const DistributedSampler& sampler, int batch,
                  int prefetch, AugmentOptions augment, std::uint64_t seed);
  ~StreamingLoader();
  StreamingLoader(const StreamingLoader&) = delete;
  StreamingLoader& operator=(const StreamingLoader&) = delete;

  // Starts streaming `epoch` from batch `first_step` (resume mid-epoch).
  void start_epoch(std::int64_t epoch, std::int64_t first_step = 0);
  // The next batch; false when the epoch is done. Rethrows a failure of the prefetch thread.
  bool next(Batch& batch);
  std::int64_t steps_per_epoch() const { return sampler_.steps_per_epoch(batch_); }
  // Seconds next() spent waiting for data since construction.
  double wait_seconds() const { return wait_seconds_; }

 private:
  void stop();
  void produce(std::int64_t epoch, std::int64_t first_step);
  void fill(Batch& batch, const std::vector<std::int64_t>& order, std::int64_t step,
            std::int64_t epoch) const;

  const ShardDataset& dataset_;
  const DistributedSampler& sampler_;
  int batch_;
  int prefetch_;
  AugmentOptions augment_;
  std::uint64_t seed_;

  BoundedQueue<Batch> queue_;
  std::thread producer_;
  double wait_seconds_ = 0;
};

}  // namespace satunet::data
