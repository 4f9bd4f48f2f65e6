// The comm library: MPI collectives on 1 to 3 ranks, placement of ranks on devices and
// backends, the NCCL backend (which says so without a GPU), local ranks, and the all-reduce
// benchmark.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "comm/mpi_communicator.hpp"
#include "comm/placement.hpp"
#include "comm/single_process.hpp"
#include "comm/versions.hpp"
#include "common/launcher.hpp"
#include "test_support.hpp"
#ifdef SATUNET_HAVE_NCCL
#include <cuda_runtime_api.h>

#include "comm/nccl_communicator.hpp"
#endif

namespace satunet::comm {

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

TEST(Nccl, WithoutAGpuTheBackendSaysSo) {
  MpiCommunicator world;
#ifdef SATUNET_HAVE_NCCL
  std::string why;
  if (cuda_device_count(&why) > 0)
    GTEST_SKIP() << "a GPU is present: nothing to refuse";
  try {
    NcclCommunicator nccl(world, 0);
    FAIL() << "no error without a GPU";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("--backend nccl: no GPU present on rank 0"),
              std::string::npos)
        << error.what();
  }
#endif
  const Placement mpi = place(Backend::automatic, Device::automatic, world, 0);
  EXPECT_EQ(make_communicator(mpi, world)->backend(), "mpi");
  EXPECT_THROW(options::parse_enum<Backend>("gloo", "--backend"), UsageError);
}

TEST(NcclGpu, AllreduceOnTheDevice) {
#ifdef SATUNET_HAVE_NCCL
  if (cuda_device_count() == 0)
    GTEST_SKIP() << "no GPU on this machine";
  MpiCommunicator world;
  NcclCommunicator nccl(world, gpu_of_rank(world, cuda_device_count()));
  std::vector<float> host(1 << 20, static_cast<float>(world.rank() + 1));
  void* memory = nullptr;
  ASSERT_EQ(cudaMalloc(&memory, host.size() * sizeof(float)), cudaSuccess);
  auto* device = static_cast<float*>(memory);
  cudaMemcpy(device, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice);
  nccl.allreduce_sum_async(device, host.size(), DataType::float32)->wait();
  cudaMemcpy(host.data(), device, host.size() * sizeof(float), cudaMemcpyDeviceToHost);
  cudaFree(device);
  const float expected = world.size() * (world.size() + 1) / 2.0f;
  EXPECT_EQ(host.front(), expected);
  EXPECT_EQ(host.back(), expected);
#else
  GTEST_SKIP() << "built without NCCL";
#endif
}

TEST(Placement, OneRuleForTrainPredictAndBench) {
  MpiCommunicator self(MpiScope::self);
  // Training and benchmarks name a backend.
  const Placement cpu = place(Backend::automatic, Device::automatic, self, 0);
  EXPECT_EQ(cpu.backend, Backend::mpi);
  EXPECT_FALSE(cpu.on_gpu);
  const Placement gpu = place(Backend::automatic, Device::automatic, self, 4);
  EXPECT_EQ(gpu.on_gpu, nccl_built()) << "GPUs train through NCCL, or not at all";
  EXPECT_EQ(gpu.backend, nccl_built() ? Backend::nccl : Backend::mpi);
  EXPECT_EQ(gpu.gpu, gpu.on_gpu ? 0 : -1);
  const Placement mpi = place(Backend::mpi, Device::automatic, self, 4);
  EXPECT_FALSE(mpi.on_gpu) << "the MPI backend reduces host memory";
  EXPECT_FALSE(place(Backend::automatic, Device::cpu, self, 4).on_gpu);
  // Asked for, a GPU under MPI: its buffers go through host memory.
  const Placement staged = place(Backend::mpi, Device::cuda, self, 4);
  EXPECT_TRUE(staged.on_gpu);
  EXPECT_EQ(staged.backend, Backend::mpi);
  EXPECT_EQ(staged.gpu, 0);
  EXPECT_THROW(place(Backend::nccl, Device::cpu, self, 4), UsageError);
  try {
    place(Backend::mpi, Device::cuda, self, 0);
    FAIL() << "cuda without a GPU";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("--device cuda: no GPU present on rank 0"),
              std::string::npos)
        << error.what();
  }
  try {
    place(Backend::nccl, Device::automatic, self, 0);
    FAIL() << "nccl without a GPU";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("--backend nccl: "), std::string::npos);
    EXPECT_NE(std::string(error.what()).find("rank 0"), std::string::npos) << error.what();
  }
  // Prediction names a device.
  EXPECT_FALSE(place(std::nullopt, Device::automatic, self, 0).on_gpu);
  EXPECT_TRUE(place(std::nullopt, Device::automatic, self, 2).on_gpu);
  EXPECT_FALSE(place(std::nullopt, Device::cpu, self, 2).on_gpu);
  try {
    place(std::nullopt, Device::cuda, self, 0);
    FAIL() << "cuda without a GPU";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("--device cuda: no GPU present on rank 0"),
              std::string::npos);
  }
}

TEST(Placement, RanksOfANodeTakeItsGpusInTurn) {
  MpiCommunicator world;
  EXPECT_EQ(gpu_of_rank(world, 8), world.local_rank());
  EXPECT_EQ(gpu_of_rank(world, 1), 0);
  EXPECT_EQ(place(std::nullopt, Device::cuda, world, 2).gpu, world.local_rank() % 2);
}

TEST(LocalRank, LauncherVariablesAreTheFallback) {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE",
                           "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE", "PMI_LOCAL_RANK",
                           "PMI_LOCAL_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS"})
    unsetenv(name);
  EXPECT_FALSE(local_rank_from_environment().has_value());
  setenv("MPI_LOCALRANKID", "3", 1);
  setenv("MPI_LOCALNRANKS", "4", 1);
  EXPECT_EQ(local_rank_from_environment(), std::make_pair(3, 4));
  setenv("SLURM_LOCALID", "1", 1);
  EXPECT_EQ(local_rank_from_environment(), std::make_pair(1, 2))
      << "SLURM comes before Intel MPI; without a count, at least rank + 1 share the node";
  setenv("OMPI_COMM_WORLD_LOCAL_RANK", "0", 1);
  setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2", 1);
  EXPECT_EQ(local_rank_from_environment(), std::make_pair(0, 2));
}

TEST(SingleProcess, CollectivesAreThoseOfOneRank) {
  SingleProcessCommunicator alone;
  EXPECT_EQ(alone.rank(), 0);
  EXPECT_EQ(alone.size(), 1);
  EXPECT_EQ(alone.local_size(), 1);
  std::vector<double> values = {1.5, -2};
  alone.allreduce_sum(values);
  alone.allreduce_sum_async(values.data(), values.size(), DataType::float64)->wait();
  EXPECT_EQ(values, (std::vector<double>{1.5, -2}));
  EXPECT_EQ(alone.allgather_strings("only"), std::vector<std::string>{"only"});
  EXPECT_EQ(alone.broadcast_string("same", 0), "same");
  EXPECT_THROW(alone.broadcast_string("x", 1), Error);
  EXPECT_EQ(alone.duplicate()->size(), 1);
  alone.barrier();
}

TEST(Launcher, ItsVariablesSayWhetherAProcessWasStartedAlone) {
  const char* names[] = {
      "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK",    "SLURM_PROCID",
      "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS", "SLURM_STEP_NUM_TASKS"};
  std::map<std::string, std::string> saved;
  for (const char* name : names)
    if (const char* value = std::getenv(name))
      saved[name] = value;
  for (const char* name : names)
    unsetenv(name);
  EXPECT_FALSE(launcher::present());
  EXPECT_EQ(launcher::rank(), 0);
  EXPECT_EQ(launcher::world_size(), 1);
  setenv("SLURM_NTASKS", "4", 1);  // an sbatch script: MPI starts, as a singleton if need be
  EXPECT_TRUE(launcher::present());
  EXPECT_EQ(launcher::world_size(), 1) << "the script's shell is one process of a job of four";
  setenv("SLURM_STEP_NUM_TASKS", "4", 1);  // a task that srun started
  EXPECT_EQ(launcher::world_size(), 4);
  setenv("PMIX_RANK", "2", 1);
  EXPECT_EQ(launcher::rank(), 2);
  for (const char* name : names)
    unsetenv(name);
  for (const auto& [name, value] : saved)
    setenv(name.c_str(), value.c_str(), 1);
}

TEST(Bench, AllreduceChecksAndReports) {
  const auto result =
      test::run_satunet({"bench", "allreduce", "--max-bytes", "64K", "--iterations", "3"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // One rank moves nothing: it says so rather than print a bandwidth.
  EXPECT_NE(result.out.find("# all-reduce on 1 rank, mpi backend: one rank moves nothing"),
            std::string::npos)
      << result.out;
  EXPECT_EQ(result.out.find("algbw"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("# correctness: every element right at every size"), std::string::npos);
  const auto two =
      test::run_satunet_ranks(2, {"bench", "allreduce", "--max-bytes", "64K", "--iterations", "3"});
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_NE(two.out.find("on 2 ranks, mpi backend"), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("algbw(GB/s)"), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("       65536"), std::string::npos) << two.out;
  EXPECT_NE(two.out.find("# correctness: every element right at every size"), std::string::npos);
  const auto bad = test::run_satunet({"bench", "broadcast"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--what must be allreduce (got 'broadcast')"), std::string::npos)
      << bad.err;
  const auto none = test::run_satunet({"bench"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("the benchmark to run: allreduce"), std::string::npos) << none.err;
  const auto nccl = test::run_satunet({"bench", "allreduce", "--backend", "nccl"});
  if (runtime_gpus() == 0) {
    EXPECT_EQ(nccl.exit_code, 1);
    EXPECT_NE(nccl.err.find("--backend nccl: "), std::string::npos) << nccl.err;
  }
}

}  // namespace satunet::comm
