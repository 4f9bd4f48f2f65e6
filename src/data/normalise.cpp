#include "data/normalise.hpp"

#include <algorithm>

#include "common/error.hpp"

namespace satunet::data {

BandNormaliser::BandNormaliser(const std::vector<double>& means, const std::vector<double>& stds) {
  if (means.size() != stds.size())
    throw Error("band normalisation: " + std::to_string(means.size()) + " means for " +
                std::to_string(stds.size()) + " standard deviations");
  for (std::size_t b = 0; b < means.size(); ++b) {
    mean_.push_back(static_cast<float>(means[b]));
    scale_.push_back(static_cast<float>(1.0 / std::max(stds[b], kMinStd)));
  }
}

}  // namespace satunet::data
