#include "predict/predictor.hpp"

#include <torch/torch.h>

#include <memory>
#include <optional>

#include "common/error.hpp"
#include "model/checkpoint.hpp"
#include "model/runtime.hpp"
#include "model/torch_compat.hpp"
#include "predict/pixel_tensor.hpp"

namespace satunet::predict {
namespace {

// Softmax in float32 whatever the precision of the forward pass.
torch::Tensor class_probabilities(model::UNet& model, const torch::Tensor& images, shards::Tta tta,
                                  bool bf16) {
  const model::compat::CudaBf16Autocast autocast(bf16);
  auto probabilities = [&](const torch::Tensor& input) {
    return torch::softmax(model->forward(input).to(torch::kFloat32), 1);
  };
  torch::Tensor sum = probabilities(images);
  if (tta == shards::Tta::flips) {
    // Each flip of the input, predicted and flipped back: the mean of the four views.
    for (const std::vector<int64_t>& dims :
         {std::vector<int64_t>{3}, std::vector<int64_t>{2}, std::vector<int64_t>{2, 3}})
      sum += probabilities(images.flip(dims)).flip(dims);
    sum /= 4.0;
  }
  return sum;
}

// On the model's device, so that only the stored bytes travel back.
torch::Tensor encode(const torch::Tensor& probabilities, shards::ProbabilityEncoding encoding) {
  if (encoding == shards::ProbabilityEncoding::uint8)
    return probabilities.mul(255.0).round_().clamp_(0, 255).to(torch::kUInt8);
  return probabilities.to(torch::kHalf);
}

// A checkpoint as the pipeline's model, on the CPU or on this rank's GPU.
class CheckpointModel : public WindowModel {
 public:
  CheckpointModel(const PredictOptions& options, comm::Communicator& comm)
      : path_(options.checkpoint),
        checkpoint_(model::load_checkpoint(options.checkpoint)),
        tta_(options.tta) {
    check_finite_weights();
    model::set_threads(comm::threads_per_rank(options.threads, comm));
    model::keep_freed_memory();
    const comm::Placement placement =
        comm::place(std::nullopt, options.device, comm, model::cuda_devices());
    if (placement.on_gpu)
      device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(placement.gpu));
    bf16_ = model::bf16_autocast(options.precision, placement.on_gpu);
    checkpoint_.model->to(device_);
    checkpoint_.model->eval();
    normalise_.emplace(data::BandNormaliser::of(checkpoint_.meta.bands), device_);
  }

  ModelSpec spec() const {
    const model::CheckpointMeta& meta = checkpoint_.meta;
    ModelSpec spec;
    spec.name = path_;
    spec.tile_size = meta.tile_size;
    spec.levels = static_cast<int>(meta.model.levels());
    for (const model::BandNormalisation& band : meta.bands)
      spec.bands.push_back({band.name, band.mean, band.std, band.dtype});
    spec.classes = meta.classes;
    spec.pixel_size = meta.pixel_size;
    spec.tta = tta_;
    return spec;
  }

  // Pinned on a GPU: the copies to and from it are DMA transfers, and the one to it is not
  // waited for (the copy back, later on the same stream, is).
  HostBuffer host_buffer(std::size_t bytes) override {
    if (!device_.is_cuda())
      return plain_host_buffer(bytes);
    auto pinned = std::make_shared<torch::Tensor>(
        torch::empty({static_cast<int64_t>(bytes)},
                     torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(true)));
    return {pinned->data_ptr(), bytes, pinned};
  }

  void predict(const PixelBatch& images, shards::ProbabilityEncoding encoding,
               void* probabilities) override {
    torch::InferenceMode inference;
    const torch::Tensor input = resampled(
        (*normalise_)(pixel_tensor(images).to(device_, /*non_blocking=*/true), images.type),
        images.model_tile);
    const torch::Tensor encoded =
        encode(resampled(class_probabilities(checkpoint_.model, input, tta_, bf16_), images.tile),
               encoding);
    // Synchronous: when it returns, both buffers are free for the pipeline again.
    torch::from_blob(probabilities, encoded.sizes(),
                     torch::TensorOptions().dtype(encoded.scalar_type()))
        .copy_(encoded);
  }

  std::string describe() const override {
    return "device " + device_.str() + (bf16_ ? ", bf16 autocast" : "");
  }

 private:
  void check_finite_weights() const {
    for (const auto& item : checkpoint_.model->named_parameters())
      if (!torch::isfinite(item.value()).all().item<bool>())
        throw Error(path_ + ": " + item.key() +
                    " is not finite (a diverged run): it cannot predict");
  }

  std::string path_;
  model::LoadedCheckpoint checkpoint_;
  shards::Tta tta_;
  torch::Device device_{torch::kCPU};
  std::optional<PixelNormaliser> normalise_;  // on device_, once the model is there
  bool bf16_ = false;
};

}  // namespace

const options::Table<PredictOptions>& predict_option_table() {
  using O = PredictOptions;
  static const auto table =
      options::Table<O>()
          .value("checkpoint", &O::checkpoint, "checkpoint from satunet train", "C.pt")
          .required()
          .include(pipeline_option_table(), [](O& o) -> PipelineOptions& { return o; })
          .value("tta", &O::tta, "test-time augmentation: none, or flips (mean of 4 flipped views)")
          .value("device", &O::device,
                 "auto (the GPU of the rank's local rank when LibTorch has CUDA), cpu or cuda")
          .value("precision", &O::precision,
                 "auto (bf16 autocast on GPUs, float32 on CPUs), fp32 or bf16 (GPUs only)");
  return table;
}

void validate(const PredictOptions& options) {
  predict_option_table().check(options);
  validate(static_cast<const PipelineOptions&>(options));
}

PredictResult predict(const PredictOptions& options, comm::Communicator& comm) {
  validate(options);
  CheckpointModel model(options, comm);
  return run_prediction(options, model.spec(), model, comm);
}

RegionResult predict_region(const PredictOptions& options, comm::Communicator& comm) {
  validate(options);
  CheckpointModel model(options, comm);
  return predict_region(options, model.spec(), model, comm);
}

}  // namespace satunet::predict
