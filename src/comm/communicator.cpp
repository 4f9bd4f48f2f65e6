#include "comm/communicator.hpp"

#include <algorithm>
#include <cstring>
#include <thread>

namespace satunet::comm {

std::size_t element_size(DataType type) {
  switch (type) {
    case DataType::float32:
      return 4;
    case DataType::float64:
      return 8;
    case DataType::int64:
      return 8;
    case DataType::uint8:
      return 1;
  }
  return 1;
}

std::string Communicator::broadcast_string(const std::string& text, int root) {
  std::int64_t length = static_cast<std::int64_t>(text.size());
  broadcast(&length, sizeof length, root);
  std::string received =
      rank() == root ? text : std::string(static_cast<std::size_t>(length), '\0');
  if (length > 0)
    broadcast(received.data(), received.size(), root);
  return received;
}

std::vector<std::string> Communicator::allgather_strings(const std::string& text) {
  const std::int64_t length = static_cast<std::int64_t>(text.size());
  std::vector<std::int64_t> lengths(static_cast<std::size_t>(size()));
  allgather(&length, sizeof length, lengths.data());
  std::int64_t longest = 0;
  for (std::int64_t each : lengths)
    longest = std::max(longest, each);
  std::string padded = text;
  padded.resize(static_cast<std::size_t>(longest));
  std::string gathered(static_cast<std::size_t>(longest) * lengths.size(), '\0');
  if (longest > 0)
    allgather(padded.data(), padded.size(), gathered.data());
  std::vector<std::string> strings;
  for (std::size_t i = 0; i < lengths.size(); ++i)
    strings.push_back(gathered.substr(i * longest, static_cast<std::size_t>(lengths[i])));
  return strings;
}

std::unique_ptr<Communicator> Communicator::duplicate() const {
  throw Error("the " + backend() + " communicator cannot be duplicated");
}

void prepare_on_root(Communicator& comm, const std::function<void()>& prepare) {
  std::string problem;
  if (comm.rank() == 0) {
    try {
      prepare();
    } catch (const Error& error) {
      problem = error.what();
    }
  }
  problem = comm.broadcast_string(problem, 0);
  if (!problem.empty())
    throw JobError(problem);
}

int threads_per_rank(int requested, const Communicator& comm) {
  if (requested > 0)
    return requested;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, comm.local_size()));
}

}  // namespace satunet::comm
