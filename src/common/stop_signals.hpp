#pragma once
// SIGTERM and SIGUSR1 (a batch system's notice that time is up) ask a stage to stop at its next
// safe point: training writes a checkpoint there and exits 0 for a requeue; tiling and
// prediction, which cannot continue later, stop with an error and leave nothing that looks
// finished.
#include <string>

namespace satunet {

void install_stop_signals();
bool stop_requested();
void clear_stop_request();  // for tests
int stop_signal();          // the signal that asked, or 0

// Throws Error("`what`: stopped by signal N (name) before it finished") once a stop was asked.
void throw_if_stopped(const std::string& what);

}  // namespace satunet
