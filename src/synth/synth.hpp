#pragma once
// `satunet synth`: a deterministic, georeferenced, labelled scene to run every stage on.
#include <cstdint>
#include <string>

#include "common/options.hpp"
#include "common/output_directory.hpp"

namespace satunet::synth {

enum class SampleType { uint8, uint16 };
inline const options::EnumNames<SampleType>& enum_names(SampleType) {
  static const options::EnumNames<SampleType> names{{SampleType::uint8, "uint8"},
                                                    {SampleType::uint16, "uint16"}};
  return names;
}

struct SynthOptions {
  std::string out_dir;
  std::int64_t size = 2048;
  std::uint64_t seed = 1;
  int bands = 3;  // 3 = RGB, 4 = RGB + near infrared
  SampleType dtype = SampleType::uint8;
  int epsg = 32633;               // a projected CRS in metres
  double gsd = 0.5;               // metres per pixel
  std::int64_t strip_rows = 256;  // rows drawn and written at a time
  bool overwrite = false;
};

struct SynthResult {
  std::string scene_path;
  std::string truth_path;
  std::string buildings_path;
  std::string roads_path;
  std::int64_t buildings = 0;
  std::int64_t roads = 0;
  std::int64_t trees = 0;
};

// The files a scene directory holds: what --overwrite replaces.
Product scene_product();
const options::Table<SynthOptions>& synth_option_table();
// Throws UsageError for invalid options before anything is written.
void validate(const SynthOptions& options);
SynthResult synthesize(const SynthOptions& options);

}  // namespace satunet::synth
