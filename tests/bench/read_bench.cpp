// The baseline `satunet tile` is compared with: a plain GDAL read of the whole scene, strip by
// strip (rows of the file's block height, all bands), doing nothing with the pixels.
// Prints: bytes, seconds, MB/s; with --jsonl FILE also appends the records "read.seconds" (s)
// and "read.rate" (MB/s) (common/bench_record.hpp).
//   satunet_bench_read [--jsonl FILE] SCENE.tif
#include <gdal_priv.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/bench_record.hpp"
#include "common/timer.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    const satunet::bench::RecordFile records(satunet::bench::take_jsonl_option(args));
    if (args.size() != 1) {
      std::fprintf(stderr, "usage: satunet_bench_read [--jsonl FILE] SCENE.tif\n");
      return 2;
    }
    satunet::geo::init_gdal();
    const satunet::geo::Raster raster = satunet::geo::Raster::open(args[0]);
    const auto& info = raster.info();
    const GDALDataType type = info.bands.front().type;
    const int bytes = satunet::geo::data_type_bytes(type);
    std::vector<int> bands;
    for (const auto& band : info.bands)
      bands.push_back(band.index);
    const std::int64_t strip = info.bands.front().block_height;
    std::vector<std::uint8_t> buffer(static_cast<std::size_t>(
        info.width * strip * bytes * static_cast<std::int64_t>(bands.size())));
    satunet::Stopwatch clock;
    for (std::int64_t row = 0; row < info.height; row += strip) {
      const std::int64_t rows = std::min(strip, info.height - row);
      raster.read({0, row, info.width, rows}, bands, type, buffer.data());
    }
    const double seconds = clock.seconds();
    const double total = static_cast<double>(info.width * info.height * bytes) * bands.size();
    std::printf("%.0f %.3f %.1f\n", total, seconds, total / 1e6 / seconds);
    const char* gdal_threads = std::getenv("GDAL_NUM_THREADS");
    const nlohmann::json configuration = {
        {"image", args[0]},      {"bytes", static_cast<std::int64_t>(total)},
        {"width", info.width},   {"height", info.height},
        {"bands", bands.size()}, {"gdal_num_threads", gdal_threads ? gdal_threads : ""}};
    records.write("read", "read.seconds", seconds, "s", configuration);
    records.write("read", "read.rate", total / 1e6 / seconds, "MB/s", configuration);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "satunet_bench_read: %s\n", error.what());
    return 1;
  }
  return 0;
}
