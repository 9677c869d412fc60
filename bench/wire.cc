// Transport benchmark over loopback between two processes (this one and a forked server):
//  - a 1 GiB encrypted stream (1 MiB writes, at most 4 outstanding),
//  - 10,000 sequential 64-byte request/response round trips over encrypted datagrams,
//  - as many datagram handshakes as fit in ~2 s (4 clients, each rekeying after every message),
// plus references measured in the same run: the same 1 GiB over a plain TCP socket and 10,000
// plain UDP round trips. The last line is one JSON object:
// {"bench":"wire","stream_mb_s":x,"rpc_roundtrip_us_p50":a,"rpc_roundtrip_us_p99":b,
//  "handshakes_per_s":h,"plain_tcp_mb_s":t,"plain_udp_roundtrip_us_p50":u,
//  "stream_vs_plain_tcp":x/t}
// MB is 10^6 bytes. Environment: WIRE_STREAM_BYTES, WIRE_RPCS, WIRE_HANDSHAKE_SECONDS.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "synapse/crypto/system_rng.h"
#include "synapse/dht/transport.h"

namespace {

using namespace synapse;
using Clock = std::chrono::steady_clock;

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* value = std::getenv(name);
  return value ? std::strtoull(value, nullptr, 10) : fallback;
}

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "bench/wire: %s\n", message.c_str());
  std::exit(2);
}

crypto::SwarmKey bench_key() {
  std::string text = "/key/swarm/psk/1.0.0/\n/base16/\n" + std::string(64, 'a') + "\n";
  return crypto::SwarmKey::parse(core::as_bytes(text)).value();
}

dht::TransportOptions options_for(const crypto::NodeIdentity& identity,
                                  const crypto::SwarmKey& key) {
  dht::TransportOptions options;
  options.identity = &identity;
  options.swarm_key = &key;
  // The benchmark is one source hammering one server: lift the per-source limits.
  options.limits.handshake_rate_per_source = 0;
  options.limits.packet_rate_per_source = 0;
  options.limits.accept_rate_per_source = 0;
  options.limits.max_half_open_per_source = 64;
  return options;
}

// --- server (child process) -----------------------------------------------------------------

struct PlainSink {
  uv_tcp_t tcp;
  char buffer[256 * 1024];
};

[[noreturn]] void run_server(int report_fd) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  crypto::SystemRng rng;
  core::SteadyClock clock;
  auto identity = crypto::NodeIdentity::generate(rng);
  auto key = bench_key();
  auto transport = dht::Transport::create(&loop, options_for(identity, key), rng, clock);
  if (!transport) die(transport.error().message());
  dht::Transport& t = **transport;
  std::vector<std::unique_ptr<dht::Stream>> streams;
  t.set_message_handler(
      [&](const dht::Endpoint& from, const crypto::PeerIdentity&, core::ByteView message) {
        t.send(from, core::Bytes(message.begin(), message.end()), [](core::Status) {});
      });
  t.set_stream_handler([&](std::unique_ptr<dht::Stream> stream) {
    dht::Stream* raw = stream.get();
    streams.push_back(std::move(stream));
    raw->set_read_handler([raw](core::Result<core::ByteView> data) {
      if (data && data->empty()) (void)raw->shutdown([](core::Status) {});
    });
  });

  // References: a plain TCP sink and a plain UDP echo on ports of their own.
  uv_tcp_t plain_listener;
  uv_tcp_init(&loop, &plain_listener);
  sockaddr_in any;
  uv_ip4_addr("127.0.0.1", 0, &any);
  uv_tcp_bind(&plain_listener, reinterpret_cast<sockaddr*>(&any), 0);
  uv_listen(reinterpret_cast<uv_stream_t*>(&plain_listener), 16, [](uv_stream_t* server, int) {
    auto* sink = new PlainSink;
    uv_tcp_init(server->loop, &sink->tcp);
    sink->tcp.data = sink;
    uv_accept(server, reinterpret_cast<uv_stream_t*>(&sink->tcp));
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&sink->tcp),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* s = static_cast<PlainSink*>(h->data);
          *buf = uv_buf_init(s->buffer, sizeof(s->buffer));
        },
        [](uv_stream_t* stream, ssize_t nread, const uv_buf_t*) {
          if (nread < 0) {
            uv_close(reinterpret_cast<uv_handle_t*>(stream),
                     [](uv_handle_t* h) { delete static_cast<PlainSink*>(h->data); });
          }
        });
  });
  uv_udp_t plain_udp;
  uv_udp_init(&loop, &plain_udp);
  uv_udp_bind(&plain_udp, reinterpret_cast<sockaddr*>(&any), 0);
  static char udp_buffer[2048];
  uv_udp_recv_start(
      &plain_udp,
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        *buf = uv_buf_init(udp_buffer, sizeof(udp_buffer));
      },
      [](uv_udp_t* udp, ssize_t nread, const uv_buf_t* buf, const sockaddr* addr, unsigned) {
        if (nread <= 0 || addr == nullptr) return;
        uv_buf_t reply = uv_buf_init(buf->base, static_cast<unsigned>(nread));
        uv_udp_try_send(udp, &reply, 1, addr);
      });

  auto port_of = [](uv_handle_t* handle, bool tcp) {
    sockaddr_storage address;
    int length = sizeof(address);
    if (tcp) {
      uv_tcp_getsockname(reinterpret_cast<uv_tcp_t*>(handle), reinterpret_cast<sockaddr*>(&address),
                         &length);
    } else {
      uv_udp_getsockname(reinterpret_cast<uv_udp_t*>(handle), reinterpret_cast<sockaddr*>(&address),
                         &length);
    }
    return ntohs(reinterpret_cast<sockaddr_in*>(&address)->sin_port);
  };
  uint16_t ports[3] = {t.local_endpoint().port(),
                       port_of(reinterpret_cast<uv_handle_t*>(&plain_listener), true),
                       port_of(reinterpret_cast<uv_handle_t*>(&plain_udp), false)};
  if (::write(report_fd, ports, sizeof(ports)) != sizeof(ports)) die("report ports");
  ::close(report_fd);
  uv_run(&loop, UV_RUN_DEFAULT);  // until SIGTERM kills the process
  std::_Exit(0);
}

// --- client ---------------------------------------------------------------------------------

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p * values.size()));
  return values[index];
}

bool run_until(uv_loop_t* loop, const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!done() && Clock::now() < deadline) uv_run(loop, UV_RUN_ONCE);
  return done();
}

double plain_tcp_mb_s(uint16_t port, uint64_t total) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address;
  uv_ip4_addr("127.0.0.1", port, &address);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    die("plain tcp connect");
  }
  std::vector<char> chunk(1 << 20, 'x');
  const auto start = Clock::now();
  for (uint64_t sent = 0; sent < total;) {
    ssize_t n = ::send(fd, chunk.data(), std::min<uint64_t>(chunk.size(), total - sent), 0);
    if (n <= 0) die("plain tcp send");
    sent += static_cast<uint64_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  char byte;
  while (::recv(fd, &byte, 1, 0) > 0) {
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  return total / 1e6 / seconds;
}

double plain_udp_p50_us(uint16_t port, int count) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address;
  uv_ip4_addr("127.0.0.1", port, &address);
  ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  char message[64] = {};
  char reply[2048];
  std::vector<double> samples;
  for (int i = 0; i < count; ++i) {
    const auto start = Clock::now();
    if (::send(fd, message, sizeof(message), 0) < 0) die("plain udp send");
    if (::recv(fd, reply, sizeof(reply), 0) < 0) die("plain udp recv");
    samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  ::close(fd);
  return percentile(samples, 0.5);
}

}  // namespace

int main() {
  const uint64_t stream_bytes = env_or("WIRE_STREAM_BYTES", uint64_t{1} << 30);
  const int rpcs = static_cast<int>(env_or("WIRE_RPCS", 10'000));
  const int handshake_seconds = static_cast<int>(env_or("WIRE_HANDSHAKE_SECONDS", 2));

  int fds[2];
  if (::pipe(fds) != 0) die("pipe");
  const pid_t server = ::fork();
  if (server < 0) die("fork");
  if (server == 0) {
    ::close(fds[0]);
    run_server(fds[1]);
  }
  ::close(fds[1]);
  uint16_t ports[3];
  if (::read(fds[0], ports, sizeof(ports)) != sizeof(ports)) die("server did not start");
  ::close(fds[0]);
  const dht::Endpoint server_endpoint = dht::Endpoint::loopback_v4(ports[0]);

  uv_loop_t loop;
  uv_loop_init(&loop);
  crypto::SystemRng rng;
  core::SteadyClock clock;
  auto identity = crypto::NodeIdentity::generate(rng);
  auto key = bench_key();
  auto created = dht::Transport::create(&loop, options_for(identity, key), rng, clock);
  if (!created) die(created.error().message());
  dht::Transport& client = **created;

  // 1. Stream.
  std::unique_ptr<dht::Stream> stream;
  client.open_stream(server_endpoint, [&](core::Result<std::unique_ptr<dht::Stream>> opened) {
    if (!opened) die(opened.error().message());
    stream = std::move(*opened);
  });
  if (!run_until(
          &loop, [&] { return stream != nullptr; }, std::chrono::seconds(10))) {
    die("stream did not open");
  }
  core::Bytes chunk(1 << 20);
  rng.fill(chunk);
  uint64_t written = 0;
  int outstanding = 0;
  bool ended = false;
  stream->set_read_handler([&](core::Result<core::ByteView> data) {
    if (!data) die(data.error().message());
    if (data->empty()) ended = true;
  });
  std::function<void()> pump = [&] {
    while (outstanding < 4 && written < stream_bytes) {
      const size_t size =
          static_cast<size_t>(std::min<uint64_t>(chunk.size(), stream_bytes - written));
      ++outstanding;
      written += size;
      auto status = stream->write(core::ByteView(chunk).first(size), [&](core::Status status) {
        if (!status) die(status.error().message());
        --outstanding;
        pump();
      });
      if (!status) die(status.error().message());
    }
    if (written == stream_bytes && outstanding == 0) {
      written = stream_bytes + 1;  // once
      if (!stream->shutdown([](core::Status) {})) die("shutdown");
    }
  };
  const auto stream_start = Clock::now();
  pump();
  if (!run_until(
          &loop, [&] { return ended; }, std::chrono::seconds(300)))
    die("stream stalled");
  const double stream_seconds = std::chrono::duration<double>(Clock::now() - stream_start).count();
  const double stream_mb_s = stream_bytes / 1e6 / stream_seconds;
  stream.reset();
  std::printf("stream: %.0f MB in %.3f s = %.0f MB/s\n", stream_bytes / 1e6, stream_seconds,
              stream_mb_s);

  // 2. RPC round trips (after a warm-up that includes the handshake).
  int replies = 0;
  client.set_message_handler(
      [&](const dht::Endpoint&, const crypto::PeerIdentity&, core::ByteView) { ++replies; });
  core::Bytes request(64, 0x5a);
  std::vector<double> samples;
  for (int i = 0; i < rpcs + 100; ++i) {
    const int expected = replies + 1;
    const auto start = Clock::now();
    client.send(server_endpoint, request, [](core::Status status) {
      if (!status) die(status.error().message());
    });
    if (!run_until(
            &loop, [&] { return replies == expected; }, std::chrono::seconds(5))) {
      die("rpc " + std::to_string(i) + " got no reply");
    }
    if (i >= 100) {
      samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    }
  }
  const double p50 = percentile(samples, 0.5);
  const double p99 = percentile(samples, 0.99);
  std::printf("rpc: %d round trips, p50 %.1f us, p99 %.1f us\n", rpcs, p50, p99);

  // 3. Handshakes: clients that rekey after every message.
  constexpr int kClients = 4;
  std::vector<std::unique_ptr<dht::Transport>> rekeyers;
  std::vector<uint64_t> baseline;
  for (int i = 0; i < kClients; ++i) {
    auto options = options_for(identity, key);
    options.limits.rekey_after_messages = 1;
    auto made = dht::Transport::create(&loop, options, rng, clock);
    if (!made) die(made.error().message());
    rekeyers.push_back(std::move(*made));
  }
  auto completed = [&] {
    uint64_t sum = 0;
    for (auto& r : rekeyers) sum += r->stats().handshakes_completed;
    return sum;
  };
  std::vector<uint64_t> last_seen(kClients, UINT64_MAX);
  const auto handshake_start = Clock::now();
  const auto handshake_end = handshake_start + std::chrono::seconds(handshake_seconds);
  const uint64_t before = completed();
  while (Clock::now() < handshake_end) {
    for (int i = 0; i < kClients; ++i) {
      const uint64_t done = rekeyers[i]->stats().handshakes_completed +
                            rekeyers[i]->stats().handshakes_failed_timeout;
      if (done != last_seen[i]) {
        // The first message counts on the fresh session, the second finds the limit reached
        // and starts the next handshake.
        last_seen[i] = done;
        rekeyers[i]->send(server_endpoint, request, [](core::Status) {});
        rekeyers[i]->send(server_endpoint, request, [](core::Status) {});
      }
    }
    uv_run(&loop, UV_RUN_ONCE);
  }
  const double handshake_elapsed =
      std::chrono::duration<double>(Clock::now() - handshake_start).count();
  const double handshakes_per_s = (completed() - before) / handshake_elapsed;
  std::printf("handshakes: %llu in %.2f s = %.0f/s (%d concurrent initiators)\n",
              static_cast<unsigned long long>(completed() - before), handshake_elapsed,
              handshakes_per_s, kClients);

  int open = 1 + kClients;
  client.close([&] { --open; });
  for (auto& r : rekeyers) r->close([&] { --open; });
  run_until(
      &loop, [&] { return open == 0; }, std::chrono::seconds(10));
  rekeyers.clear();
  created->reset();
  uv_loop_close(&loop);

  // References in the same run.
  const double tcp_mb_s = plain_tcp_mb_s(ports[1], stream_bytes);
  const double udp_p50 = plain_udp_p50_us(ports[2], rpcs);
  std::printf("reference: plain TCP %.0f MB/s, plain UDP round trip p50 %.1f us\n", tcp_mb_s,
              udp_p50);

  ::kill(server, SIGTERM);
  ::waitpid(server, nullptr, 0);
  std::printf(
      "{\"bench\":\"wire\",\"stream_mb_s\":%.0f,\"rpc_roundtrip_us_p50\":%.1f,"
      "\"rpc_roundtrip_us_p99\":%.1f,\"handshakes_per_s\":%.0f,\"plain_tcp_mb_s\":%.0f,"
      "\"plain_udp_roundtrip_us_p50\":%.1f,\"stream_vs_plain_tcp\":%.3f}\n",
      stream_mb_s, p50, p99, handshakes_per_s, tcp_mb_s, udp_p50, stream_mb_s / tcp_mb_s);
  return 0;
}
