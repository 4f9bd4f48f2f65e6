#include <iostream>

#include "cli/command.hpp"
#include "common/text.hpp"
#include "dist/mpi_communicator.hpp"
#include "infer/predictor.hpp"
#include "infer/stitcher.hpp"

namespace satunet::cli {
namespace {

// The outputs of stitch beside the mask, shared by `stitch` and `predict --stitch-to`.
void declare_stitch_outputs(po::options_description& options) {
  // clang-format off
  options.add_options()
      ("probabilities", po::value<std::string>()->value_name("PROBS.tif"),
       "also write per-class probabilities (uint8, p x 255; 0 in every band where nodata)")
      ("polygons", po::value<std::string>()->value_name("OUT.geojson"),
       "also write polygons of the classes (.geojson or .gpkg, in the scene's CRS, fields class, "
       "class_id, area_m2)")
      ("polygon-classes", po::value<std::string>()->value_name("a,b"),
       "classes to polygonize (default: every class but the first)")
      ("simplify", po::value<double>()->default_value(0), "simplify polygons to this tolerance in metres")
      ("min-area", po::value<double>()->default_value(0), "drop polygons smaller than this, in square metres")
      ("format", po::value<std::string>()->default_value("GTiff"),
       "GTiff (tiled, DEFLATE) or COG (Cloud Optimized GeoTIFF with overviews)");
  // clang-format on
}

infer::StitchOptions stitch_options(const po::variables_map& values) {
  infer::StitchOptions options;
  options.probabilities = string_option(values, "probabilities");
  options.polygons = string_option(values, "polygons");
  const std::string classes = string_option(values, "polygon-classes");
  if (!classes.empty())
    options.polygon_classes = text::split(classes, ',');
  options.simplify_m = values["simplify"].as<double>();
  options.min_area_m2 = values["min-area"].as<double>();
  options.format = values["format"].as<std::string>();
  return options;
}

void print_stitched(const infer::StitchOptions& options, const infer::StitchResult& result) {
  std::cout << "mask: " << options.out << " (" << result.windows << " windows blended in "
            << result.seconds << " s)\n";
  if (!options.probabilities.empty())
    std::cout << "probabilities: " << options.probabilities << "\n";
  if (!options.polygons.empty())
    std::cout << "polygons: " << options.polygons << " (" << result.polygons << ")\n";
}

}  // namespace

Command predict_command() {
  Command command;
  command.name = "predict";
  command.summary = "run a checkpoint over a whole scene in overlapping windows, on all ranks";
  command.usage = "--checkpoint C.pt --image SCENE.tif --out PRED [--stitch-to MASK.tif] [options]";
  command.needs_mpi = true;
  command.declare = [](po::options_description& options, po::positional_options_description&) {
    const infer::PredictOptions d;
    // clang-format off
    options.add_options()
        ("checkpoint", po::value<std::string>()->value_name("C.pt"), "checkpoint from satunet train")
        ("image", po::value<std::string>()->value_name("SCENE.tif"),
         "georeferenced scene (any GDAL raster) with the bands the model was trained on")
        ("out", po::value<std::string>()->value_name("PRED"),
         "prediction directory: prediction.json + shards/rank-R-of-N.h5")
        ("tile", po::value<int>()->default_value(d.tile), "window size in pixels (0: the checkpoint's tile size)")
        ("overlap", po::value<int>()->default_value(d.overlap),
         "minimum overlap of neighbouring windows in pixels (-1: a quarter of the window)")
        ("batch", po::value<int>()->default_value(d.batch), "windows per forward pass")
        ("blend", po::value<std::string>()->default_value(d.blend),
         "weights of overlapping windows: gaussian (sigma = tile/8), cosine or uniform")
        ("tta", po::value<std::string>()->default_value(d.tta),
         "test-time augmentation: none, or flips (mean of 4 flipped views)")
        ("encoding", po::value<std::string>()->default_value(d.encoding),
         "stored probabilities: uint8 (p x 255) or float16")
        ("compress", po::value<int>()->default_value(d.compress), "deflate level of the shards, 0 = none")
        ("bands", po::value<std::string>()->value_name("1,2,3"),
         "1-based scene bands to use (default: every band but alpha, as satunet tile)")
        ("threads", po::value<int>()->default_value(d.threads),
         "LibTorch threads per rank; 0: cores per node / ranks per node")
        ("device", po::value<std::string>()->default_value(d.device),
         "auto (the GPU of the rank's local rank when LibTorch has CUDA), cpu or cuda")
        ("overwrite", po::bool_switch(), "replace an existing prediction in --out")
        ("stitch-to", po::value<std::string>()->value_name("MASK.tif"),
         "stitch the prediction into this class map when done (rank 0)");
    // clang-format on
    declare_stitch_outputs(options);
  };
  command.run = [](const po::variables_map& values) {
    infer::PredictOptions options;
    options.checkpoint = string_option(values, "checkpoint");
    options.image = string_option(values, "image");
    options.out = string_option(values, "out");
    options.tile = values["tile"].as<int>();
    options.overlap = values["overlap"].as<int>();
    options.batch = values["batch"].as<int>();
    options.blend = values["blend"].as<std::string>();
    options.tta = values["tta"].as<std::string>();
    options.encoding = values["encoding"].as<std::string>();
    options.compress = values["compress"].as<int>();
    for (const std::string& band : text::split(string_option(values, "bands"), ','))
      if (!band.empty())
        options.bands.push_back(text::parse_int(band, "--bands"));
    options.threads = values["threads"].as<int>();
    options.device = values["device"].as<std::string>();
    options.overwrite = values["overwrite"].as<bool>();
    options.command_line = invocation();
    infer::validate(options);
    infer::StitchOptions stitching = stitch_options(values);
    stitching.prediction = options.out;
    stitching.out = string_option(values, "stitch-to");
    if (!stitching.out.empty())
      infer::validate(stitching);

    dist::MpiCommunicator world;
    const infer::PredictResult result = infer::predict(options, world);
    if (world.rank() != 0)
      return 0;
    std::cout << "predicted " << result.windows << " windows (" << result.pixels / 1e6
              << " Mpx) in " << result.seconds << " s on " << world.size()
              << " ranks: " << options.out << "\n";
    if (!stitching.out.empty())
      print_stitched(stitching, infer::stitch(stitching));
    return 0;
  };
  return command;
}

Command stitch_command() {
  Command command;
  command.name = "stitch";
  command.summary = "blend a prediction directory into a georeferenced class map (streaming)";
  command.usage = "--pred PRED --out MASK.tif [--probabilities P.tif] [--polygons OUT.geojson]";
  command.declare = [](po::options_description& options, po::positional_options_description&) {
    // clang-format off
    options.add_options()
        ("pred", po::value<std::string>()->value_name("PRED"), "prediction directory from satunet predict")
        ("out", po::value<std::string>()->value_name("MASK.tif"),
         "class map: uint8, colour table and class names, 255 = nodata, the scene's grid")
        ("blend", po::value<std::string>()->value_name("KIND"),
         "override the prediction's blend: gaussian, cosine or uniform");
    // clang-format on
    declare_stitch_outputs(options);
  };
  command.run = [](const po::variables_map& values) {
    infer::StitchOptions options = stitch_options(values);
    options.prediction = string_option(values, "pred");
    options.out = string_option(values, "out");
    options.blend = string_option(values, "blend");
    print_stitched(options, infer::stitch(options));
    return 0;
  };
  return command;
}

}  // namespace satunet::cli
