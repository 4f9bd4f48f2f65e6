#include "scoring/error_map.hpp"

#include "common/error.hpp"
#include "common/labels.hpp"
#include "geo/geotiff.hpp"

namespace satunet::scoring {
namespace {

enum Outcome { kTruePositive = 1, kFalsePositive = 2, kFalseNegative = 3 };

std::uint8_t code_of(int cls, Outcome outcome) {
  return static_cast<std::uint8_t>(3 * (cls - 1) + outcome);
}

// TP green, FP red, FN blue: a shade further from full for each further class.
std::vector<GDALColorEntry> error_colours(std::size_t classes) {
  std::vector<GDALColorEntry> colours = {{0, 0, 0, 0}};
  for (std::size_t c = 1; c < classes; ++c) {
    const auto shade = static_cast<short>(255 - 40 * ((c - 1) % 4));
    colours.push_back({0, shade, 0, 255});
    colours.push_back({shade, 0, static_cast<short>(shade / 3), 255});
    colours.push_back({0, static_cast<short>(shade / 2), shade, 255});
  }
  return colours;
}

}  // namespace

std::uint8_t error_code(std::uint8_t truth, std::uint8_t predicted) {
  if (truth == kIgnoreLabel || predicted == kIgnoreLabel)
    return kIgnoreLabel;
  if (truth == predicted)
    return truth == 0 ? 0 : code_of(truth, kTruePositive);
  return predicted != 0 ? code_of(predicted, kFalsePositive) : code_of(truth, kFalseNegative);
}

std::vector<std::string> error_categories(const std::vector<std::string>& classes) {
  std::vector<std::string> names = {classes.front() + ": right"};
  for (std::size_t c = 1; c < classes.size(); ++c)
    for (const char* outcome : {"true positive", "false positive", "false negative"})
      names.push_back(classes[c] + ": " + outcome);
  return names;
}

ErrorMapWriter::ErrorMapWriter(const std::string& path, const geo::RasterInfo& grid,
                               const std::vector<std::string>& classes)
    : width_(grid.width) {
  if (classes.size() > static_cast<std::size_t>(kMaxErrorMapClasses))
    throw Error(path + ": an error map has codes for at most " +
                std::to_string(kMaxErrorMapClasses) + " classes, not " +
                std::to_string(classes.size()));
  geo::GeoTiffOptions tiff;
  tiff.predictor = false;  // codes are categories
  writer_ = std::make_unique<geo::GeoTiffWriter>(path, grid.width, grid.height, 1, GDT_Byte,
                                                 grid.transform, grid.srs(), tiff);
  writer_->set_nodata(kIgnoreLabel);
  writer_->set_classes(error_categories(classes), error_colours(classes.size()));
}

ErrorMapWriter::~ErrorMapWriter() = default;

void ErrorMapWriter::add_rows(std::int64_t first_row, std::int64_t rows, const std::uint8_t* truth,
                              const std::uint8_t* predicted) {
  codes_.resize(static_cast<std::size_t>(width_ * rows));
  for (std::size_t i = 0; i < codes_.size(); ++i)
    codes_[i] = error_code(truth[i], predicted[i]);
  writer_->write({0, first_row, width_, rows}, GDT_Byte, codes_.data());
}

void ErrorMapWriter::commit() {
  writer_->commit();
}

}  // namespace satunet::scoring
