#include "data/dataset.hpp"

#include <algorithm>

#include "common/error.hpp"
#include "common/text.hpp"

namespace satunet::data {

ShardDataset::ShardDataset(const std::string& dir, const std::string& split)
    : dir_(dir),
      split_(split),
      manifest_(shards::Manifest::load(dir)),
      normaliser_(BandNormaliser::of(manifest_.bands)) {
  for (const shards::ShardEntry& entry : manifest_.shards) {
    if (entry.split != split)
      continue;
    auto reader = std::make_unique<shards::ShardReader>(dir + "/" + entry.path);
    const shards::ShardHeader& header = reader->header();
    if (header.tile_size != manifest_.tile_size || header.bands != bands())
      throw Error(reader->path() + ": tiles of " + std::to_string(header.tile_size) + " px and " +
                  std::to_string(header.bands) + " bands, the manifest says " +
                  std::to_string(manifest_.tile_size) + " px and " + std::to_string(bands()));
    if (header.class_names != manifest_.classes)
      throw Error(reader->path() + ": classes " + text::join(header.class_names, ",") +
                  ", the manifest says " + text::join(manifest_.classes, ","));
    if (reader->tiles() != entry.tiles)
      throw Error(reader->path() + ": holds " + std::to_string(reader->tiles()) +
                  " tiles, the manifest says " + std::to_string(entry.tiles));
    offsets_.push_back(offsets_.back() + reader->tiles());
    readers_.push_back(std::move(reader));
  }
  if (size() == 0)
    throw Error(dir + ": no " + split + " tiles in the dataset");
}

std::pair<const shards::ShardReader*, std::int64_t> ShardDataset::locate(std::int64_t index) const {
  if (index < 0 || index >= size())
    throw Error(dir_ + ": tile " + std::to_string(index) + " of " + std::to_string(size()) + " " +
                split_ + " tiles");
  const auto shard =
      std::upper_bound(offsets_.begin(), offsets_.end(), index) - offsets_.begin() - 1;
  return {readers_[static_cast<std::size_t>(shard)].get(),
          index - offsets_[static_cast<std::size_t>(shard)]};
}

void ShardDataset::read(std::int64_t index, float* image, std::uint8_t* labels) const {
  const auto [reader, local] = locate(index);
  reader->read_image_as_float(local, image);
  reader->read_labels(local, labels);
  const std::size_t plane = static_cast<std::size_t>(tile_size()) * tile_size();
  for (int band = 0; band < bands(); ++band) {
    float* values = image + band * plane;
    normaliser_.apply(band, values, values, plane);
  }
}

shards::TileWindow ShardDataset::window(std::int64_t index) const {
  const auto [reader, local] = locate(index);
  return reader->window(local);
}

int ShardDataset::scene(std::int64_t index) const {
  const auto [reader, local] = locate(index);
  return reader->scene(local);
}

}  // namespace satunet::data
