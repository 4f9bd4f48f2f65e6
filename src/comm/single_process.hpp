#pragma once
// The communicator of a job of one process started alone (not by mpirun or srun): every
// collective is what it is on one rank, and MPI is never started, whose start-up (a daemon
// forked, its components loaded) costs such a process 0.3 s.
#include "comm/communicator.hpp"

namespace satunet::comm {

class SingleProcessCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  std::string backend() const override { return "single process"; }

  void allreduce_sum(void*, std::size_t, DataType) override {}
  std::shared_ptr<Work> allreduce_sum_async(void* data, std::size_t count, DataType type) override;
  void broadcast(void*, std::size_t, int root) override;
  void allgather(const void* data, std::size_t bytes, void* out) override;
  void barrier() override {}
  std::unique_ptr<Communicator> duplicate() const override;
  using Communicator::allreduce_sum;
};

}  // namespace satunet::comm
