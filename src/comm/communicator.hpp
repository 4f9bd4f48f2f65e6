#pragma once
// The collective operations a data-parallel job needs, on raw buffers so that the same
// interface serves host memory (MPI) and device memory (NCCL).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/serial_worker.hpp"

#define COMM_CHECK(cond, ...) SATUNET_CHECK_IN("comm", cond, __VA_ARGS__)

namespace satunet::comm {

enum class DataType { float32, float64, int64, uint8 };
std::size_t element_size(DataType type);

// A collective in flight; wait() returns when its result is in place (or throws its error).
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
};

// A collective run as a job of a SerialWorker.
class JobWork : public Work {
 public:
  explicit JobWork(std::shared_ptr<JobHandle> job) : job_(std::move(job)) {}
  void wait() override { job_->wait(); }

 private:
  std::shared_ptr<JobHandle> job_;
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Rank among the processes of this node (the GPU to use).
  virtual int local_rank() const = 0;
  virtual int local_size() const = 0;
  virtual std::string backend() const = 0;
  // Whether the collectives take device (GPU) memory; else host memory only.
  virtual bool reduces_device_memory() const { return false; }

  // In-place sum over all ranks.
  virtual void allreduce_sum(void* data, std::size_t count, DataType type) = 0;
  // The same, started now and finished in the background; collectives started this way run
  // in the order they were started, which must be the same on every rank.
  virtual std::shared_ptr<Work> allreduce_sum_async(void* data, std::size_t count,
                                                    DataType type) = 0;
  virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
  // Every rank contributes `bytes`; `out` receives size() * bytes in rank order.
  virtual void allgather(const void* data, std::size_t bytes, void* out) = 0;
  virtual void barrier() = 0;
  // A communicator of the same ranks whose traffic never mixes with this one's (gradients
  // beside the job's own collectives). Backends that cannot, throw.
  virtual std::unique_ptr<Communicator> duplicate() const;

  // Typed conveniences.
  void allreduce_sum(std::vector<double>& values) {
    allreduce_sum(values.data(), values.size(), DataType::float64);
  }
  void allreduce_sum(std::vector<std::int64_t>& values) {
    allreduce_sum(values.data(), values.size(), DataType::int64);
  }
  double sum(double value) {
    allreduce_sum(&value, 1, DataType::float64);
    return value;
  }
  std::int64_t sum(std::int64_t value) {
    allreduce_sum(&value, 1, DataType::int64);
    return value;
  }
  std::string broadcast_string(const std::string& text, int root);
  std::vector<std::string> allgather_strings(const std::string& text);
};

// Runs `prepare` on rank 0 only (readying an output directory, say); the Error it throws is
// raised on every rank alike, as a JobError, so that the job ends cleanly with one message.
// Every rank must call it.
void prepare_on_root(Communicator& comm, const std::function<void()>& prepare);

// The most threads a rank takes (--threads): far above any node's cores, far below what would
// stall a machine.
constexpr int kMaxThreadsPerRank = 1024;

// Threads a rank should use: `requested` when positive, else the node's cores shared evenly
// by the ranks on the node.
int threads_per_rank(int requested, const Communicator& comm);

}  // namespace satunet::comm
