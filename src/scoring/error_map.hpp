#pragma once
// Where a model fails, as a map: one byte per pixel of the prediction's grid, georeferenced
// like it, with a colour table and category names so that QGIS shows a legend. Codes: 0 a
// right background pixel; for each foreground class c (1 .. C-1) 3c-2 a true positive, 3c-1
// a false positive (predicted c, the truth says otherwise) and 3c a false negative (the truth
// says c, the prediction says background); where two foreground classes are confused the
// pixel is the false positive of the predicted one. 255: not judged (nodata on either side).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "geo/raster.hpp"

namespace satunet::geo {
class GeoTiffWriter;
}

namespace satunet::scoring {

// 3 codes per foreground class below 255.
constexpr int kMaxErrorMapClasses = 85;

std::uint8_t error_code(std::uint8_t truth, std::uint8_t predicted);
// The category name of every code 0 .. 3(C-1), e.g. "building: false positive".
std::vector<std::string> error_categories(const std::vector<std::string>& classes);

class ErrorMapWriter {
 public:
  // Throws Error for more than kMaxErrorMapClasses classes or an output that may not be written.
  ErrorMapWriter(const std::string& path, const geo::RasterInfo& grid,
                 const std::vector<std::string>& classes);
  ~ErrorMapWriter();
  // Full-width rows from `first_row`, truth and prediction as class ids or kIgnoreLabel.
  void add_rows(std::int64_t first_row, std::int64_t rows, const std::uint8_t* truth,
                const std::uint8_t* predicted);
  void commit();

 private:
  std::int64_t width_;
  std::vector<std::uint8_t> codes_;
  std::unique_ptr<geo::GeoTiffWriter> writer_;
};

}  // namespace satunet::scoring
