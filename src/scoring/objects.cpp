#include "scoring/objects.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>

#include "common/error.hpp"
#include "scoring/confusion_matrix.hpp"

namespace satunet::scoring {
namespace {

double ratio(double numerator, double denominator) {
  return denominator > 0 ? numerator / denominator : std::numeric_limits<double>::quiet_NaN();
}

std::uint64_t pair_key(std::int32_t truth, std::int32_t predicted) {
  return static_cast<std::uint64_t>(truth) << 32 | static_cast<std::uint32_t>(predicted);
}

}  // namespace

double ObjectScore::precision() const {
  return ratio(static_cast<double>(true_positives),
               static_cast<double>(true_positives + false_positives));
}
double ObjectScore::recall() const {
  return ratio(static_cast<double>(true_positives),
               static_cast<double>(true_positives + false_negatives));
}
double ObjectScore::f1() const {
  return ratio(2.0 * static_cast<double>(true_positives),
               static_cast<double>(2 * true_positives + false_positives + false_negatives));
}
double ObjectScore::mean_match_iou() const {
  return ratio(match_iou_sum, static_cast<double>(true_positives));
}

void ObjectScore::add_match(double iou) {
  ++true_positives;
  match_iou_sum += iou;
  const auto bin = std::min<std::size_t>(match_iou_bins.size() - 1,
                                         static_cast<std::size_t>(std::max(0.0, iou) * 20));
  ++match_iou_bins[bin];
}

void ObjectScore::merge(const ObjectScore& other) {
  true_positives += other.true_positives;
  false_positives += other.false_positives;
  false_negatives += other.false_negatives;
  dropped_small += other.dropped_small;
  match_iou_sum += other.match_iou_sum;
  for (std::size_t i = 0; i < match_iou_bins.size(); ++i)
    match_iou_bins[i] += other.match_iou_bins[i];
}

nlohmann::json ObjectScore::to_json() const {
  return {{"true_positives", true_positives},
          {"false_positives", false_positives},
          {"false_negatives", false_negatives},
          {"precision", number_or_null(precision())},
          {"recall", number_or_null(recall())},
          {"f1", number_or_null(f1())},
          {"mean_match_iou", number_or_null(mean_match_iou())},
          {"match_iou_sum", match_iou_sum},
          {"match_iou_bins", match_iou_bins},
          {"dropped_small", dropped_small}};
}

ObjectScore ObjectScore::from_json(const nlohmann::json& json) {
  ObjectScore score;
  score.true_positives = json.at("true_positives").get<std::int64_t>();
  score.false_positives = json.at("false_positives").get<std::int64_t>();
  score.false_negatives = json.at("false_negatives").get<std::int64_t>();
  score.dropped_small = json.at("dropped_small").get<std::int64_t>();
  score.match_iou_sum = json.at("match_iou_sum").get<double>();
  score.match_iou_bins = json.at("match_iou_bins").get<std::array<std::int64_t, 20>>();
  return score;
}

ComponentLabeller::ComponentLabeller(std::int64_t width)
    : width_(width), above_(static_cast<std::size_t>(width), 0), parent_{0} {}

std::int32_t ComponentLabeller::root(std::int32_t label) {
  while (parent_[static_cast<std::size_t>(label)] != label) {
    // Path halving keeps the trees flat without recursion.
    auto& up = parent_[static_cast<std::size_t>(label)];
    up = parent_[static_cast<std::size_t>(up)];
    label = up;
  }
  return label;
}

std::int32_t ComponentLabeller::unite(std::int32_t a, std::int32_t b) {
  a = root(a);
  b = root(b);
  if (a == b)
    return a;
  const auto [low, high] = std::minmax(a, b);
  parent_[static_cast<std::size_t>(high)] = low;
  return low;
}

void ComponentLabeller::label_row(const std::uint8_t* inside, std::int32_t* labels) {
  for (std::int64_t x = 0; x < width_; ++x) {
    const auto i = static_cast<std::size_t>(x);
    if (!inside[i]) {
      labels[i] = 0;
      continue;
    }
    const std::int32_t left = x > 0 ? labels[i - 1] : 0;
    const std::int32_t up = above_[i];
    if (left && up) {
      labels[i] = left == up ? left : unite(left, up);
    } else if (left || up) {
      labels[i] = left ? left : up;
    } else {
      if (parent_.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
        throw Error("more than 2^31 mask fragments: not a class map of objects");
      labels[i] = static_cast<std::int32_t>(parent_.size());
      parent_.push_back(labels[i]);
    }
  }
  std::copy(labels, labels + width_, above_.begin());
}

void ObjectOverlaps::add_row(const std::int32_t* truth, const std::int32_t* predicted,
                             std::int64_t width, double pixel_area_m2) {
  // Runs of one (truth, prediction) pair add up before they touch the hash maps.
  std::int64_t start = 0;
  for (std::int64_t x = 1; x <= width; ++x) {
    if (x < width && truth[x] == truth[start] && predicted[x] == predicted[start])
      continue;
    const double area = static_cast<double>(x - start) * pixel_area_m2;
    if (truth[start])
      truth_[truth[start]] += area;
    if (predicted[start])
      predicted_[predicted[start]] += area;
    if (truth[start] && predicted[start])
      overlaps_[pair_key(truth[start], predicted[start])] += area;
    start = x;
  }
}

ObjectScore ObjectOverlaps::match(const Areas& truth, const Areas& predicted,
                                  const PairAreas& overlaps, const ObjectOptions& options) {
  ObjectScore score;
  auto kept = [&](const Areas& areas, std::int32_t id) {
    return areas.at(id) >= options.min_area_m2;
  };
  struct Candidate {
    double iou;
    std::int32_t truth, predicted;
  };
  std::vector<Candidate> candidates;
  for (const auto& [key, overlap] : overlaps) {
    const auto t = static_cast<std::int32_t>(key >> 32);
    const auto p = static_cast<std::int32_t>(static_cast<std::uint32_t>(key));
    if (!kept(truth, t) || !kept(predicted, p))
      continue;
    const double iou = overlap / (truth.at(t) + predicted.at(p) - overlap);
    if (iou >= options.match_iou && iou > 0)
      candidates.push_back({iou, t, p});
  }
  // Best pairs first; ties in a fixed order so that every run and rank count agrees.
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.iou != b.iou ? a.iou > b.iou
                          : std::tie(a.truth, a.predicted) < std::tie(b.truth, b.predicted);
  });
  std::unordered_map<std::int32_t, bool> truth_matched, predicted_matched;
  for (const Candidate& candidate : candidates) {
    if (truth_matched[candidate.truth] || predicted_matched[candidate.predicted])
      continue;
    truth_matched[candidate.truth] = predicted_matched[candidate.predicted] = true;
    score.add_match(candidate.iou);
  }
  for (const auto& [id, area] : truth) {
    if (area < options.min_area_m2)
      ++score.dropped_small;
    else if (!truth_matched[id])
      ++score.false_negatives;
  }
  for (const auto& [id, area] : predicted) {
    if (area < options.min_area_m2)
      ++score.dropped_small;
    else if (!predicted_matched[id])
      ++score.false_positives;
  }
  return score;
}

}  // namespace satunet::scoring
