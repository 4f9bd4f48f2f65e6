// `satunet bench allreduce`: all-reduce bandwidth as nccl-tests reports it (algbw = bytes /
// time; busbw = algbw * 2 (n - 1) / n), after a correctness pass at every size.
#include <cstdio>
#include <iostream>
#include <vector>

#include "cli/command.hpp"
#include "common/text.hpp"
#include "common/timer.hpp"
#include "dist/mpi_communicator.hpp"

namespace satunet::cli {
namespace {

std::int64_t parse_bytes(const std::string& text, const std::string& option) {
  std::string number = text;
  std::int64_t unit = 1;
  if (!number.empty() && (number.back() == 'K' || number.back() == 'M' || number.back() == 'G')) {
    unit = number.back() == 'K' ? 1024 : number.back() == 'M' ? 1024 * 1024 : 1024 * 1024 * 1024;
    number.pop_back();
  }
  const std::int64_t value = text::parse_int(number, option) * unit;
  if (value < 4)
    throw UsageError(option + " must be at least 4 bytes (got " + text + ")");
  return value;
}

// Every element must come back as 1 + 2 + ... + n.
std::int64_t wrong_elements(dist::Communicator& comm, std::vector<float>& buffer) {
  std::fill(buffer.begin(), buffer.end(), static_cast<float>(comm.rank() + 1));
  comm.allreduce_sum(buffer.data(), buffer.size(), dist::DataType::float32);
  const float expected = static_cast<float>(comm.size() * (comm.size() + 1) / 2);
  std::int64_t wrong = 0;
  for (float value : buffer)
    wrong += value != expected;
  return comm.sum(wrong);
}

}  // namespace

Command bench_command() {
  Command command;
  command.name = "bench";
  command.summary = "measure the MPI all-reduce (algbw, busbw) with a correctness pass";
  command.usage = "allreduce [--min-bytes 8] [--max-bytes 64M] [--iterations 20] [--async]";
  command.needs_mpi = true;
  command.declare = [](po::options_description& options,
                       po::positional_options_description& positional) {
    // clang-format off
    options.add_options()
        ("what", po::value<std::string>()->value_name("allreduce"), "the benchmark to run")
        ("min-bytes", po::value<std::string>()->default_value("8"), "smallest message (K, M, G suffixes)")
        ("max-bytes", po::value<std::string>()->default_value("64M"), "largest message; sizes double")
        ("iterations", po::value<int>()->default_value(20), "timed all-reduces per size")
        ("warmup", po::value<int>()->default_value(5), "untimed all-reduces per size")
        ("async", po::bool_switch(), "through the background communication thread, as training does");
    // clang-format on
    positional.add("what", 1);
  };
  command.run = [](const po::variables_map& values) {
    const std::string what = values.count("what") ? values["what"].as<std::string>() : "";
    if (what != "allreduce")
      throw UsageError("the benchmark to run: allreduce");
    const std::int64_t min_bytes =
        parse_bytes(values["min-bytes"].as<std::string>(), "--min-bytes");
    const std::int64_t max_bytes =
        parse_bytes(values["max-bytes"].as<std::string>(), "--max-bytes");
    const int iterations = values["iterations"].as<int>();
    const int warmup = values["warmup"].as<int>();
    const bool async = values["async"].as<bool>();
    if (iterations < 1 || warmup < 0)
      throw UsageError("--iterations must be at least 1, --warmup at least 0");
    if (max_bytes < min_bytes)
      throw UsageError("--max-bytes is smaller than --min-bytes");
    dist::MpiCommunicator comm;
    const double bus_factor = 2.0 * (comm.size() - 1) / comm.size();
    if (comm.rank() == 0) {
      std::printf("# all-reduce (sum, float32) on %d ranks, mpi backend%s\n", comm.size(),
                  async ? ", background thread" : "");
      std::printf("# %12s %12s %10s %10s %10s %7s\n", "bytes", "elements", "time(us)",
                  "algbw(GB/s)", "busbw(GB/s)", "#wrong");
    }
    std::int64_t total_wrong = 0;
    for (std::int64_t bytes = min_bytes; bytes <= max_bytes; bytes *= 2) {
      std::vector<float> buffer(static_cast<std::size_t>(bytes / 4));
      const std::int64_t wrong = wrong_elements(comm, buffer);
      total_wrong += wrong;
      auto once = [&] {
        if (async) {
          comm.allreduce_sum_async(buffer.data(), buffer.size(), dist::DataType::float32)->wait();
        } else {
          comm.allreduce_sum(buffer.data(), buffer.size(), dist::DataType::float32);
        }
      };
      for (int i = 0; i < warmup; ++i)
        once();
      comm.barrier();
      Stopwatch clock;
      for (int i = 0; i < iterations; ++i)
        once();
      // The slowest rank decides, as nccl-tests reports it.
      double seconds = clock.seconds() / iterations;
      std::vector<double> all(static_cast<std::size_t>(comm.size()));
      comm.allgather(&seconds, sizeof seconds, all.data());
      seconds = *std::max_element(all.begin(), all.end());
      const double algbw = static_cast<double>(bytes) / seconds / 1e9;
      if (comm.rank() == 0)
        std::printf("  %12lld %12lld %10.1f %10.3f %10.3f %7lld\n", static_cast<long long>(bytes),
                    static_cast<long long>(buffer.size()), seconds * 1e6, algbw, algbw * bus_factor,
                    static_cast<long long>(wrong));
    }
    if (total_wrong > 0)
      throw Error("all-reduce returned " + std::to_string(total_wrong) + " wrong elements");
    if (comm.rank() == 0)
      std::printf("# correctness: every element right at every size\n");
    return 0;
  };
  return command;
}

}  // namespace satunet::cli
