#include <gtest/gtest.h>

#include "dist/mpi_communicator.hpp"

namespace satunet::dist {

TEST(MpiSmoke, AllreduceSumsOverRanks) {
  MpiCommunicator comm;
  const int n = comm.size();
  EXPECT_EQ(comm.sum(static_cast<std::int64_t>(comm.rank() + 1)),
            static_cast<std::int64_t>(n * (n + 1) / 2));
  std::vector<double> values{1.5, static_cast<double>(comm.rank()), -2.0};
  comm.allreduce_sum(values);
  EXPECT_DOUBLE_EQ(values[0], 1.5 * n);
  EXPECT_DOUBLE_EQ(values[1], n * (n - 1) / 2.0);
  EXPECT_DOUBLE_EQ(values[2], -2.0 * n);
  std::vector<float> floats(1000, 0.25f);
  comm.allreduce_sum(floats.data(), floats.size(), DataType::float32);
  for (float value : floats)
    ASSERT_FLOAT_EQ(value, 0.25f * n);
}

TEST(MpiSmoke, BroadcastAndGather) {
  MpiCommunicator comm;
  const std::string text = comm.broadcast_string(comm.rank() == 0 ? "from rank 0" : "", 0);
  EXPECT_EQ(text, "from rank 0");
  const auto names = comm.allgather_strings("rank-" + std::string(comm.rank() + 1, 'x'));
  ASSERT_EQ(static_cast<int>(names.size()), comm.size());
  for (int r = 0; r < comm.size(); ++r)
    EXPECT_EQ(names[r], "rank-" + std::string(r + 1, 'x'));
  comm.barrier();
}

TEST(MpiSmoke, LocalRankOnOneNode) {
  MpiCommunicator comm;
  // mpiexec here starts every rank on this one machine.
  EXPECT_EQ(comm.local_size(), comm.size());
  EXPECT_EQ(comm.local_rank(), comm.rank());
}

}  // namespace satunet::dist

namespace satunet::dist {

TEST(MpiSmoke, AsyncAllreducesOverlapAndFinishInOrder) {
  MpiCommunicator comm;
  EXPECT_TRUE(MpiRuntime::multithreaded()) << "Open MPI gives MPI_THREAD_MULTIPLE here";
  std::vector<std::vector<float>> buffers;
  for (int i = 0; i < 6; ++i)
    buffers.emplace_back(1000 + i * 50000, static_cast<float>(i + comm.rank()));
  std::vector<std::shared_ptr<Work>> pending;
  for (auto& buffer : buffers)
    pending.push_back(comm.allreduce_sum_async(buffer.data(), buffer.size(), DataType::float32));
  const double sum_of_ranks = comm.size() * (comm.size() - 1) / 2.0;
  for (int i = 0; i < 6; ++i) {
    pending[static_cast<std::size_t>(i)]->wait();
    const float expected = static_cast<float>(i * comm.size() + sum_of_ranks);
    EXPECT_EQ(buffers[static_cast<std::size_t>(i)].front(), expected);
    EXPECT_EQ(buffers[static_cast<std::size_t>(i)].back(), expected);
  }
}

}  // namespace satunet::dist
