#pragma once
// The streaming blend at the heart of `satunet stitch`, also fed straight from the model by
// `satunet predict --stitch-to` (no prediction shards in between): the windows of the grid, in
// grid order, are weighted and summed into a band of rows one window tall; a row that no later
// window reaches is divided out, its argmax written, and dropped. Both paths add the same
// windows in the same order through the same code, so their masks are byte-identical.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "geo/window_grid.hpp"
#include "shards/prediction.hpp"
#include "stitch/stitcher.hpp"

namespace satunet::stitch {

class MaskBlender {
 public:
  // The outputs are checked (never `meta.scene`, nothing existing unless `overwrite`) and
  // created under temporary names before any window comes. Rows of windows are blended on
  // `threads` threads.
  MaskBlender(const std::string& mask, const StitchOutputs& outputs, bool overwrite,
              const shards::PredictionMeta& meta, shards::Blend blend, int threads);
  ~MaskBlender();  // outputs not finished are removed
  MaskBlender(const MaskBlender&) = delete;
  MaskBlender& operator=(const MaskBlender&) = delete;

  const geo::WindowGrid& grid() const;
  // The GDAL block cache the outputs need (a few block rows of each), in bytes.
  std::int64_t cache_bytes() const;

  // Window `index` of the grid, which must be the one after the last added: C*T*T
  // probabilities as prediction shards store them (`meta.encoding`: uint8 p * 255, or float16
  // bits; decoded as PredictionReader decodes them) and T*T validity bytes (0: no data, the
  // window's weight is not counted). Both are copied: the caller's buffers are free on return.
  void add(std::int64_t index, const void* probabilities, const std::uint8_t* valid);
  // Windows first .. first + count - 1, the first of them the one due, laid out one after the
  // other as `add` takes one: blended in place before it returns (nothing copied), for a
  // caller that holds whole batches. Either this or `add` within a row of the grid.
  void add_windows(std::int64_t first, std::int64_t count, const void* probabilities,
                   const std::uint8_t* valid);
  // The rows below the last window; every output committed, the polygons made. `seconds` of
  // the result is left to the caller.
  StitchResult finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Throws UsageError when the outputs cannot be what they are asked to be (a vector format
// unknown, one path named for two outputs, negative polygon settings).
void validate_outputs(const std::string& mask, const StitchOutputs& outputs);
// Throws Error when an output would replace one of `inputs` (the scene, the prediction) or lie
// inside one, or replace an existing file without `overwrite`.
void check_outputs(const std::string& mask, const StitchOutputs& outputs, bool overwrite,
                   const std::vector<std::string>& inputs);

}  // namespace satunet::stitch
