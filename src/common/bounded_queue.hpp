#pragma once
// A queue between one producer thread and one consumer, bounded so that a fast producer waits
// (memory stays flat) and closable from either side: the producer closes it when done, or
// with its failure, which the consumer then receives; the consumer closes it to stop the
// producer early.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>

namespace satunet {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}

  // Waits for room; false (and `item` dropped) when the queue was closed meanwhile.
  bool push(T item) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_)
      return false;
    items_.push_back(std::move(item));
    changed_.notify_all();
    return true;
  }

  // The next item; nothing once the queue is closed and drained. Rethrows the producer's
  // failure (after the items queued before it).
  std::optional<T> pop() {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) {
      if (failure_)
        std::rethrow_exception(failure_);
      return std::nullopt;
    }
    T item = std::move(items_.front());
    items_.pop_front();
    changed_.notify_all();
    return item;
  }

  // No more pushes; pops drain what is queued. With a failure, pops rethrow it once drained.
  void close(std::exception_ptr failure = nullptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    if (failure && !failure_)
      failure_ = failure;
    changed_.notify_all();
  }
  // Drops what is queued and closes: the producer's next push returns false. A consumer that
  // gives up because it failed leaves its failure for the producer to rethrow.
  void cancel(std::exception_ptr failure = nullptr) {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    items_.clear();
    if (failure && !failure_)
      failure_ = failure;
    changed_.notify_all();
  }
  // Empty and open again, for the next round of the same producer and consumer.
  void reopen() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = false;
    items_.clear();
    failure_ = nullptr;
  }
  std::exception_ptr failure() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return failure_;
  }

 private:
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<T> items_;
  bool closed_ = false;
  std::exception_ptr failure_;
};

}  // namespace satunet
