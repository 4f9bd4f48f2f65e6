#include <iostream>

#include "cli/command.hpp"
#include "synth/synth.hpp"

namespace satunet::cli {

Command synth_command() {
  return make_command(
      "synth", "generate a labelled, georeferenced scene (roads, buildings, trees, shadows)",
      "--out DIR [options]", synth::synth_option_table(), [](const synth::SynthOptions& options) {
        const synth::SynthResult result = synth::synthesize(options);
        std::cout << "scene:     " << result.scene_path << "\n"
                  << "truth:     " << result.truth_path << "\n"
                  << "buildings: " << result.buildings_path << " (" << result.buildings << ")\n"
                  << "roads:     " << result.roads_path << " (" << result.roads << ")\n";
        return 0;
      });
}

}  // namespace satunet::cli
