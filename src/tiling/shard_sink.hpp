#pragma once
// Where one rank's tiles go: each is encoded (compressed) on a thread of its own, and a
// background thread appends them in order to the rank's shards (a new file every
// --shard-tiles tiles, per split), so that compression and HDF5 overlap with reading and cutting
// the next ones. A failure there comes back at the next push or at finish().
#include <cstdint>
#include <exception>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/bounded_queue.hpp"
#include "shards/manifest.hpp"
#include "shards/shard.hpp"
#include "tiling/tile_options.hpp"

namespace satunet::tiling {

class ShardSink {
 public:
  struct Tile {
    shards::ShardHeader header;
    std::vector<std::uint8_t> image;  // C*T*T values of header.dtype
    std::vector<std::uint8_t> labels;
    shards::TileWindow window;
    int scene = 0;
  };

  // A tile encoded (shuffled, compressed, checksummed) on its own thread, the writer's input.
  struct EncodedTile {
    shards::ShardHeader header;
    shards::EncodedTile data;
    shards::TileWindow window;
    int scene = 0;
  };

  ShardSink(const TileOptions& options, int rank);
  ~ShardSink();  // drops what is queued; uncommitted shards are removed
  ShardSink(const ShardSink&) = delete;
  ShardSink& operator=(const ShardSink&) = delete;

  void push(Tile tile);
  // Writes what is queued, commits every open shard and returns all shards written.
  std::vector<shards::ShardEntry> finish();

 private:
  class SplitShards;
  void write_loop();

  const TileOptions& options_;
  int rank_;
  std::map<std::string, std::unique_ptr<SplitShards>> writers_;  // used by the worker only
  std::vector<shards::ShardEntry> done_;
  // In order; each tile is encoded on its own thread while the writer stores those before it,
  // so compression runs on every core and the one HDF5 writer only stores bytes.
  BoundedQueue<std::future<EncodedTile>> queue_;
  std::thread worker_;  // last: starts when everything above exists
};

}  // namespace satunet::tiling
