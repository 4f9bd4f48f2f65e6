#pragma once
// Runs jobs one after another, in the order they were submitted, on a thread of its own:
// the shape of a background communication thread. A job's exception comes back from wait().
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace satunet {

class JobHandle {
 public:
  void wait();

 private:
  friend class SerialWorker;
  void finish(std::exception_ptr failure);
  std::mutex mutex_;
  std::condition_variable changed_;
  bool done_ = false;
  std::exception_ptr failure_;
};

class SerialWorker {
 public:
  SerialWorker();
  ~SerialWorker();  // runs what is queued, then stops
  SerialWorker(const SerialWorker&) = delete;
  SerialWorker& operator=(const SerialWorker&) = delete;

  std::shared_ptr<JobHandle> submit(std::function<void()> job);

 private:
  void run();
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::pair<std::function<void()>, std::shared_ptr<JobHandle>>> queue_;
  bool closing_ = false;
  std::thread thread_;  // last: starts when the rest exists
};

}  // namespace satunet
