#include "synapse/dht/endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace synapse::dht {
namespace {

core::Result<Endpoint> invalid(std::string_view text, std::string_view why) {
  return core::make_error(
      core::ErrorCode::kInvalidArgument,
      "endpoint \"" + std::string(text.substr(0, 64)) + "\": " + std::string(why));
}

constexpr std::array<uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

uint64_t hash_address(Endpoint::Family family, const std::array<uint8_t, 16>& bytes) {
  uint64_t a = 0;
  uint64_t b = 0;
  std::memcpy(&a, bytes.data(), 8);
  std::memcpy(&b, bytes.data() + 8, 8);
  return mix(mix(static_cast<uint64_t>(family) + 1, a), b);
}

}  // namespace

Endpoint Endpoint::ipv4(const std::array<uint8_t, 4>& address, uint16_t port) {
  Endpoint endpoint;
  endpoint.family_ = Family::kIpv4;
  endpoint.port_ = port;
  std::memcpy(endpoint.address_.data(), address.data(), 4);
  return endpoint;
}

Endpoint Endpoint::ipv6(const std::array<uint8_t, 16>& address, uint16_t port) {
  if (std::memcmp(address.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0) {
    return ipv4({address[12], address[13], address[14], address[15]}, port);
  }
  Endpoint endpoint;
  endpoint.family_ = Family::kIpv6;
  endpoint.port_ = port;
  endpoint.address_ = address;
  return endpoint;
}

core::Result<Endpoint> Endpoint::parse(std::string_view text) {
  if (text.size() > 64) return invalid(text, "too long");
  std::string_view host;
  std::string_view port_text;
  bool bracketed = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return invalid(text, "missing ']'");
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      return invalid(text, "expected \":port\" after ']'");
    }
    port_text = text.substr(close + 2);
    bracketed = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return invalid(text, "expected \"address:port\"");
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return invalid(text, "IPv6 addresses need brackets: \"[::1]:5\"");
    }
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return invalid(text, "port must be a number from 0 to 65535");
  }
  std::string host_string(host);
  if (bracketed) {
    std::array<uint8_t, 16> bytes{};
    if (inet_pton(AF_INET6, host_string.c_str(), bytes.data()) != 1) {
      return invalid(text, "not a numeric IPv6 address");
    }
    return ipv6(bytes, static_cast<uint16_t>(port));
  }
  std::array<uint8_t, 4> bytes{};
  if (inet_pton(AF_INET, host_string.c_str(), bytes.data()) != 1) {
    return invalid(text, "not a numeric IPv4 address");
  }
  return ipv4(bytes, static_cast<uint16_t>(port));
}

core::Result<Endpoint> Endpoint::from_sockaddr(const sockaddr* address) {
  if (address == nullptr) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "endpoint: no address");
  }
  if (address->sa_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, address, sizeof(in));
    std::array<uint8_t, 4> bytes;
    std::memcpy(bytes.data(), &in.sin_addr, 4);
    return ipv4(bytes, ntohs(in.sin_port));
  }
  if (address->sa_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, address, sizeof(in6));
    std::array<uint8_t, 16> bytes;
    std::memcpy(bytes.data(), &in6.sin6_addr, 16);
    return ipv6(bytes, ntohs(in6.sin6_port));
  }
  return core::make_error(core::ErrorCode::kInvalidArgument,
                          "endpoint: address family " + std::to_string(address->sa_family) +
                              " is neither IPv4 nor IPv6");
}

size_t Endpoint::to_sockaddr(sockaddr_storage* out) const {
  std::memset(out, 0, sizeof(*out));
  if (family_ == Family::kIpv4) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port_);
    std::memcpy(&in.sin_addr, address_.data(), 4);
    std::memcpy(out, &in, sizeof(in));
    return sizeof(in);
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port_);
  std::memcpy(&in6.sin6_addr, address_.data(), 16);
  std::memcpy(out, &in6, sizeof(in6));
  return sizeof(in6);
}

Endpoint Endpoint::with_port(uint16_t port) const {
  Endpoint copy = *this;
  copy.port_ = port;
  return copy;
}

std::string Endpoint::address_string() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(family_ == Family::kIpv4 ? AF_INET : AF_INET6, address_.data(), buffer, sizeof(buffer));
  return buffer;
}

std::string Endpoint::to_string() const {
  if (family_ == Family::kIpv4) return address_string() + ":" + std::to_string(port_);
  return "[" + address_string() + "]:" + std::to_string(port_);
}

size_t EndpointHash::operator()(const Endpoint& endpoint) const {
  return mix(hash_address(endpoint.family(), endpoint.address_bytes()), endpoint.port());
}

size_t IpAddressHash::operator()(const IpAddress& address) const {
  return hash_address(address.family, address.bytes);
}

}  // namespace synapse::dht
