#include "comm/nccl_communicator.hpp"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace satunet::comm {
namespace {

constexpr auto kErrorPollInterval = std::chrono::milliseconds(1);

ncclDataType_t nccl_type(DataType type) {
  switch (type) {
    case DataType::float32:
      return ncclFloat32;
    case DataType::float64:
      return ncclFloat64;
    case DataType::int64:
      return ncclInt64;
    case DataType::uint8:
      return ncclUint8;
  }
  return ncclUint8;
}

void check_cuda(cudaError_t status, const char* operation, int rank) {
  if (status != cudaSuccess)
    throw Error(std::string(operation) + " failed on rank " + std::to_string(rank) + ": " +
                cudaGetErrorString(status));
}

}  // namespace

int cuda_device_count(std::string* why) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    if (why)
      *why = cudaGetErrorString(status);
    cudaGetLastError();  // clear it: no driver is an answer here, not a failure
    return 0;
  }
  if (count == 0 && why)
    *why = "no CUDA device";
  return count;
}

struct NcclCommunicator::State {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t compute_done = nullptr;
  int rank = 0;

  // Waits for the stream while watching for asynchronous NCCL errors (a peer that died).
  void wait() {
    while (true) {
      const cudaError_t status = cudaStreamQuery(stream);
      if (status == cudaSuccess)
        return;
      if (status != cudaErrorNotReady)
        check_cuda(status, "cudaStreamQuery", rank);
      ncclResult_t async_error = ncclSuccess;
      ncclCommGetAsyncError(comm, &async_error);
      if (async_error != ncclSuccess) {
        ncclCommAbort(comm);
        comm = nullptr;
        throw Error("NCCL failed on rank " + std::to_string(rank) + ": " +
                    ncclGetErrorString(async_error) + " (communicator aborted)");
      }
      std::this_thread::sleep_for(kErrorPollInterval);
    }
  }

  void check(ncclResult_t status, const char* operation) {
    if (status != ncclSuccess && status != ncclInProgress)
      throw Error(std::string(operation) + " failed on rank " + std::to_string(rank) + ": " +
                  ncclGetErrorString(status));
  }
};

NcclCommunicator::NcclCommunicator(Communicator& bootstrap, int gpu)
    : bootstrap_(bootstrap), state_(std::make_unique<State>()), device_(gpu) {
  state_->rank = bootstrap.rank();
  std::string why;
  const int devices = cuda_device_count(&why);
  if (devices == 0)
    throw Error("--backend nccl: no GPU present on rank " + std::to_string(bootstrap.rank()) +
                " (" + why + "); use --backend mpi to train on CPUs");
  COMM_CHECK(gpu >= 0 && gpu < devices, "rank ", bootstrap.rank(), ": GPU ", gpu, " of ", devices);
  check_cuda(cudaSetDevice(device_), "cudaSetDevice", state_->rank);
  check_cuda(cudaStreamCreateWithFlags(&state_->stream, cudaStreamNonBlocking), "cudaStreamCreate",
             state_->rank);
  check_cuda(cudaEventCreateWithFlags(&state_->compute_done, cudaEventDisableTiming),
             "cudaEventCreate", state_->rank);
  ncclUniqueId id{};
  if (bootstrap.rank() == 0)
    state_->check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  bootstrap.broadcast(&id, sizeof id, 0);
  state_->check(ncclCommInitRank(&state_->comm, bootstrap.size(), id, bootstrap.rank()),
                "ncclCommInitRank");
}

NcclCommunicator::~NcclCommunicator() {
  if (state_->comm)
    ncclCommDestroy(state_->comm);
  if (state_->compute_done)
    cudaEventDestroy(state_->compute_done);
  if (state_->stream)
    cudaStreamDestroy(state_->stream);
}

void NcclCommunicator::allreduce_sum(void* data, std::size_t count, DataType type) {
  allreduce_sum_async(data, count, type)->wait();
}

std::shared_ptr<Work> NcclCommunicator::allreduce_sum_async(void* data, std::size_t count,
                                                            DataType type) {
  // The gradients come from work queued on LibTorch's default stream: NCCL's stream waits
  // for it on the device, the host does not.
  check_cuda(cudaEventRecord(state_->compute_done, cudaStreamLegacy), "cudaEventRecord",
             state_->rank);
  check_cuda(cudaStreamWaitEvent(state_->stream, state_->compute_done, 0), "cudaStreamWaitEvent",
             state_->rank);
  state_->check(
      ncclAllReduce(data, data, count, nccl_type(type), ncclSum, state_->comm, state_->stream),
      "ncclAllReduce");
  struct Pending : Work {
    State* state;
    explicit Pending(State* s) : state(s) {}
    void wait() override { state->wait(); }
  };
  return std::make_shared<Pending>(state_.get());
}

void NcclCommunicator::broadcast(void* data, std::size_t bytes, int root) {
  state_->check(ncclBroadcast(data, data, bytes, ncclUint8, root, state_->comm, state_->stream),
                "ncclBroadcast");
  state_->wait();
}

void NcclCommunicator::allgather(const void* data, std::size_t bytes, void* out) {
  state_->check(ncclAllGather(data, out, bytes, ncclUint8, state_->comm, state_->stream),
                "ncclAllGather");
  state_->wait();
}

DeviceFloats::DeviceFloats(std::size_t count) : count_(count) {
  void* memory = nullptr;
  check_cuda(cudaMalloc(&memory, std::max<std::size_t>(1, count) * sizeof(float)), "cudaMalloc",
             -1);
  data_ = static_cast<float*>(memory);
}

DeviceFloats::~DeviceFloats() {
  cudaFree(data_);
}

void DeviceFloats::upload(const std::vector<float>& values) {
  COMM_CHECK(values.size() == count_, "upload of ", values.size(), " values into ", count_);
  check_cuda(cudaMemcpy(data_, values.data(), count_ * sizeof(float), cudaMemcpyHostToDevice),
             "cudaMemcpy", -1);
}

std::vector<float> DeviceFloats::download() const {
  std::vector<float> values(count_);
  check_cuda(cudaMemcpy(values.data(), data_, count_ * sizeof(float), cudaMemcpyDeviceToHost),
             "cudaMemcpy", -1);
  return values;
}

void NcclCommunicator::barrier() {
  bootstrap_.barrier();
}

}  // namespace satunet::comm
