#include <iostream>

#include "cli/command.hpp"
#include "common/error.hpp"
#include "geo/quicklook.hpp"

namespace satunet::cli {

Command quicklook_command() {
  Command command;
  command.name = "quicklook";
  command.summary = "a PNG of a scene with a class map's colours over it";
  command.usage = "--image SCENE.tif [--mask MASK.tif] --out LOOK.png [--max-size PX]";
  command.declare = [](po::options_description& options, po::positional_options_description&) {
    const geo::QuicklookOptions d;
    // clang-format off
    options.add_options()
        ("image", po::value<std::string>()->value_name("SCENE.tif"), "the scene (first three bands as RGB)")
        ("mask", po::value<std::string>()->value_name("MASK.tif"),
         "class map on the scene's grid with a colour table (satunet stitch writes one)")
        ("out", po::value<std::string>()->value_name("LOOK.png"), "the PNG to write")
        ("max-size", po::value<int>()->default_value(d.max_size), "longest side of the PNG in pixels")
        ("opacity", po::value<double>()->default_value(d.opacity), "opacity of the class colours");
    // clang-format on
  };
  command.run = [](const po::variables_map& values) {
    geo::QuicklookOptions options;
    options.image = string_option(values, "image");
    options.mask = string_option(values, "mask");
    options.out = string_option(values, "out");
    options.max_size = values["max-size"].as<int>();
    options.opacity = values["opacity"].as<double>();
    if (options.image.empty() || options.out.empty())
      throw UsageError("--image and --out are required");
    const geo::QuicklookResult result = geo::write_quicklook(options);
    std::cout << "quick-look: " << options.out << " (" << result.width << " x " << result.height
              << ")\n";
    return 0;
  };
  return command;
}

}  // namespace satunet::cli
