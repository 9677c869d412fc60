// A transport address: an IPv4 or IPv6 address and a port. Value type; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "synapse/core/result.h"

struct sockaddr;
struct sockaddr_storage;

namespace synapse::dht {

class Endpoint {
 public:
  enum class Family : uint8_t { kIpv4, kIpv6 };

  // 0.0.0.0:0.
  Endpoint() = default;
  // Parses "1.2.3.4:5" and "[::1]:5" (numeric addresses only, port 0..65535). IPv4-mapped
  // IPv6 addresses ("[::ffff:1.2.3.4]:5") become IPv4. Errors: kInvalidArgument naming the
  // problem.
  static core::Result<Endpoint> parse(std::string_view text);
  static Endpoint ipv4(const std::array<uint8_t, 4>& address, uint16_t port);
  static Endpoint ipv6(const std::array<uint8_t, 16>& address, uint16_t port);
  static Endpoint loopback_v4(uint16_t port) { return ipv4({127, 0, 0, 1}, port); }
  // From a sockaddr_in / sockaddr_in6 (IPv4-mapped IPv6 becomes IPv4). kInvalidArgument for
  // other families.
  static core::Result<Endpoint> from_sockaddr(const sockaddr* address);

  // Writes a sockaddr_in or sockaddr_in6; returns its length.
  size_t to_sockaddr(sockaddr_storage* out) const;

  Family family() const { return family_; }
  bool is_ipv6() const { return family_ == Family::kIpv6; }
  uint16_t port() const { return port_; }
  // The address bytes: the first 4 for IPv4, all 16 for IPv6 (the rest are zero).
  const std::array<uint8_t, 16>& address_bytes() const { return address_; }
  Endpoint with_port(uint16_t port) const;

  // "1.2.3.4:5" or "[::1]:5".
  std::string to_string() const;
  // The address without the port: "1.2.3.4" or "::1".
  std::string address_string() const;

  friend bool operator==(const Endpoint&, const Endpoint&) = default;

 private:
  Family family_ = Family::kIpv4;
  uint16_t port_ = 0;
  std::array<uint8_t, 16> address_{};
};

// Hash over family, address and port; IpAddressHash ignores the port (for per-source limits).
struct EndpointHash {
  size_t operator()(const Endpoint& endpoint) const;
};

// The address of an endpoint without its port, as a key for per-source tables.
struct IpAddress {
  Endpoint::Family family = Endpoint::Family::kIpv4;
  std::array<uint8_t, 16> bytes{};
  static IpAddress of(const Endpoint& endpoint) {
    return {endpoint.family(), endpoint.address_bytes()};
  }
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};
struct IpAddressHash {
  size_t operator()(const IpAddress& address) const;
};

}  // namespace synapse::dht
