#include "comm/allreduce_bench.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "common/bench_record.hpp"
#include "common/timer.hpp"
#ifdef SATUNET_HAVE_NCCL
#include "comm/nccl_communicator.hpp"
#endif

namespace satunet::comm {
namespace {

constexpr std::int64_t kKiB = 1024;

// The message: host memory for MPI, device memory for NCCL.
class Message {
 public:
  Message(std::size_t count, bool on_gpu) : host_(count) {
#ifdef SATUNET_HAVE_NCCL
    if (on_gpu)
      device_ = std::make_unique<DeviceFloats>(count);
#else
    COMM_CHECK(!on_gpu, "device buffers without NCCL");
#endif
  }
  void fill(float value) {
    std::fill(host_.begin(), host_.end(), value);
#ifdef SATUNET_HAVE_NCCL
    if (device_)
      device_->upload(host_);
#endif
  }
  const std::vector<float>& values() {
#ifdef SATUNET_HAVE_NCCL
    if (device_)
      host_ = device_->download();
#endif
    return host_;
  }
  void* data() {
#ifdef SATUNET_HAVE_NCCL
    if (device_)
      return device_->data();
#endif
    return host_.data();
  }
  std::size_t size() const {
    return host_.size();
  }

 private:
  std::vector<float> host_;
#ifdef SATUNET_HAVE_NCCL
  std::unique_ptr<DeviceFloats> device_;
#endif
};

// Every element must come back as 1 + 2 + ... + n.
std::int64_t wrong_elements(Communicator& comm, Communicator& world, Message& message) {
  message.fill(static_cast<float>(comm.rank() + 1));
  comm.allreduce_sum(message.data(), message.size(), DataType::float32);
  const float expected = static_cast<float>(comm.size() * (comm.size() + 1) / 2);
  std::int64_t wrong = 0;
  for (float value : message.values())
    wrong += value != expected;
  return world.sum(wrong);
}

}  // namespace

void parse(const std::string& text, const std::string& option, ByteSize& value) {
  std::string number = text;
  std::int64_t unit = 1;
  if (!number.empty() && (number.back() == 'K' || number.back() == 'M' || number.back() == 'G')) {
    unit = number.back() == 'K' ? kKiB : number.back() == 'M' ? kKiB * kKiB : kKiB * kKiB * kKiB;
    number.pop_back();
  }
  std::int64_t count = 0;
  options::parse(number, option, count);
  value.bytes = count * unit;
}

std::string show(const ByteSize& value) {
  for (const auto& [suffix, unit] :
       {std::pair{"G", kKiB * kKiB * kKiB}, std::pair{"M", kKiB * kKiB}, std::pair{"K", kKiB}})
    if (value.bytes >= unit && value.bytes % unit == 0)
      return std::to_string(value.bytes / unit) + suffix;
  return std::to_string(value.bytes);
}

const options::Table<BenchOptions>& bench_option_table() {
  using O = BenchOptions;
  static const auto table =
      options::Table<O>()
          .value("what", &O::what, "the benchmark to run", "allreduce")
          .positional()
          .value("min-bytes", &O::min_bytes, "smallest message (K, M, G suffixes)")
          .at_least(4)
          .value("max-bytes", &O::max_bytes, "largest message; sizes double")
          .at_least(4)
          .value("iterations", &O::iterations, "timed all-reduces per size")
          .at_least(1)
          .value("warmup", &O::warmup, "untimed all-reduces per size")
          .at_least(0)
          .flag("async", &O::async, "through the background communication thread, as training does")
          .value("backend", &O::backend,
                 "mpi (host memory), nccl (device memory) or auto (nccl where built and a GPU "
                 "is present)")
          .include(bench::jsonl_option_table(), [](O& o) -> std::string& { return o.jsonl; });
  return table;
}

void validate(const BenchOptions& options) {
  bench_option_table().check(options);
  if (!options.what)
    throw UsageError("the benchmark to run: allreduce");
  if (options.max_bytes.bytes < options.min_bytes.bytes)
    throw UsageError("--max-bytes is smaller than --min-bytes");
}

void run_allreduce_bench(const BenchOptions& options, Communicator& world) {
  validate(options);
  const Placement placement = place(options.backend, Device::automatic, world, runtime_gpus());
  const auto comm = make_communicator(placement, world);
  const double bus_factor = 2.0 * (comm->size() - 1) / comm->size();
  // One rank moves no byte (NCCL and MPI return at once): a bandwidth would be a figure of
  // nothing, so only the correctness pass runs.
  const bool timed = comm->size() > 1;
  const bench::RecordFile records(comm->rank() == 0 ? options.jsonl : std::string());
  const nlohmann::json configuration = {{"ranks", comm->size()},
                                        {"backend", comm->backend()},
                                        {"async", options.async},
                                        {"iterations", options.iterations},
                                        {"warmup", options.warmup}};
  if (!timed && comm->rank() == 0)
    std::printf(
        "# all-reduce on 1 rank, %s backend: one rank moves nothing, no bandwidth to "
        "measure (run 2 or more ranks); correctness only\n",
        comm->backend().c_str());
  if (timed && comm->rank() == 0) {
    std::printf("# all-reduce (sum, float32) on %d ranks, %s backend%s\n", comm->size(),
                comm->backend().c_str(), options.async ? ", background thread" : "");
    std::printf("# %12s %12s %10s %10s %10s %7s\n", "bytes", "elements", "time(us)", "algbw(GB/s)",
                "busbw(GB/s)", "#wrong");
  }
  std::int64_t total_wrong = 0;
  for (std::int64_t bytes = options.min_bytes.bytes; bytes <= options.max_bytes.bytes; bytes *= 2) {
    Message message(static_cast<std::size_t>(bytes / 4), placement.on_gpu);
    const std::int64_t wrong = wrong_elements(*comm, world, message);
    total_wrong += wrong;
    if (!timed)
      continue;
    auto once = [&] {
      if (options.async) {
        comm->allreduce_sum_async(message.data(), message.size(), DataType::float32)->wait();
      } else {
        comm->allreduce_sum(message.data(), message.size(), DataType::float32);
      }
    };
    for (int i = 0; i < options.warmup; ++i)
      once();
    world.barrier();
    Stopwatch clock;
    for (int i = 0; i < options.iterations; ++i)
      once();
    // The slowest rank decides, as nccl-tests reports it.
    double seconds = clock.seconds() / options.iterations;
    std::vector<double> all(static_cast<std::size_t>(world.size()));
    world.allgather(&seconds, sizeof seconds, all.data());
    seconds = *std::max_element(all.begin(), all.end());
    const double algbw = static_cast<double>(bytes) / seconds / 1e9;
    if (comm->rank() == 0)
      std::printf("  %12lld %12lld %10.1f %10.3f %10.3f %7lld\n", static_cast<long long>(bytes),
                  static_cast<long long>(message.size()), seconds * 1e6, algbw, algbw * bus_factor,
                  static_cast<long long>(wrong));
    nlohmann::json size = configuration;
    size["bytes"] = bytes;
    size["elements"] = message.size();
    size["wrong"] = wrong;
    records.write("allreduce", "allreduce.time", seconds * 1e6, "us", size);
    records.write("allreduce", "allreduce.algbw", algbw, "GB/s", size);
    records.write("allreduce", "allreduce.busbw", algbw * bus_factor, "GB/s", size);
  }
  nlohmann::json checked = configuration;
  checked["min_bytes"] = options.min_bytes.bytes;
  checked["max_bytes"] = options.max_bytes.bytes;
  checked["timed"] = timed;
  records.write("allreduce", "allreduce.wrong", static_cast<double>(total_wrong), "elements",
                checked);
  if (total_wrong > 0)
    throw Error("all-reduce returned " + std::to_string(total_wrong) + " wrong elements");
  if (comm->rank() == 0)
    std::printf("# correctness: every element right at every size\n");
}

}  // namespace satunet::comm
