#include "synapse/dht/rate_limiter.h"

#include <algorithm>
#include <chrono>

namespace synapse::dht {

RateLimiter::RateLimiter(double rate, double burst, size_t max_sources)
    : rate_(rate), burst_(std::max(burst, 1.0)), max_sources_(max_sources) {}

double RateLimiter::refill(const Bucket& bucket, core::MonoTime now) const {
  const double elapsed = std::chrono::duration<double>(now - bucket.last).count();
  return std::min(burst_, bucket.tokens + std::max(0.0, elapsed) * rate_);
}

bool RateLimiter::allow(const IpAddress& source, core::MonoTime now) {
  if (rate_ <= 0) return true;
  auto it = buckets_.find(source);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_sources_) {
      std::erase_if(buckets_,
                    [&](const auto& entry) { return refill(entry.second, now) >= burst_; });
      if (buckets_.size() >= max_sources_) return true;  // fail open, untracked
    }
    buckets_.emplace(source, Bucket{burst_ - 1, now});
    return true;
  }
  Bucket& bucket = it->second;
  bucket.tokens = refill(bucket, now);
  bucket.last = now;
  if (bucket.tokens < 1) return false;
  bucket.tokens -= 1;
  return true;
}

}  // namespace synapse::dht
