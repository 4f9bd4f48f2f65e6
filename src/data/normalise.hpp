#pragma once
// Band normalisation: the one convention training and prediction share, so that a model sees
// the same numbers for the same pixels in both (no train/serve skew). Each band becomes
// (float(value) - mean) / std, with std floored at 1e-6 so a constant band stays finite; the
// arithmetic is in float, in this order, everywhere.
#include <cmath>
#include <cstddef>
#include <vector>

namespace satunet::data {

// The least standard deviation a band is divided by.
constexpr double kMinStd = 1e-6;

class BandNormaliser {
 public:
  // One mean and standard deviation per band (the dataset's statistics, as the manifest and
  // every checkpoint record them).
  BandNormaliser(const std::vector<double>& means, const std::vector<double>& stds);
  // From records with .mean and .std (a manifest's bands, a checkpoint's bands).
  template <typename Bands>
  static BandNormaliser of(const Bands& bands) {
    std::vector<double> means, stds;
    for (const auto& band : bands) {
      means.push_back(band.mean);
      stds.push_back(band.std);
    }
    return BandNormaliser(means, stds);
  }

  int bands() const { return static_cast<int>(mean_.size()); }
  // What apply subtracts and multiplies by, for a model that normalises on its device.
  float mean(int band) const { return mean_[static_cast<std::size_t>(band)]; }
  float scale(int band) const { return scale_[static_cast<std::size_t>(band)]; }
  float apply(int band, float value) const {
    const float measured = std::isfinite(value) ? value : 0.0f;
    return (measured - mean_[static_cast<std::size_t>(band)]) *
           scale_[static_cast<std::size_t>(band)];
  }
  // `count` values of `band` from `in` (any arithmetic type) into `out` (may be `in`).
  template <typename T>
  void apply(int band, const T* in, float* out, std::size_t count) const {
    for (std::size_t i = 0; i < count; ++i)
      out[i] = apply(band, static_cast<float>(in[i]));
  }

 private:
  std::vector<float> mean_, scale_;
};

}  // namespace satunet::data
