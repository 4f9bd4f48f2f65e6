#include "common/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "common/launcher.hpp"

namespace satunet::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::info)};
std::atomic<int> g_rank{launcher::rank()};
std::atomic<int> g_size{launcher::world_size()};
std::mutex g_stderr_mutex;

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  std::tm local{};
  localtime_r(&seconds, &local);
  char text[32];
  std::strftime(text, sizeof text, "%H:%M:%S", &local);
  return text;
}

void emit(const char* tag, const std::string& line, bool with_rank) {
  std::lock_guard<std::mutex> lock(g_stderr_mutex);
  if (with_rank && world_size() > 1) {
    std::fprintf(stderr, "[%s %s rank %d] %s\n", timestamp().c_str(), tag, rank(), line.c_str());
  } else {
    std::fprintf(stderr, "[%s %s] %s\n", timestamp().c_str(), tag, line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace

void set_level(Level level) {
  g_level = static_cast<int>(level);
}
Level level() {
  return static_cast<Level>(g_level.load());
}
void set_rank(int rank, int world_size) {
  g_rank = rank;
  g_size = world_size;
}
int rank() {
  return g_rank;
}
int world_size() {
  return g_size;
}

void write_info(const std::string& line) {
  emit("info", line, false);
}
void write_debug(const std::string& line) {
  emit("debug", line, true);
}
void write_warning(const std::string& line) {
  emit("warning", line, true);
}

}  // namespace satunet::log
