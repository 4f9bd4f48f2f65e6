#pragma once
// The GPU backend: NCCL collectives on device buffers, bootstrapped over MPI (rank 0 makes the
// unique id, MPI broadcasts it), one GPU per process chosen by the node-local rank, a stream of
// its own, and asynchronous NCCL errors polled while waiting (the communicator is aborted
// rather than left hanging).
#include <memory>
#include <string>

#include "dist/communicator.hpp"
#include "dist/mpi_communicator.hpp"

namespace satunet::dist {

// Number of usable CUDA devices; 0 when there is none or no driver ("driver version is
// insufficient" counts as none). `why` receives the CUDA message in that case.
int cuda_device_count(std::string* why = nullptr);

class NcclCommunicator final : public Communicator {
 public:
  // Throws Error("... no GPU ...") when this node has no usable GPU.
  explicit NcclCommunicator(MpiCommunicator& bootstrap);
  ~NcclCommunicator() override;

  int rank() const override { return bootstrap_.rank(); }
  int size() const override { return bootstrap_.size(); }
  int local_rank() const override { return bootstrap_.local_rank(); }
  int local_size() const override { return bootstrap_.local_size(); }
  std::string backend() const override { return "nccl"; }
  int device() const { return device_; }

  // `data` must be device memory.
  void allreduce_sum(void* data, std::size_t count, DataType type) override;
  std::shared_ptr<Work> allreduce_sum_async(void* data, std::size_t count, DataType type) override;
  void broadcast(void* data, std::size_t bytes, int root) override;
  void allgather(const void* data, std::size_t bytes, void* out) override;
  void barrier() override;

 private:
  struct State;
  MpiCommunicator& bootstrap_;
  std::unique_ptr<State> state_;
  int device_ = 0;
};

}  // namespace satunet::dist
