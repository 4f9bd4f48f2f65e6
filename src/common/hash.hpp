#pragma once
// Platform-independent randomness from integer hashes (SplitMix64's finaliser): the standard
// distributions differ between library implementations, and per-item hashes make every
// decision independent of the order, thread or rank that takes it.
#include <cstdint>

namespace satunet {

constexpr std::uint64_t mix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr std::uint64_t hash(std::uint64_t a, std::uint64_t b) {
  return mix64(a ^ mix64(b));
}
constexpr std::uint64_t hash(std::uint64_t a, std::uint64_t b, std::uint64_t c) {
  return hash(hash(a, b), c);
}
constexpr std::uint64_t hash(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
  return hash(hash(a, b, c), d);
}

// [0, 1) from the top 53 bits.
inline double unit(std::uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

}  // namespace satunet
