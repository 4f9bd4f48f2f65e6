#pragma once
// Which tiles each rank sees in an epoch: a permutation seeded by (seed, epoch), split into
// disjoint parts of equal size (padded by wrapping around, as PyTorch's DistributedSampler
// does), so every rank runs the same number of steps; a rank that ran out would hang the
// others in the next all-reduce.
#include <cstdint>
#include <vector>

namespace satunet::data {

class DistributedSampler {
 public:
  DistributedSampler(std::int64_t dataset_size, int rank, int world_size, std::uint64_t seed,
                     bool shuffle = true);

  // This rank's tile indices for `epoch`, in order; the same length on every rank.
  std::vector<std::int64_t> indices(std::int64_t epoch) const;
  std::int64_t per_rank() const;
  // Full batches per epoch (the last partial one is dropped, on every rank alike).
  std::int64_t steps_per_epoch(int batch) const { return per_rank() / batch; }

 private:
  std::int64_t size_;
  int rank_;
  int world_;
  std::uint64_t seed_;
  bool shuffle_;
};

// A permutation of [0, n) from a platform-independent generator (std::shuffle's algorithm
// differs between standard libraries).
std::vector<std::int64_t> permutation(std::int64_t n, std::uint64_t seed);

}  // namespace satunet::data
