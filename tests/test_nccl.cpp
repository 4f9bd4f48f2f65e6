// The NCCL backend compiles and links wherever CUDA and NCCL are found; without a GPU it must
// say so clearly, and the GPU tests skip (they do not pass) there.
#include <gtest/gtest.h>

#include "dist/backend.hpp"
#include "dist/versions.hpp"
#ifdef SATUNET_HAVE_NCCL
#include <cuda_runtime_api.h>

#include "dist/nccl_communicator.hpp"
#endif

namespace satunet::dist {

TEST(Nccl, WithoutAGpuTheBackendSaysSo) {
  MpiCommunicator world;
#ifdef SATUNET_HAVE_NCCL
  std::string why;
  if (cuda_device_count(&why) > 0)
    GTEST_SKIP() << "a GPU is present: nothing to refuse";
  try {
    make_communicator("nccl", world, false);
    FAIL() << "no error without a GPU";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("--backend nccl: no GPU present on rank 0"),
              std::string::npos)
        << error.what();
  }
#else
  EXPECT_THROW(make_communicator("nccl", world, false), Error);
#endif
  EXPECT_EQ(make_communicator("auto", world, false)->backend(), "mpi");
  EXPECT_THROW(make_communicator("gloo", world, false), UsageError);
}

TEST(NcclGpu, AllreduceOnTheDevice) {
#ifdef SATUNET_HAVE_NCCL
  if (cuda_device_count() == 0)
    GTEST_SKIP() << "no GPU on this machine";
  MpiCommunicator world;
  NcclCommunicator nccl(world);
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

}  // namespace satunet::dist
