#pragma once
// `satunet bench allreduce`: all-reduce bandwidth as nccl-tests reports it (algbw = bytes /
// time; busbw = algbw * 2 (n - 1) / n), after a correctness pass at every size, on any backend
// (host buffers for mpi, device buffers for nccl). With --jsonl FILE, rank 0 also appends each
// size's figures as JSON lines (common/bench_record.hpp).
#include <cstdint>
#include <optional>
#include <string>

#include "comm/communicator.hpp"
#include "comm/placement.hpp"
#include "common/options.hpp"

namespace satunet::comm {

// A message size: bytes, with K, M or G (binary) suffixes on the command line.
struct ByteSize {
  std::int64_t bytes = 0;
};
void parse(const std::string& text, const std::string& option, ByteSize& value);
std::string show(const ByteSize& value);
inline std::int64_t limit_number(const ByteSize& value) {  // for its limits (options.hpp)
  return value.bytes;
}

enum class Benchmark { allreduce };
inline const options::EnumNames<Benchmark>& enum_names(Benchmark) {
  static const options::EnumNames<Benchmark> names{{Benchmark::allreduce, "allreduce"}};
  return names;
}

struct BenchOptions {
  std::optional<Benchmark> what;
  ByteSize min_bytes{8};
  ByteSize max_bytes{64 << 20};
  int iterations = 20;
  int warmup = 5;
  bool async = false;
  Backend backend = Backend::mpi;
  std::string jsonl;  // records of the measurements; "": none
};

const options::Table<BenchOptions>& bench_option_table();
void validate(const BenchOptions& options);  // throws UsageError

// Collective over `world`; prints the table on rank 0 (and with --jsonl appends, per size,
// "allreduce.time" (us), "allreduce.algbw" and "allreduce.busbw" (GB/s) records, then
// "allreduce.wrong": the elements that came back wrong, 0 when correct). Throws when an element
// came back wrong.
void run_allreduce_bench(const BenchOptions& options, Communicator& world);

}  // namespace satunet::comm
