#include "comm/single_process.hpp"

#include <cstring>

namespace satunet::comm {
namespace {

class DoneWork final : public Work {
 public:
  void wait() override {}
};

}  // namespace

std::shared_ptr<Work> SingleProcessCommunicator::allreduce_sum_async(void* data, std::size_t count,
                                                                     DataType type) {
  allreduce_sum(data, count, type);
  return std::make_shared<DoneWork>();
}

void SingleProcessCommunicator::broadcast(void*, std::size_t, int root) {
  COMM_CHECK(root == 0, "broadcast from rank ", root, " in a job of one process");
}

void SingleProcessCommunicator::allgather(const void* data, std::size_t bytes, void* out) {
  if (out != data && bytes > 0)
    std::memmove(out, data, bytes);
}

std::unique_ptr<Communicator> SingleProcessCommunicator::duplicate() const {
  return std::make_unique<SingleProcessCommunicator>();
}

}  // namespace satunet::comm
