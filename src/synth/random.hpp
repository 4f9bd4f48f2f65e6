#pragma once
// Randomness of generated scenes: integer hashes only (common/hash.hpp), so a scene is the
// same on every platform and in any drawing order.
#include <cmath>
#include <cstdint>

#include "common/hash.hpp"

namespace satunet::synth {

using satunet::hash;
using satunet::mix64;
using satunet::unit;

// A sequential generator (SplitMix64) for laying out objects.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return mix64(state_);
  }
  double uniform() { return unit(next()); }
  double uniform(double low, double high) { return low + (high - low) * uniform(); }
  bool chance(double probability) { return uniform() < probability; }
  int below(int count) { return static_cast<int>(uniform() * count); }

 private:
  std::uint64_t state_;
};

// Approximately standard normal (Irwin-Hall of four uniforms), from one hash.
inline double gaussian(std::uint64_t bits) {
  double sum = 0;
  for (int i = 0; i < 4; ++i)
    sum += static_cast<double>((bits >> (16 * i)) & 0xffff) / 65535.0;
  return (sum - 2.0) * std::sqrt(3.0);
}

// Smooth value noise in [-1, 1] over a lattice of spacing 1.
inline double value_noise(std::uint64_t seed, double x, double y) {
  const double fx = std::floor(x), fy = std::floor(y);
  const auto ix = static_cast<std::int64_t>(fx), iy = static_cast<std::int64_t>(fy);
  const double tx = x - fx, ty = y - fy;
  const double sx = tx * tx * (3 - 2 * tx), sy = ty * ty * (3 - 2 * ty);
  auto corner = [&](std::int64_t cx, std::int64_t cy) {
    return unit(hash(seed, static_cast<std::uint64_t>(cx), static_cast<std::uint64_t>(cy))) * 2 - 1;
  };
  const double top = corner(ix, iy) + (corner(ix + 1, iy) - corner(ix, iy)) * sx;
  const double bottom = corner(ix, iy + 1) + (corner(ix + 1, iy + 1) - corner(ix, iy + 1)) * sx;
  return top + (bottom - top) * sy;
}

// Fractal noise: `octaves` layers of value noise, each twice the frequency and half the weight.
inline double fractal_noise(std::uint64_t seed, double x, double y, int octaves) {
  double sum = 0, weight = 1, total = 0;
  for (int octave = 0; octave < octaves; ++octave) {
    sum += weight * value_noise(hash(seed, static_cast<std::uint64_t>(octave)), x, y);
    total += weight;
    weight *= 0.5;
    x *= 2;
    y *= 2;
  }
  return sum / total;
}

}  // namespace satunet::synth
