#include <iostream>

#include "cli/command.hpp"
#include "stitch/stitcher.hpp"

namespace satunet::cli {

Command stitch_command() {
  return make_command("stitch",
                      "blend a prediction directory into a georeferenced class map (streaming)",
                      "--pred PRED --out MASK.tif [--probabilities P.tif] [--polygons OUT.geojson]",
                      stitch::stitch_option_table(), [](const stitch::StitchOptions& options) {
                        std::cout << stitch::describe(options, stitch::stitch(options));
                        return 0;
                      });
}

}  // namespace satunet::cli
