// Time as an injected dependency: cores take a Clock& (or a time point) and never read the
// system clock themselves, so simulations and tests control time.
#pragma once

#include <chrono>

namespace synapse::core {

using MonoTime = std::chrono::steady_clock::time_point;
using Duration = std::chrono::steady_clock::duration;

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time; thread-safe.
  virtual MonoTime now() const = 0;
};

// The real monotonic clock.
class SteadyClock final : public Clock {
 public:
  MonoTime now() const override { return std::chrono::steady_clock::now(); }
};

// A clock that moves only when told to; for tests and simulations. Not thread-safe.
class ManualClock final : public Clock {
 public:
  MonoTime now() const override { return now_; }
  void advance(Duration step) { now_ += step; }

 private:
  MonoTime now_{};
};

}  // namespace synapse::core
