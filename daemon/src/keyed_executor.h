// A few threads that run blocking work in order per key: work for one key never runs
// concurrently and runs in the order it was added; work for different keys runs in parallel.
// The jobs' files (one key per job or attempt) use it, so that a job waiting on the network
// does not hold up the others.
//
// Thread-safety: add() from any thread. Lifetime: stop() (or the destructor) finishes the work
// that is running, drops what waits, and joins the threads; request_stop() does the first two
// without waiting, for a caller that must not block (join() later).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "synapse/core/guarded.h"

namespace synapse::daemon {

class KeyedExecutor {
 public:
  explicit KeyedExecutor(size_t threads) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  }
  ~KeyedExecutor() { stop(); }
  KeyedExecutor(const KeyedExecutor&) = delete;
  KeyedExecutor& operator=(const KeyedExecutor&) = delete;

  // False once stopped (the work is dropped).
  bool add(const std::string& key, std::function<void()> work) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return false;
      Strand& strand = strands_[key];
      strand.work.push_back(std::move(work));
      if (strand.work.size() > 1 || strand.running) return true;  // queued behind
      ready_.push_back(key);
    }
    wake_.notify_one();
    return true;
  }

  // Work added and not finished yet.
  size_t pending() const {
    std::lock_guard lock(mu_);
    size_t count = 0;
    for (const auto& [key, strand] : strands_) count += strand.work.size() + strand.running;
    return count;
  }

  void request_stop() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      ready_.clear();
      for (auto& [key, strand] : strands_) strand.work.clear();
    }
    wake_.notify_all();
  }

  // Waits for the threads (after request_stop()); from one thread only.
  void join() {
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
    threads_.clear();
  }

  void stop() {
    request_stop();
    join();
  }

 private:
  struct Strand {
    std::deque<std::function<void()>> work;
    bool running = false;
  };

  void run() {
    std::unique_lock lock(mu_);
    while (true) {
      wake_.wait(lock, [&] { return stopping_ || !ready_.empty(); });
      if (stopping_) return;
      const std::string key = std::move(ready_.front());
      ready_.pop_front();
      Strand& strand = strands_[key];
      std::function<void()> work = std::move(strand.work.front());
      strand.work.pop_front();
      strand.running = true;
      lock.unlock();
      // Work returns its errors; an exception that escapes it is a bug and aborts naming it.
      core::guarded("job file work", work);
      lock.lock();
      Strand& after = strands_[key];
      after.running = false;
      if (!after.work.empty() && !stopping_) {
        ready_.push_back(key);
        wake_.notify_one();
      } else if (after.work.empty()) {
        strands_.erase(key);
      }
    }
  }

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::map<std::string, Strand> strands_;
  std::deque<std::string> ready_;  // keys with work and nothing running
  std::vector<std::thread> threads_;
  bool stopping_ = false;
};

}  // namespace synapse::daemon
