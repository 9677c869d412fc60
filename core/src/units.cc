#include "synapse/core/units.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace synapse::core {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Splits "1.5GiB" into the number "1.5" and the rest "GiB".
std::pair<std::string_view, std::string_view> split_number(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  return {s.substr(0, i), trim(s.substr(i))};
}

Result<double> parse_number(std::string_view number, std::string_view whole) {
  double value = 0;
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size()) {
    return make_error(ErrorCode::kInvalidArgument, "not a number: '" + std::string(whole) + "'");
  }
  return value;
}

}  // namespace

Result<uint64_t> parse_size(std::string_view text) {
  std::string_view s = trim(text);
  auto [number, suffix] = split_number(s);
  SYNAPSE_ASSIGN_OR_RETURN(double value, parse_number(number, text));
  std::string unit = lower(suffix);
  int shift = 0;
  if (unit.empty() || unit == "b") {
    shift = 0;
  } else {
    static constexpr std::string_view kPrefixes = "kmgtpe";
    size_t index = kPrefixes.find(unit[0]);
    std::string_view rest = std::string_view(unit).substr(1);
    if (index == std::string_view::npos || !(rest.empty() || rest == "b" || rest == "ib")) {
      return make_error(ErrorCode::kInvalidArgument, "unknown size unit '" + std::string(suffix) +
                                                         "' in '" + std::string(text) +
                                                         "' (use B, K, M, G, T, P or E)");
    }
    shift = 10 * static_cast<int>(index + 1);
  }
  long double bytes = std::ldexp(static_cast<long double>(value), shift);
  if (bytes >= 18446744073709551615.0L) {
    return make_error(ErrorCode::kInvalidArgument, "size too large: '" + std::string(text) + "'");
  }
  return static_cast<uint64_t>(std::llround(bytes));
}

std::string format_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f %s", value, kUnits[unit]);
  return buffer;
}

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::string_view s = trim(text);
  if (s.empty()) return make_error(ErrorCode::kInvalidArgument, "empty duration");
  double total_ms = 0;
  bool bare = true;
  while (!s.empty()) {
    size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    SYNAPSE_ASSIGN_OR_RETURN(double value, parse_number(s.substr(0, i), text));
    s.remove_prefix(i);
    size_t j = 0;
    while (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) ++j;
    std::string unit = lower(s.substr(0, j));
    s = trim(s.substr(j));
    double scale = 0;
    if (unit.empty()) {
      if (!bare || !s.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "missing unit in duration '" + std::string(text) + "'");
      }
      scale = 1000;
    } else if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60'000;
    } else if (unit == "h") {
      scale = 3'600'000;
    } else if (unit == "d") {
      scale = 86'400'000;
    } else {
      return make_error(ErrorCode::kInvalidArgument, "unknown duration unit '" + unit + "' in '" +
                                                         std::string(text) +
                                                         "' (use ms, s, m, h or d)");
    }
    bare = false;
    total_ms += value * scale;
  }
  if (total_ms > 1e15) return make_error(ErrorCode::kInvalidArgument, "duration too long");
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(total_ms)));
}

}  // namespace synapse::core
