#pragma once
// SIGTERM and SIGUSR1 (a batch system's notice) ask the trainer to stop at the next step
// boundary, where all ranks agree on it, write a checkpoint and exit 0 for a requeue.
namespace satunet::train {

void install_stop_signals();
bool stop_requested();
void clear_stop_request();  // for tests
int stop_signal();          // the signal that asked, or 0

}  // namespace satunet::train
