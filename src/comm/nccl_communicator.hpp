#pragma once
// The GPU backend: NCCL collectives on device buffers, bootstrapped over another communicator
// (rank 0 makes the unique id, MPI broadcasts it), one GPU per process (see placement.hpp), a
// stream of its own, and asynchronous NCCL errors polled while waiting (the communicator is
// aborted rather than left hanging).
#include <memory>
#include <string>

#include "comm/communicator.hpp"

namespace satunet::comm {

// Number of usable CUDA devices; 0 when there is none or no driver ("driver version is
// insufficient" counts as none). `why` receives the CUDA message in that case.
int cuda_device_count(std::string* why = nullptr);

// Float32 values in device memory, for tests and benchmarks of the collectives.
class DeviceFloats {
 public:
  explicit DeviceFloats(std::size_t count);
  ~DeviceFloats();
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;
  float* data() { return data_; }
  std::size_t size() const { return count_; }
  void upload(const std::vector<float>& values);
  std::vector<float> download() const;

 private:
  float* data_ = nullptr;
  std::size_t count_ = 0;
};

class NcclCommunicator final : public Communicator {
 public:
  // Throws Error("... no GPU ...") when this node has no usable GPU. `bootstrap` must outlive
  // this communicator (barrier() goes through it).
  NcclCommunicator(Communicator& bootstrap, int gpu);
  ~NcclCommunicator() override;

  int rank() const override { return bootstrap_.rank(); }
  int size() const override { return bootstrap_.size(); }
  int local_rank() const override { return bootstrap_.local_rank(); }
  int local_size() const override { return bootstrap_.local_size(); }
  std::string backend() const override { return "nccl"; }
  bool reduces_device_memory() const override { return true; }
  int device() const { return device_; }

  // `data` must be device memory.
  void allreduce_sum(void* data, std::size_t count, DataType type) override;
  std::shared_ptr<Work> allreduce_sum_async(void* data, std::size_t count, DataType type) override;
  void broadcast(void* data, std::size_t bytes, int root) override;
  void allgather(const void* data, std::size_t bytes, void* out) override;
  void barrier() override;

 private:
  struct State;
  Communicator& bootstrap_;
  std::unique_ptr<State> state_;
  int device_ = 0;
};

}  // namespace satunet::comm
