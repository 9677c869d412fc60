#include "synapse/cli/progress.h"

#include <algorithm>
#include <cmath>

#include "synapse/core/units.h"

namespace synapse::cli {

namespace {

constexpr auto kDelay = std::chrono::seconds(1);
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
constexpr size_t kWidth = 78;

std::string format_eta(double seconds) {
  long s = std::lround(seconds);
  char buffer[32];
  if (s >= 3600) {
    std::snprintf(buffer, sizeof(buffer), "%ldh%02ldm", s / 3600, s / 60 % 60);
  } else if (s >= 60) {
    std::snprintf(buffer, sizeof(buffer), "%ldm%02lds", s / 60, s % 60);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%lds", s);
  }
  return buffer;
}

}  // namespace

ProgressBar::ProgressBar(const core::Clock& clock, std::optional<uint64_t> total, bool enabled,
                         std::FILE* out)
    : clock_(clock), total_(total), enabled_(enabled), out_(out), start_(clock.now()) {}

ProgressBar::~ProgressBar() { finish(); }

std::string ProgressBar::render(uint64_t done, std::optional<uint64_t> total, double seconds,
                                size_t width, const std::string& note) {
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  std::string right = "  " + core::format_size(static_cast<uint64_t>(rate)) + "/s";
  if (!note.empty()) right += "  " + note;
  std::string left = core::format_size(done);
  std::string bar;
  if (total && *total > 0) {
    const double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(*total));
    left += " / " + core::format_size(*total);
    char percent[8];
    std::snprintf(percent, sizeof(percent), "%3d%%", static_cast<int>(fraction * 100));
    right = std::string("  ") + percent + right;
    if (rate > 0 && done < *total) {
      right += "  ETA " + format_eta(static_cast<double>(*total - done) / rate);
    }
    const size_t used = left.size() + right.size() + 4;
    if (width > used + 10) {
      const size_t cells = width - used;
      const size_t filled = static_cast<size_t>(fraction * static_cast<double>(cells));
      bar = " [" + std::string(filled, '#') + std::string(cells - filled, '.') + "]";
    }
  }
  std::string line = left + bar + right;
  if (line.size() > width) line.resize(width);
  return line;
}

void ProgressBar::update(uint64_t done) {
  if (!enabled_) return;
  const core::MonoTime now = clock_.now();
  if (now - start_ < kDelay || (drawn_ && now - last_draw_ < kRedrawInterval)) return;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  std::string line = render(done, total_, seconds, kWidth, note_);
  std::fprintf(out_, "\r%-*s", static_cast<int>(kWidth), line.c_str());
  std::fflush(out_);
  last_draw_ = now;
  drawn_ = true;
}

void ProgressBar::finish() {
  if (!drawn_) return;
  std::fprintf(out_, "\r%*s\r", static_cast<int>(kWidth), "");
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace synapse::cli
