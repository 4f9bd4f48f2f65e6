#include <iostream>

#include "cli/command.hpp"
#include "comm/mpi_communicator.hpp"
#include "tiling/tiler.hpp"

namespace satunet::cli {

Command tile_command() {
  Command command = make_job_command(
      "tile", "cut scenes and their labels into HDF5 shards of tiles (MPI-parallel)",
      "--out DATASET (--image SCENE.tif ... | --scenes FILE.csv) [labels] [options]",
      tiling::tile_option_table(),
      [](const tiling::TileOptions& options) { tiling::validate(options); },
      [](tiling::TileOptions options) {
        options.command_line = invocation();
        const std::unique_ptr<comm::Communicator> world = comm::job_communicator();
        const shards::Manifest manifest = tiling::tile_dataset(options, *world);
        if (world->rank() == 0)
          std::cout << manifest.describe(options.out_dir);
        return 0;
      });
  command.alone_without_mpi = true;
  return command;
}

}  // namespace satunet::cli
