#include <iostream>

#include "cli/command.hpp"
#include "tiling/tiler.hpp"

namespace satunet::cli {

Command tile_command() {
  return make_job_command(
      "tile", "cut scenes and their labels into HDF5 shards of tiles (MPI-parallel)",
      "--out DATASET (--image SCENE.tif ... | --scenes FILE.csv) [labels] [options]",
      tiling::tile_option_table(), Launch::mpi_or_alone,
      [](const tiling::TileOptions& options) { tiling::validate(options); },
      [](tiling::TileOptions options, comm::Communicator& world) {
        options.command_line = invocation();
        const shards::Manifest manifest = tiling::tile_dataset(options, world);
        if (world.rank() == 0)
          std::cout << manifest.describe(options.out_dir);
        return 0;
      });
}

}  // namespace satunet::cli
