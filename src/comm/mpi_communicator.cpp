#include "comm/mpi_communicator.hpp"

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "common/log.hpp"
#include "common/serial_worker.hpp"

namespace satunet::comm {
namespace {

int g_runtime_users = 0;
bool g_we_initialized = false;

void check_mpi(int status, const char* operation, int rank) {
  if (status == MPI_SUCCESS)
    return;
  char message[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(status, message, &length);
  throw Error(std::string(operation) + " failed on rank " + std::to_string(rank) + ": " +
              std::string(message, static_cast<std::size_t>(length)));
}

MPI_Datatype mpi_type(DataType type) {
  switch (type) {
    case DataType::float32:
      return MPI_FLOAT;
    case DataType::float64:
      return MPI_DOUBLE;
    case DataType::int64:
      return MPI_INT64_T;
    case DataType::uint8:
      return MPI_UINT8_T;
  }
  return MPI_BYTE;
}

// MPI counts are int: larger buffers go in pieces.
constexpr std::size_t kMaxChunk = static_cast<std::size_t>(INT_MAX) / 8;

void allreduce_in_chunks(void* data, std::size_t count, DataType type, MPI_Comm comm, int rank) {
  auto* bytes = static_cast<char*>(data);
  const std::size_t size = element_size(type);
  for (std::size_t done = 0; done < count; done += kMaxChunk) {
    const std::size_t chunk = std::min(kMaxChunk, count - done);
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, bytes + done * size, static_cast<int>(chunk),
                            mpi_type(type), MPI_SUM, comm),
              "MPI_Allreduce", rank);
  }
}

}  // namespace

MpiRuntime::MpiRuntime() {
  if (g_runtime_users++ > 0)
    return;
  int already = 0;
  MPI_Initialized(&already);
  if (already)
    return;
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_MULTIPLE, &provided);
  g_we_initialized = true;
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  log::set_rank(rank, size);
  // Errors come back as codes, which check_mpi turns into exceptions with context.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

MpiRuntime::~MpiRuntime() {
  if (--g_runtime_users > 0 || !g_we_initialized)
    return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized)
    MPI_Finalize();
}

bool MpiRuntime::multithreaded() {
  int level = MPI_THREAD_SINGLE;
  if (initialized())
    MPI_Query_thread(&level);
  return level >= MPI_THREAD_MULTIPLE;
}

bool MpiRuntime::initialized() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

void MpiRuntime::abort(int exit_code) {
  if (initialized())
    MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::exit(exit_code);
}

// Runs all-reduces one after another on a thread of its own (as Horovod has), on its own
// duplicate of the communicator, so that they overlap with the caller's computation and never
// mix with its collectives.
class MpiCommunicator::Engine {
 public:
  Engine(MPI_Comm comm, int rank) : rank_(rank) {
    check_mpi(MPI_Comm_dup(comm, &comm_), "MPI_Comm_dup", rank);
  }
  ~Engine() {
    worker_.reset();  // finishes what is queued
    if (MpiRuntime::initialized())
      MPI_Comm_free(&comm_);
  }
  std::shared_ptr<Work> submit(void* data, std::size_t count, DataType type) {
    return std::make_shared<JobWork>(
        worker_->submit([=] { allreduce_in_chunks(data, count, type, comm_, rank_); }));
  }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_;
  std::unique_ptr<SerialWorker> worker_ = std::make_unique<SerialWorker>();
};

struct MpiCommunicator::Handle {
  MPI_Comm comm = MPI_COMM_NULL;
};

MpiCommunicator::MpiCommunicator(MpiScope scope)
    : MpiCommunicator(Handle{scope == MpiScope::world ? MPI_COMM_WORLD : MPI_COMM_SELF}) {}

MpiCommunicator::MpiCommunicator(const Handle& parent) : handle_(std::make_unique<Handle>()) {
  COMM_CHECK(MpiRuntime::initialized(), "MPI is not initialised");
  check_mpi(MPI_Comm_dup(parent.comm, &handle_->comm), "MPI_Comm_dup", 0);
  MPI_Comm_set_errhandler(handle_->comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(handle_->comm, &rank_);
  MPI_Comm_size(handle_->comm, &size_);
  find_local_rank();
}

std::unique_ptr<Communicator> MpiCommunicator::duplicate() const {
  return std::unique_ptr<Communicator>(new MpiCommunicator(*handle_));
}

// The ranks sharing this node, from MPI; where an MPI cannot split by shared memory, from the
// variables the common launchers set (Open MPI, SLURM, Hydra/PMI, Intel MPI).
void MpiCommunicator::find_local_rank() {
  MPI_Comm node_comm = MPI_COMM_NULL;
  if (MPI_Comm_split_type(handle_->comm, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node_comm) ==
          MPI_SUCCESS &&
      node_comm != MPI_COMM_NULL) {
    MPI_Comm_rank(node_comm, &local_rank_);
    MPI_Comm_size(node_comm, &local_size_);
    MPI_Comm_free(&node_comm);
    return;
  }
  const auto from_environment = local_rank_from_environment();
  COMM_CHECK(from_environment.has_value(), "rank ", rank_,
             ": MPI_Comm_split_type failed and no launcher variable gives the local rank");
  local_rank_ = from_environment->first;
  local_size_ = from_environment->second;
}

std::optional<std::pair<int, int>> local_rank_from_environment() {
  const std::pair<const char*, const char*> variables[] = {
      {"OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
      {"SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"},
      {"PMI_LOCAL_RANK", "PMI_LOCAL_SIZE"},
      {"MPI_LOCALRANKID", "MPI_LOCALNRANKS"}};
  for (const auto& [rank_name, size_name] : variables) {
    const char* rank = std::getenv(rank_name);
    if (!rank || !*rank)
      continue;
    const char* size = std::getenv(size_name);
    const int local_rank = std::atoi(rank);
    // A launcher that names the rank but not the count: at least rank + 1 ranks share the node.
    const int local_size = size && *size ? std::atoi(size) : local_rank + 1;
    return std::make_pair(local_rank, std::max(local_size, local_rank + 1));
  }
  return std::nullopt;
}

MpiCommunicator::~MpiCommunicator() {
  engine_.reset();
  if (handle_->comm != MPI_COMM_NULL && MpiRuntime::initialized())
    MPI_Comm_free(&handle_->comm);
}

void MpiCommunicator::allreduce_sum(void* data, std::size_t count, DataType type) {
  allreduce_in_chunks(data, count, type, handle_->comm, rank_);
}

std::shared_ptr<Work> MpiCommunicator::allreduce_sum_async(void* data, std::size_t count,
                                                           DataType type) {
  if (!MpiRuntime::multithreaded()) {
    // Without MPI_THREAD_MULTIPLE no second thread may talk: reduce now, return it done.
    struct Done : Work {
      void wait() override {}
    };
    allreduce_sum(data, count, type);
    return std::make_shared<Done>();
  }
  if (!engine_)
    engine_ = std::make_unique<Engine>(handle_->comm, rank_);
  return engine_->submit(data, count, type);
}

void MpiCommunicator::broadcast(void* data, std::size_t bytes, int root) {
  auto* buffer = static_cast<char*>(data);
  for (std::size_t done = 0; done < bytes; done += kMaxChunk) {
    const std::size_t chunk = std::min(kMaxChunk, bytes - done);
    check_mpi(MPI_Bcast(buffer + done, static_cast<int>(chunk), MPI_BYTE, root, handle_->comm),
              "MPI_Bcast", rank_);
  }
}

void MpiCommunicator::allgather(const void* data, std::size_t bytes, void* out) {
  COMM_CHECK(bytes <= kMaxChunk, "allgather of ", bytes, " bytes per rank is too large");
  check_mpi(MPI_Allgather(data, static_cast<int>(bytes), MPI_BYTE, out, static_cast<int>(bytes),
                          MPI_BYTE, handle_->comm),
            "MPI_Allgather", rank_);
}

void MpiCommunicator::barrier() {
  check_mpi(MPI_Barrier(handle_->comm), "MPI_Barrier", rank_);
}

}  // namespace satunet::comm
