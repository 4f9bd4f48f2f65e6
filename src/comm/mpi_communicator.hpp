#pragma once
// The MPI backend, and MPI's lifetime in the process. <mpi.h> stays inside the library.
#include <memory>
#include <optional>
#include <utility>

#include "comm/communicator.hpp"

namespace satunet::comm {

// Owns MPI initialisation for the process: the first instance initialises MPI (threads
// allowed), and finalisation happens when the last one goes away.
class MpiRuntime {
 public:
  MpiRuntime();
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;

  static bool initialized();
  // Whether MPI lets several threads call it at once (the background all-reduce needs it).
  static bool multithreaded();
  // Ends every rank of the job: used when one rank fails so that none hangs.
  [[noreturn]] static void abort(int exit_code);
};

// Which processes a communicator spans.
enum class MpiScope { world, self };

class MpiCommunicator final : public Communicator {
 public:
  // Duplicates the scope's communicator, so that the library's traffic never mixes with the
  // caller's.
  explicit MpiCommunicator(MpiScope scope = MpiScope::world);
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  std::string backend() const override { return "mpi"; }

  void allreduce_sum(void* data, std::size_t count, DataType type) override;
  std::shared_ptr<Work> allreduce_sum_async(void* data, std::size_t count, DataType type) override;
  void broadcast(void* data, std::size_t bytes, int root) override;
  void allgather(const void* data, std::size_t bytes, void* out) override;
  void barrier() override;
  std::unique_ptr<Communicator> duplicate() const override;
  using Communicator::allreduce_sum;

 private:
  struct Handle;  // the MPI_Comm
  explicit MpiCommunicator(const Handle& parent);
  void find_local_rank();
  class Engine;  // the background communication thread, as Horovod has
  std::unique_ptr<Handle> handle_;
  std::unique_ptr<Engine> engine_;  // started on first use
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
};

// {local rank, ranks on this node} from OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID,
// PMI_LOCAL_RANK or MPI_LOCALRANKID (the first set), or nothing when none is.
std::optional<std::pair<int, int>> local_rank_from_environment();

}  // namespace satunet::comm
