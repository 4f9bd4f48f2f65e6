#include "data/sampler.hpp"

#include <numeric>

#include "common/error.hpp"
#include "common/hash.hpp"

namespace satunet::data {

std::vector<std::int64_t> permutation(std::int64_t n, std::uint64_t seed) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  // Fisher-Yates with one hash per position.
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(unit(hash(seed, static_cast<std::uint64_t>(i))) *
                                             static_cast<double>(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(std::min(j, i))]);
  }
  return order;
}

DistributedSampler::DistributedSampler(std::int64_t dataset_size, int rank, int world_size,
                                       std::uint64_t seed, bool shuffle)
    : size_(dataset_size), rank_(rank), world_(world_size), seed_(seed), shuffle_(shuffle) {
  if (size_ <= 0)
    throw Error("the dataset split is empty: nothing to sample");
  if (world_ < 1 || rank_ < 0 || rank_ >= world_)
    throw Error("sampler: rank " + std::to_string(rank_) + " of " + std::to_string(world_));
}

std::int64_t DistributedSampler::per_rank() const {
  return (size_ + world_ - 1) / world_;
}

std::vector<std::int64_t> DistributedSampler::indices(std::int64_t epoch) const {
  std::vector<std::int64_t> order;
  if (shuffle_) {
    order = permutation(size_, hash(seed_, static_cast<std::uint64_t>(epoch)));
  } else {
    order.resize(static_cast<std::size_t>(size_));
    std::iota(order.begin(), order.end(), 0);
  }
  const std::int64_t total = per_rank() * world_;
  std::vector<std::int64_t> mine;
  mine.reserve(static_cast<std::size_t>(per_rank()));
  for (std::int64_t position = rank_; position < total; position += world_)
    mine.push_back(order[static_cast<std::size_t>(position % size_)]);  // wraps to pad
  return mine;
}

}  // namespace satunet::data
