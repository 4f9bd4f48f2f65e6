#include <iostream>

#include "cli/command.hpp"
#include "synth/synth.hpp"

namespace satunet::cli {

Command synth_command() {
  Command command;
  command.name = "synth";
  command.summary = "generate a labelled, georeferenced scene (roads, buildings, trees, shadows)";
  command.usage = "--out DIR [options]";
  command.declare = [](po::options_description& options, po::positional_options_description&) {
    const synth::SynthOptions defaults;
    // clang-format off
    options.add_options()
        ("out", po::value<std::string>()->value_name("DIR"),
         "output directory: scene.tif, truth.tif, buildings.geojson, roads.geojson")
        ("size", po::value<std::int64_t>()->default_value(defaults.size),
         "scene width and height in pixels")
        ("seed", po::value<std::uint64_t>()->default_value(defaults.seed),
         "random seed; the same seed gives identical files")
        ("bands", po::value<int>()->default_value(defaults.bands), "3 (RGB) or 4 (RGB + NIR)")
        ("dtype", po::value<std::string>()->default_value(defaults.dtype), "uint8 or uint16")
        ("epsg", po::value<int>()->default_value(defaults.epsg),
         "EPSG code of the scene's CRS (projected, in metres)")
        ("gsd", po::value<double>()->default_value(defaults.gsd), "ground sample distance in metres");
    // clang-format on
  };
  command.run = [](const po::variables_map& values) {
    synth::SynthOptions options;
    if (values.count("out"))
      options.out_dir = values["out"].as<std::string>();
    options.size = values["size"].as<std::int64_t>();
    options.seed = values["seed"].as<std::uint64_t>();
    options.bands = values["bands"].as<int>();
    options.dtype = values["dtype"].as<std::string>();
    options.epsg = values["epsg"].as<int>();
    options.gsd = values["gsd"].as<double>();
    const synth::SynthResult result = synth::synthesize(options);
    std::cout << "scene:     " << result.scene_path << "\n"
              << "truth:     " << result.truth_path << "\n"
              << "buildings: " << result.buildings_path << " (" << result.buildings << ")\n"
              << "roads:     " << result.roads_path << " (" << result.roads << ")\n";
    return 0;
  };
  return command;
}

}  // namespace satunet::cli
