#include "tiling/shard_sink.hpp"

namespace satunet::tiling {
namespace {

// Tiles queued for the writer at most, each encoding on its own thread meanwhile: enough to
// keep every core compressing, little memory.
constexpr std::size_t kQueueTiles = 8;

}  // namespace

// The shards of one split on one rank.
class ShardSink::SplitShards {
 public:
  SplitShards(const TileOptions& options, const shards::ShardHeader& header, int rank)
      : options_(options), header_(header), rank_(rank) {}

  void append(const EncodedTile& tile, std::vector<shards::ShardEntry>& done) {
    if (!writer_) {
      relative_ = shards::dataset_shard_name(header_.split, rank_, next_index_++);
      writer_ = std::make_unique<shards::ShardWriter>(options_.out_dir + "/" + relative_, header_,
                                                      options_.compress);
    }
    writer_->append(tile.data, tile.window, tile.scene);
    if (writer_->tiles() >= options_.shard_tiles)
      finish(done);
  }

  void finish(std::vector<shards::ShardEntry>& done) {
    if (!writer_)
      return;
    const std::int64_t tiles = writer_->tiles();
    writer_->commit();
    writer_.reset();
    done.push_back({relative_, tiles, header_.split, rank_});
  }

 private:
  const TileOptions& options_;
  shards::ShardHeader header_;
  int rank_;
  int next_index_ = 0;
  std::string relative_;
  std::unique_ptr<shards::ShardWriter> writer_;
};

ShardSink::ShardSink(const TileOptions& options, int rank)
    : options_(options), rank_(rank), queue_(kQueueTiles), worker_([this] { write_loop(); }) {}

ShardSink::~ShardSink() {
  queue_.cancel();
  if (worker_.joinable())
    worker_.join();
}

void ShardSink::push(Tile tile) {
  const shards::Compression compression = options_.compress;
  std::future<EncodedTile> encoded =
      std::async(std::launch::async, [compression, tile = std::move(tile)] {
        return EncodedTile{tile.header,
                           shards::ShardWriter::encode(tile.header, compression, tile.image.data(),
                                                       tile.labels.data()),
                           tile.window, tile.scene};
      });
  if (queue_.push(std::move(encoded)))
    return;
  if (const std::exception_ptr failure = queue_.failure())
    std::rethrow_exception(failure);
  throw Error(options_.out_dir + ": the shard writer of rank " + std::to_string(rank_) +
              " stopped");
}

std::vector<shards::ShardEntry> ShardSink::finish() {
  queue_.close();
  worker_.join();
  if (const std::exception_ptr failure = queue_.failure())
    std::rethrow_exception(failure);
  for (auto& [split, shards] : writers_)
    shards->finish(done_);
  return done_;
}

void ShardSink::write_loop() {
  try {
    while (std::optional<std::future<EncodedTile>> encoded = queue_.pop()) {
      const EncodedTile tile = encoded->get();
      auto& writer = writers_[tile.header.split];
      if (!writer)
        writer = std::make_unique<SplitShards>(options_, tile.header, rank_);
      writer->append(tile, done_);
    }
  } catch (...) {
    queue_.cancel(std::current_exception());
  }
}

}  // namespace satunet::tiling
