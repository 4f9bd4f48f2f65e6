// The baseline `satunet tile` is compared with: a plain GDAL read of the whole scene, strip by
// strip (rows of the file's block height, all bands), doing nothing with the pixels.
// Prints: bytes, seconds, MB/s.
#include <gdal_priv.h>

#include <cstdio>
#include <vector>

#include "common/timer.hpp"
#include "geo/gdal.hpp"
#include "geo/raster.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: satunet_bench_read SCENE.tif\n");
    return 2;
  }
  try {
    satunet::geo::init_gdal();
    const satunet::geo::Raster raster = satunet::geo::Raster::open(argv[1]);
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
  } catch (const std::exception& error) {
    std::fprintf(stderr, "satunet_bench_read: %s\n", error.what());
    return 1;
  }
  return 0;
}
