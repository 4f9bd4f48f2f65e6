#pragma once
// Objects (building footprints) scored as SpaceNet scores them: true and predicted footprints
// matched one to one, greedily by decreasing IoU, a pair counting when its IoU reaches the bar
// (0.5); matches are true positives, unmatched predictions false positives, unmatched truths
// false negatives. Footprints are pixel sets on the prediction's grid (connected components
// of a class, or vector features burnt one by one), gathered row by row, so memory follows
// the number of objects, never the scene's area; IoU and areas are on the ground.
#include <array>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace satunet::scoring {

struct ObjectOptions {
  double match_iou = 0.5;  // a pair with a lower IoU is no match
  double min_area_m2 = 0;  // smaller footprints are left out on both sides
};

struct ObjectScore {
  std::int64_t true_positives = 0;
  std::int64_t false_positives = 0;
  std::int64_t false_negatives = 0;
  std::int64_t dropped_small = 0;  // footprints under min_area_m2, truth and prediction
  // IoU of the matches, in bins of 0.05 (bin 19 holds 0.95 to 1), and their sum for the mean.
  std::array<std::int64_t, 20> match_iou_bins{};
  double match_iou_sum = 0;

  double precision() const;
  double recall() const;
  double f1() const;
  double mean_match_iou() const;  // NaN without a match
  void add_match(double iou);
  void merge(const ObjectScore& other);  // whole test sets: counts add up
  nlohmann::json to_json() const;
  static ObjectScore from_json(const nlohmann::json& json);
};

// 4-connected components of a mask, one row at a time (as GDALPolygonize delineates the
// footprints `stitch --polygons` writes). Labels are provisional while rows come; root()
// names the component a label ended in.
class ComponentLabeller {
 public:
  explicit ComponentLabeller(std::int64_t width);
  // `inside`: one row, nonzero in the mask; `labels`: that row's provisional labels, 0 outside.
  void label_row(const std::uint8_t* inside, std::int32_t* labels);
  std::int32_t root(std::int32_t label);

 private:
  std::int32_t unite(std::int32_t a, std::int32_t b);
  std::int64_t width_;
  std::vector<std::int32_t> above_;   // the previous row's labels
  std::vector<std::int32_t> parent_;  // union-find over provisional labels; 0 unused
};

// Areas of the objects on each side and of their overlaps, row by row; ids are any positive
// int32 (0 = no object), resolved to final objects by the caller's mapping at the end.
class ObjectOverlaps {
 public:
  void add_row(const std::int32_t* truth, const std::int32_t* predicted, std::int64_t width,
               double pixel_area_m2);

  // Merges provisional ids through `truth_root` / `predicted_root`, drops small objects and
  // matches the rest.
  template <typename TruthRoot, typename PredictedRoot>
  ObjectScore score(TruthRoot truth_root, PredictedRoot predicted_root,
                    const ObjectOptions& options) const;

 private:
  using Areas = std::unordered_map<std::int32_t, double>;
  using PairAreas = std::unordered_map<std::uint64_t, double>;
  static ObjectScore match(const Areas& truth, const Areas& predicted, const PairAreas& overlaps,
                           const ObjectOptions& options);

  Areas truth_;
  Areas predicted_;
  PairAreas overlaps_;  // (truth id << 32 | predicted id) -> area
};

template <typename TruthRoot, typename PredictedRoot>
ObjectScore ObjectOverlaps::score(TruthRoot truth_root, PredictedRoot predicted_root,
                                  const ObjectOptions& options) const {
  Areas truth, predicted;
  PairAreas overlaps;
  for (const auto& [id, area] : truth_)
    truth[truth_root(id)] += area;
  for (const auto& [id, area] : predicted_)
    predicted[predicted_root(id)] += area;
  for (const auto& [pair, area] : overlaps_) {
    const auto t = static_cast<std::uint64_t>(truth_root(static_cast<std::int32_t>(pair >> 32)));
    const auto p = static_cast<std::uint32_t>(predicted_root(static_cast<std::int32_t>(pair)));
    overlaps[t << 32 | p] += area;
  }
  return match(truth, predicted, overlaps, options);
}

}  // namespace satunet::scoring
