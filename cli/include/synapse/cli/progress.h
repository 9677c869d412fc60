// A one-line progress bar on a terminal: bytes done, percentage, rate and ETA. It appears only
// once an operation has taken more than a second and redraws at most ten times a second. Not
// thread-safe; call from one thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "synapse/core/clock.h"

namespace synapse::cli {

class ProgressBar {
 public:
  // `total` is nullopt when unknown (a pipe): then no percentage or ETA. A disabled bar draws
  // nothing (output is not a terminal, or --quiet).
  ProgressBar(const core::Clock& clock, std::optional<uint64_t> total, bool enabled,
              std::FILE* out);
  ~ProgressBar();

  void update(uint64_t done);
  // Erases the bar if it was drawn.
  void finish();

  // The bar's text for `done` bytes after `seconds`, at most `width` columns.
  static std::string render(uint64_t done, std::optional<uint64_t> total, double seconds,
                            size_t width);

 private:
  const core::Clock& clock_;
  std::optional<uint64_t> total_;
  bool enabled_;
  std::FILE* out_;
  core::MonoTime start_;
  core::MonoTime last_draw_{};
  bool drawn_ = false;
};

}  // namespace synapse::cli
