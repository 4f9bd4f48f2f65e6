#include <iostream>

#include "cli/command.hpp"
#include "geo/quicklook.hpp"

namespace satunet::cli {

Command quicklook_command() {
  return make_command("quicklook", "a PNG of a scene with a class map's colours over it",
                      "--image SCENE.tif [--mask MASK.tif] --out LOOK.png [--max-size PX]",
                      geo::quicklook_option_table(), [](const geo::QuicklookOptions& options) {
                        const geo::QuicklookResult result = geo::write_quicklook(options);
                        std::cout << "quick-look: " << options.out << " (" << result.width << " x "
                                  << result.height << ")\n";
                        return 0;
                      });
}

}  // namespace satunet::cli
