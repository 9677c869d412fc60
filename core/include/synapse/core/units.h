// Human-readable sizes and durations, as used in the config file, job specs and CLI output.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "synapse/core/result.h"

namespace synapse::core {

// Parses "1048576", "512K", "512KiB", "1.5G", "10 GB" (powers of 1024 for every suffix, as
// memory and disk tools do). Rejects negative, empty, unknown suffixes and overflow.
Result<uint64_t> parse_size(std::string_view text);

// Formats with binary units and one decimal: "0 B", "1023 B", "1.5 KiB", "2.0 GiB".
std::string format_size(uint64_t bytes);

// Parses "90s", "10m", "1h30m", "250ms", "2d"; a bare number means seconds.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace synapse::core
