#pragma once
// A quick-look PNG: the scene, reduced to fit a size, contrast-stretched, with a class map's
// colours laid over it.
#include <cstdint>
#include <string>

#include "common/options.hpp"

namespace satunet::geo {

struct QuicklookOptions {
  std::string image;     // the scene: 3+ bands are shown as RGB (the first three), fewer as grey
  std::string mask;      // optional class map on the scene's grid, with a colour table
  std::string out;       // .png
  int max_size = 1024;   // longest side in pixels
  double opacity = 0.5;  // of the class colours; class 0 (background) and nodata stay clear
  // Replace an existing --out (never an input).
  bool overwrite = false;
};

struct QuicklookResult {
  int width = 0;
  int height = 0;
};

const options::Table<QuicklookOptions>& quicklook_option_table();
void validate(const QuicklookOptions& options);  // throws UsageError
QuicklookResult write_quicklook(const QuicklookOptions& options);

// A PNG of width x height pixels from band-sequential bytes (1 band: grey, 3: RGB, 4: RGBA),
// written atomically.
void write_png(const std::string& path, int width, int height, int bands,
               const std::uint8_t* pixels);

}  // namespace satunet::geo
