#include "common/serial_worker.hpp"

namespace satunet {

void JobHandle::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return done_; });
  if (failure_)
    std::rethrow_exception(failure_);
}

void JobHandle::finish(std::exception_ptr failure) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    failure_ = failure;
    done_ = true;
  }
  changed_.notify_all();
}

SerialWorker::SerialWorker() : thread_([this] { run(); }) {}

SerialWorker::~SerialWorker() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

std::shared_ptr<JobHandle> SerialWorker::submit(std::function<void()> job) {
  auto handle = std::make_shared<JobHandle>();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.emplace_back(std::move(job), handle);
  }
  changed_.notify_all();
  return handle;
}

void SerialWorker::run() {
  while (true) {
    std::pair<std::function<void()>, std::shared_ptr<JobHandle>> next;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty())
        return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      next.first();
      next.second->finish(nullptr);
    } catch (...) {
      next.second->finish(std::current_exception());
    }
  }
}

}  // namespace satunet
