// Token buckets per source IP address. Sans-I/O (time comes in as an argument); not
// thread-safe.
#pragma once

#include <cstddef>
#include <unordered_map>

#include "synapse/core/clock.h"
#include "synapse/dht/endpoint.h"

namespace synapse::dht {

class RateLimiter {
 public:
  // `rate` tokens per second refill each source's bucket up to `burst`. A rate of 0 admits
  // everything. At most `max_sources` buckets are kept: when the table is full, buckets that
  // have refilled completely are forgotten (they equal a fresh one); if none has, the new
  // source passes without a bucket (fail open: spoofed sources cannot lock others out).
  RateLimiter(double rate, double burst, size_t max_sources);

  // Takes one token from `source`'s bucket; false if it is empty.
  bool allow(const IpAddress& source, core::MonoTime now);

  size_t tracked_sources() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    core::MonoTime last;
  };
  double refill(const Bucket& bucket, core::MonoTime now) const;

  double rate_;
  double burst_;
  size_t max_sources_;
  std::unordered_map<IpAddress, Bucket, IpAddressHash> buckets_;
};

}  // namespace synapse::dht
