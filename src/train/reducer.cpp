#include "train/reducer.hpp"

#include <algorithm>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include "common/error.hpp"
#include "common/hash.hpp"
#include "common/timer.hpp"

namespace satunet::train {

struct GradientReducer::State {
  struct Bucket {
    std::vector<int> parameters;
    torch::Tensor flat;
    torch::Tensor host;  // pinned, where flat is on a GPU and the communicator takes host memory
    int pending = 0;
    std::shared_ptr<comm::Work> work;
  };
  comm::Communicator* comm = nullptr;
  std::vector<torch::Tensor> parameters;
  std::vector<int> bucket_of;
  std::vector<std::int64_t> offset;  // of each parameter in its bucket
  std::vector<char> ready;
  // Held here: a variable keeps its accumulator only weakly, and a new one would have no hook.
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
  std::vector<Bucket> buckets;
  std::size_t next_launch = 0;
  std::vector<int> arrival;                 // parameter indices in the order their gradients came
  std::vector<std::int64_t> rebuilt_order;  // the order of the rebuilt buckets
  bool rebuilt = false;
  bool synchronise = false;
  bool alive = true;
  bool through_host = false;  // GPU gradients, a communicator of host memory (MPI)
  double wait_seconds = 0;

  torch::Tensor new_flat(std::int64_t elements) const {
    return torch::zeros({elements}, parameters[0].options());
  }
  void close_bucket(std::int64_t elements) {
    Bucket& bucket = buckets.back();
    bucket.flat = new_flat(elements);
    if (through_host)
      bucket.host = torch::empty(
          {elements}, torch::TensorOptions().dtype(bucket.flat.dtype()).pinned_memory(true));
  }

  // Fills buckets in `order`: about `first_mb` for the first, then `bucket_mb` each.
  void build_buckets(const std::vector<int>& order, double first_mb, double bucket_mb) {
    buckets.clear();
    buckets.emplace_back();
    std::int64_t filled = 0;
    double cap_bytes = first_mb * 1024 * 1024;
    for (int index : order) {
      // Close a bucket once it holds its share, not before a large tensor: a bucket of one
      // small bias would cost a whole collective's latency.
      if (static_cast<double>(filled * 4) >= cap_bytes) {
        close_bucket(filled);
        buckets.emplace_back();
        filled = 0;
        cap_bytes = bucket_mb * 1024 * 1024;
      }
      bucket_of[static_cast<std::size_t>(index)] = static_cast<int>(buckets.size()) - 1;
      offset[static_cast<std::size_t>(index)] = filled;
      buckets.back().parameters.push_back(index);
      filled += parameters[static_cast<std::size_t>(index)].numel();
    }
    close_bucket(filled);
  }

  void copy_into_bucket(int index) {
    const torch::Tensor& parameter = parameters[static_cast<std::size_t>(index)];
    Bucket& bucket = buckets[static_cast<std::size_t>(bucket_of[static_cast<std::size_t>(index)])];
    torch::Tensor slice =
        bucket.flat.narrow(0, offset[static_cast<std::size_t>(index)], parameter.numel());
    const torch::Tensor grad = parameter.grad();
    if (grad.defined()) {
      slice.copy_(grad.reshape({-1}));
    } else {
      slice.zero_();  // unused this step: contributes nothing
    }
  }

  void mark_ready(int index) {
    if (!alive || !synchronise || ready[static_cast<std::size_t>(index)])
      return;
    ready[static_cast<std::size_t>(index)] = 1;
    arrival.push_back(index);
    copy_into_bucket(index);
    --buckets[static_cast<std::size_t>(bucket_of[static_cast<std::size_t>(index)])].pending;
    launch_in_order();
  }

  // Buckets go out in index order on every rank, whatever order they fill in.
  void launch_in_order() {
    while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
      Bucket& bucket = buckets[next_launch++];
      torch::Tensor& reduced = through_host ? bucket.host : bucket.flat;
      if (through_host)
        bucket.host.copy_(bucket.flat);
      bucket.work =
          comm->allreduce_sum_async(reduced.data_ptr(), reduced.numel(), comm::DataType::float32);
    }
  }
};

namespace {

// Runs a collective on `tensor`, or on a host copy of it written back afterwards where the
// tensor is on a GPU and the communicator takes host memory.
template <typename Collective>
void in_reducible_memory(torch::Tensor tensor, bool through_host, Collective collective) {
  if (!through_host || !tensor.is_cuda()) {
    collective(tensor);
    return;
  }
  torch::Tensor host = tensor.to(torch::kCPU).contiguous();
  collective(host);
  tensor.copy_(host);
}

class ReadyHook : public torch::autograd::FunctionPostHook {
 public:
  ReadyHook(std::shared_ptr<GradientReducer::State> state, int index)
      : state_(std::move(state)), index_(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    state_->mark_ready(index_);
    return outputs;
  }

 private:
  std::shared_ptr<GradientReducer::State> state_;
  int index_;
};

}  // namespace

GradientReducer::GradientReducer(torch::nn::Module& model, comm::Communicator& comm,
                                 double bucket_mb, double first_bucket_mb)
    : model_(model),
      comm_(comm),
      state_(std::make_shared<State>()),
      bucket_mb_(bucket_mb),
      first_bucket_mb_(first_bucket_mb) {
  state_->comm = &comm;
  for (const torch::Tensor& parameter : model.parameters())
    if (parameter.requires_grad())
      state_->parameters.push_back(parameter);
  const auto count = static_cast<int>(state_->parameters.size());
  state_->through_host =
      count > 0 && state_->parameters[0].is_cuda() && !comm.reduces_device_memory();
  state_->bucket_of.assign(static_cast<std::size_t>(count), 0);
  state_->offset.assign(static_cast<std::size_t>(count), 0);
  state_->ready.assign(static_cast<std::size_t>(count), 0);
  std::vector<int> reverse_order;
  for (int index = count - 1; index >= 0; --index)
    reverse_order.push_back(index);
  state_->build_buckets(reverse_order, first_bucket_mb, bucket_mb);
  for (int index = 0; index < count; ++index) {
    auto accumulator = torch::autograd::impl::grad_accumulator(
        state_->parameters[static_cast<std::size_t>(index)]);
    accumulator->add_post_hook(std::make_unique<ReadyHook>(state_, index));
    state_->accumulators.push_back(std::move(accumulator));
  }
}

GradientReducer::~GradientReducer() {
  state_->alive = false;
}

void GradientReducer::broadcast_from_root() {
  if (comm_.size() == 1)
    return;
  torch::NoGradGuard no_grad;
  auto broadcast = [&](const torch::Tensor& tensor) {
    comm_.broadcast(tensor.data_ptr(), tensor.numel() * tensor.element_size(), 0);
  };
  for (torch::Tensor tensor : model_.parameters())
    in_reducible_memory(tensor, state_->through_host, broadcast);
  for (torch::Tensor tensor : model_.buffers())
    in_reducible_memory(tensor, state_->through_host, broadcast);
}

void GradientReducer::check_same_buckets() {
  std::uint64_t layout = 0;
  for (std::int64_t size : bucket_sizes())
    layout = hash(layout, static_cast<std::uint64_t>(size));
  std::vector<std::uint64_t> all(static_cast<std::size_t>(comm_.size()));
  comm_.allgather(&layout, sizeof layout, all.data());
  for (int rank = 0; rank < comm_.size(); ++rank)
    if (all[static_cast<std::size_t>(rank)] != all[0])
      throw Error("rank " + std::to_string(rank) +
                  " has other gradient buckets than rank 0: every rank must build the same model");
}

void GradientReducer::average_buffers() {
  if (comm_.size() == 1)
    return;
  torch::NoGradGuard no_grad;
  for (torch::Tensor buffer : model_.buffers()) {
    if (!buffer.is_floating_point())
      continue;  // counters such as num_batches_tracked
    in_reducible_memory(buffer.contiguous(), state_->through_host, [&](torch::Tensor summed) {
      comm_.allreduce_sum(summed.data_ptr(), summed.numel(),
                          buffer.scalar_type() == torch::kFloat64 ? comm::DataType::float64
                                                                  : comm::DataType::float32);
      buffer.copy_(summed / comm_.size());
    });
  }
}

torch::Tensor GradientReducer::flat_statistics() const {
  std::vector<torch::Tensor> parts;
  for (const torch::Tensor& buffer : model_.buffers())
    if (buffer.is_floating_point())
      parts.push_back(buffer.detach().reshape({-1}).to(torch::kCPU, torch::kFloat32));
  return parts.empty() ? torch::zeros({0}) : torch::cat(parts).contiguous();
}

void GradientReducer::load_flat_statistics(const torch::Tensor& flat) {
  torch::NoGradGuard no_grad;
  std::int64_t offset = 0;
  for (torch::Tensor buffer : model_.buffers()) {
    if (!buffer.is_floating_point())
      continue;
    TRAIN_CHECK(offset + buffer.numel() <= flat.numel(), "running statistics of ", flat.numel(),
                " values do not fit the model");
    buffer.copy_(flat.narrow(0, offset, buffer.numel()).view_as(buffer));
    offset += buffer.numel();
  }
  TRAIN_CHECK(offset == flat.numel(), "running statistics of ", flat.numel(),
              " values for a model of ", offset);
}

void GradientReducer::prepare(bool synchronise) {
  State& state = *state_;
  // One replica has its gradients in .grad already, as DDP does at world size 1: no copies,
  // no collective, no scaling.
  state.synchronise = synchronise && comm_.size() > 1;
  std::fill(state.ready.begin(), state.ready.end(), 0);
  state.arrival.clear();
  state.next_launch = 0;
  for (auto& bucket : state.buckets) {
    bucket.pending = static_cast<int>(bucket.parameters.size());
    bucket.work.reset();
  }
}

void GradientReducer::finish() {
  State& state = *state_;
  if (!state.synchronise)
    return;
  for (int index = 0; index < static_cast<int>(state.parameters.size()); ++index)
    state.mark_ready(index);  // parameters the backward pass did not reach
  Stopwatch waiting;
  for (auto& bucket : state.buckets) {
    bucket.work->wait();
    if (state.through_host)
      bucket.flat.copy_(bucket.host);
  }
  state.wait_seconds += waiting.seconds();
  torch::NoGradGuard no_grad;
  const double scale = 1.0 / comm_.size();
  write_averaged_gradients(scale);
  state.synchronise = false;
  if (!state.rebuilt)
    rebuild_in_arrival_order();
}

// As DDP does after its first iteration: buckets follow the order gradients really arrive
// in (skip connections make it differ from the reverse registration order), so each bucket
// fills, and goes out, while backward is still running. Rank 0's order is used everywhere.
void GradientReducer::rebuild_in_arrival_order() {
  State& state = *state_;
  std::vector<std::int64_t> order(state.arrival.begin(), state.arrival.end());
  comm_.broadcast(order.data(), order.size() * sizeof(std::int64_t), 0);
  restore_arrival_order(order);
}

std::vector<std::int64_t> GradientReducer::arrival_order() const {
  return state_->rebuilt_order;
}

void GradientReducer::restore_arrival_order(const std::vector<std::int64_t>& order) {
  State& state = *state_;
  std::vector<int> indices(order.begin(), order.end());
  std::vector<int> sorted = indices;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); ++i)
    TRAIN_CHECK(sorted[i] == static_cast<int>(i) && sorted.size() == state.parameters.size(),
                "a bucket order of ", order.size(), " entries is no order of the model's ",
                state.parameters.size(), " parameters");
  state.build_buckets(indices, first_bucket_mb_, bucket_mb_);
  state.rebuilt_order = order;
  state.rebuilt = true;
}

void GradientReducer::write_averaged_gradients(double scale) {
  State& state = *state_;
  for (int index = 0; index < static_cast<int>(state.parameters.size()); ++index) {
    torch::Tensor& parameter = state.parameters[static_cast<std::size_t>(index)];
    const auto& bucket =
        state.buckets[static_cast<std::size_t>(state.bucket_of[static_cast<std::size_t>(index)])];
    torch::Tensor averaged =
        bucket.flat.narrow(0, state.offset[static_cast<std::size_t>(index)], parameter.numel())
            .view_as(parameter) *
        scale;
    if (parameter.grad().defined()) {
      parameter.mutable_grad().copy_(averaged);
    } else {
      parameter.mutable_grad() = averaged.clone();
    }
  }
}

int GradientReducer::buckets() const {
  return static_cast<int>(state_->buckets.size());
}

std::vector<std::int64_t> GradientReducer::bucket_sizes() const {
  std::vector<std::int64_t> sizes;
  for (const auto& bucket : state_->buckets)
    sizes.push_back(bucket.flat.numel());
  return sizes;
}

double GradientReducer::communication_wait_seconds() const {
  return state_->wait_seconds;
}

}  // namespace satunet::train
