#pragma once
// `satunet tile`: scenes and labels -> a dataset directory of HDF5 shards + manifest.json.
// Tile rows are spread over the ranks in contiguous runs; each rank writes its own shards and
// rank 0 merges counts and statistics into the manifest, written last.
#include "comm/communicator.hpp"
#include "shards/manifest.hpp"
#include "tiling/tile_options.hpp"

namespace satunet::tiling {

// Collective over `comm`: every rank calls it. Returns the manifest (complete on rank 0).
shards::Manifest tile_dataset(const TileOptions& options, comm::Communicator& comm);

}  // namespace satunet::tiling
