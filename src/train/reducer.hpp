#pragma once
// Gradient synchronisation as PyTorch DDP does it: gradients grouped into buckets in reverse
// parameter order (about 1 MB first, so communication starts early, then --bucket-mb); a
// post-hook on each parameter's gradient accumulator marks it ready; a full bucket is
// all-reduced in the background while backward goes on; buckets are launched in index order
// on every rank (checked at start); finish() waits and scales by 1/world. One replica
// (world size 1) does none of it: its gradients are already the average. GPU gradients under a
// communicator of host memory (--backend mpi --device cuda) go through pinned host buckets.
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "comm/communicator.hpp"
#include "common/error.hpp"

#define TRAIN_CHECK(cond, ...) SATUNET_CHECK_IN("train", cond, __VA_ARGS__)

namespace satunet::train {

class GradientReducer {
 public:
  GradientReducer(torch::nn::Module& model, comm::Communicator& comm, double bucket_mb,
                  double first_bucket_mb = 1.0);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Parameters and buffers of rank 0 everywhere.
  void broadcast_from_root();
  // Refuses to train when ranks disagree on the buckets (different models or builds).
  void check_same_buckets();
  // Averages the buffers (batch-norm running statistics) across ranks.
  void average_buffers();
  // This rank's floating-point buffers (the running statistics) as one float32 vector on the
  // CPU, and back.
  torch::Tensor flat_statistics() const;
  void load_flat_statistics(const torch::Tensor& flat);

  // Before a backward pass: whether its gradients are to be synchronised (the last
  // micro-batch of an accumulation) or only accumulated locally.
  void prepare(bool synchronise);
  // After backward: launches what is left, waits, and leaves the averaged gradients in .grad.
  void finish();

  // The parameter order the buckets follow once rebuilt after the first step (empty before),
  // for a checkpoint; and rebuilding them in a saved order, so that a resumed run reduces in
  // the same pieces as the uninterrupted one (the pieces decide the order of the sums).
  std::vector<std::int64_t> arrival_order() const;
  void restore_arrival_order(const std::vector<std::int64_t>& order);

  int buckets() const;
  std::vector<std::int64_t> bucket_sizes() const;  // elements per bucket, in launch order
  double communication_wait_seconds() const;

  struct State;  // shared with the hooks, which outlive nothing they point to

 private:
  void rebuild_in_arrival_order();
  void write_averaged_gradients(double scale);

  torch::nn::Module& model_;
  comm::Communicator& comm_;
  std::shared_ptr<State> state_;
  double bucket_mb_;
  double first_bucket_mb_;
};

}  // namespace satunet::train
