#include "common/stop_signals.hpp"

#include <csignal>
#include <cstring>

#include "common/error.hpp"

namespace satunet {
namespace {
volatile std::sig_atomic_t g_signal = 0;
extern "C" void remember_signal(int signal) {
  g_signal = signal;
}
}  // namespace

void install_stop_signals() {
  struct sigaction action {};
  action.sa_handler = remember_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);
}

bool stop_requested() {
  return g_signal != 0;
}
void clear_stop_request() {
  g_signal = 0;
}
int stop_signal() {
  return g_signal;
}

void throw_if_stopped(const std::string& what) {
  const int signal = g_signal;
  if (signal != 0)
    throw Error(what + ": stopped by signal " + std::to_string(signal) + " (" + strsignal(signal) +
                ") before it finished");
}

}  // namespace satunet
