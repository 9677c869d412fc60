// SequentialFile sources for tests: a byte buffer, or a generated stream of any length.
#pragma once

#include <algorithm>
#include <cstring>
#include <functional>

#include "synapse/core/env.h"

namespace synapse::testing {

// Streams `size` bytes where byte i is generator(i); fails with kIo at `fail_at` if set.
class GeneratedFile final : public core::SequentialFile {
 public:
  GeneratedFile(uint64_t size, std::function<uint8_t(uint64_t)> generator,
                std::optional<uint64_t> fail_at = std::nullopt)
      : size_(size), generator_(std::move(generator)), fail_at_(fail_at) {}

  core::Result<size_t> read(std::span<uint8_t> buffer) override {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buffer.size(), size_ - position_));
    if (fail_at_ && position_ + n > *fail_at_) {
      return core::make_error(core::ErrorCode::kIo, "read failed: injected fault");
    }
    for (size_t i = 0; i < n; ++i) buffer[i] = generator_(position_ + i);
    position_ += n;
    return n;
  }
  std::optional<uint64_t> size_hint() const override { return size_; }

 private:
  uint64_t size_;
  uint64_t position_ = 0;
  std::function<uint8_t(uint64_t)> generator_;
  std::optional<uint64_t> fail_at_;
};

class BytesFile final : public core::SequentialFile {
 public:
  explicit BytesFile(core::ByteView data) : data_(data) {}
  core::Result<size_t> read(std::span<uint8_t> buffer) override {
    size_t n = std::min(buffer.size(), data_.size() - position_);
    std::memcpy(buffer.data(), data_.data() + position_, n);
    position_ += n;
    return n;
  }
  std::optional<uint64_t> size_hint() const override { return data_.size(); }

 private:
  core::ByteView data_;
  size_t position_ = 0;
};

}  // namespace synapse::testing
