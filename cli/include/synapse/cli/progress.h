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
  // Once the total becomes known (a fetch learns it from the file's root).
  void set_total(uint64_t total) { total_ = total; }
  // A short note after the rate, such as "4 providers".
  void set_note(std::string note) { note_ = std::move(note); }
  // Erases the bar if it was drawn.
  void finish();

  // The bar's text for `done` bytes after `seconds`, at most `width` columns.
  static std::string render(uint64_t done, std::optional<uint64_t> total, double seconds,
                            size_t width, const std::string& note = "");

 private:
  const core::Clock& clock_;
  std::optional<uint64_t> total_;
  std::string note_;
  bool enabled_;
  std::FILE* out_;
  core::MonoTime start_;
  core::MonoTime last_draw_{};
  bool drawn_ = false;
};

}  // namespace synapse::cli
