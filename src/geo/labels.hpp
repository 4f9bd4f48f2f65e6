#pragma once
// Labels on a scene's grid, from vector files in any CRS (reprojected, lines buffered to a
// width in metres) or from a class-mask raster on the same grid.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/labels.hpp"
#include "common/options.hpp"
#include "geo/raster.hpp"
#include "geo/strip_reader.hpp"

class OGRGeometry;

namespace satunet::geo {

// One vector file: all its features are one class, or the class comes from an attribute.
struct VectorLabelSource {
  std::string path;
  std::optional<int> class_id;
  std::string class_field;                    // when class_id is empty
  std::map<std::string, int> class_by_value;  // attribute value -> class id
};

struct LineWidths {
  std::map<int, double> metres_by_class;  // --line-width road=8
  std::string width_field;                // --width-field width_m (wins where set)
};

// The line widths as options give them, by class name (tile and evaluate share them).
struct LineWidthOptions {
  std::map<std::string, double> line_width_m;
  std::string width_field;
  // By id among `classes`; a UsageError for a class not among them or a width not positive.
  LineWidths by_class(const std::vector<std::string>& classes) const;
};
const options::Table<LineWidthOptions>& line_width_option_table();

// Vector labels prepared for one scene: every feature in the scene's CRS, lines already
// buffered, kept in burn order (ascending class id: where classes overlap, the class listed
// later in --classes wins).
class VectorLabels {
 public:
  VectorLabels(const std::vector<VectorLabelSource>& sources, const RasterInfo& scene,
               const std::vector<std::string>& class_names, const LineWidths& widths,
               bool all_touched);
  ~VectorLabels();
  VectorLabels(VectorLabels&&) noexcept;
  VectorLabels& operator=(VectorLabels&&) noexcept;

  // Class ids for `window` of the scene grid (0 where no feature), window.width * height bytes.
  void rasterize(const Window& window, std::uint8_t* labels) const;
  // Each feature of `class_id` burnt as its own object: its index + 1 (0 where none), so that
  // footprints that touch stay apart. window.width * height values.
  void rasterize_instances(const Window& window, int class_id, std::int32_t* ids) const;

 private:
  struct Feature;
  // Burns the features for which `burn_value(feature, index)` gives a value into `pixels`.
  template <typename BurnValue>
  void burn(const Window& window, GDALDataType type, void* pixels, BurnValue burn_value) const;
  void load(const VectorLabelSource& source, const std::vector<std::string>& class_names,
            const LineWidths& widths);

  RasterInfo scene_;
  SpatialRef scene_srs_;
  bool all_touched_;
  std::vector<Feature> features_;
  std::int64_t skipped_ = 0;
};

// Class ids stored in a raster of any integer or float type, read as stored (never clamped to
// a byte), row strips: its nodata value and 255 are not judged (kIgnoreLabel); any other value
// that is not the id of one of `class_names` is an error naming the file and the pixel.
class ClassRaster {
 public:
  ClassRaster(const std::string& path, const std::vector<std::string>& class_names);
  // On `grid`: as stored where it lies on it, warped onto it (nearest neighbour, window by
  // window) where both are georeferenced, refused otherwise; `grid_role` names the grid's
  // raster in messages ("the scene", "the prediction").
  ClassRaster(const std::string& path, const std::vector<std::string>& class_names,
              const RasterInfo& grid, const std::string& grid_role);
  ClassRaster(const ClassRaster&) = delete;
  ClassRaster& operator=(const ClassRaster&) = delete;

  // The raster read: the stored one, or its warp onto the grid.
  const RasterInfo& info() const { return warped_ ? warped_->info() : stored_.info(); }
  bool warped() const { return warped_.has_value(); }
  void read(std::int64_t first_row, std::int64_t rows, std::vector<std::uint8_t>& labels);

 private:
  ClassRaster(const std::string& path, const std::vector<std::string>& class_names,
              const RasterInfo* grid, const std::string& grid_role);
  std::uint8_t class_id(double value, std::int64_t first_row, std::size_t index) const;

  Raster stored_;
  std::optional<Raster> warped_;  // reads stored_'s dataset, so it is declared after it
  StripReader reader_;
  std::vector<std::string> class_names_;
  std::vector<std::uint8_t> raw_;
};

// The labels of one scene as row strips on its grid: the class ids of a raster (warped onto the
// grid where it lies on another), or vector files burnt. Tile reads a scene's labels and evaluate
// its truth through it.
class SceneLabels {
 public:
  SceneLabels(const std::string& class_raster, const RasterInfo& scene,
              const std::vector<std::string>& class_names, const std::string& scene_role);
  explicit SceneLabels(VectorLabels vectors, const RasterInfo& scene);

  void read(std::int64_t first_row, std::int64_t rows, std::vector<std::uint8_t>& labels);
  // The vector files, whose features can be burnt one by one; null for a class raster.
  const VectorLabels* vectors() const { return vectors_ ? &*vectors_ : nullptr; }

 private:
  std::int64_t width_;
  std::optional<ClassRaster> raster_;
  std::optional<VectorLabels> vectors_;
};

}  // namespace satunet::geo
