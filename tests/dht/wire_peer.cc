// A small peer program for the network-namespace tests (netns_test.cc). Each run is one node:
//
//   wire_peer serve        --bind ADDR:PORT --key-byte B
//       prints "listening ENDPOINT NODEID", echoes every message, and for every stream prints
//       "stream BYTES SHA256 PEER" once it ended (then ends its side too). Runs until SIGTERM.
//   wire_peer send-message --to ADDR:PORT --key-byte B --count M [--marker TEXT]
//       sends M messages (each carrying TEXT), waits for the echoes, prints "echoed M".
//   wire_peer send-stream  --to ADDR:PORT --key-byte B --bytes N [--marker TEXT]
//       sends N bytes (TEXT every 4 KiB), prints "sent N SHA256" once the server ended too.
//   wire_peer plain-udp    --to ADDR:PORT --marker TEXT
//       sends TEXT in one unencrypted UDP datagram (the capture's positive control).
//
// Errors print "error: ..." and exit 1. Test-only: the swarm key is derived from one byte.
#include <arpa/inet.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "dht_test_util.h"
#include "synapse/crypto/hash.h"
#include "synapse/crypto/system_rng.h"
#include "synapse/dht/transport.h"

namespace {

using namespace synapse;

[[noreturn]] void die(const std::string& message) {
  std::printf("error: %s\n", message.c_str());
  std::fflush(stdout);
  std::_Exit(1);
}

void say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

struct Peer {
  uv_loop_t loop;
  uv_signal_t sigterm;
  uv_timer_t deadline;
  core::SteadyClock clock;
  crypto::SystemRng rng;
  std::optional<crypto::NodeIdentity> identity;
  std::optional<crypto::SwarmKey> key;
  std::unique_ptr<dht::Transport> transport;
  std::vector<std::unique_ptr<dht::Stream>> streams;
  bool closing = false;

  void start(const std::string& bind, uint8_t key_byte) {
    uv_loop_init(&loop);
    identity.emplace(crypto::NodeIdentity::generate(rng));
    key.emplace(dht::testing::swarm_key_from(key_byte));
    dht::TransportOptions options;
    options.identity = &*identity;
    options.swarm_key = &*key;
    options.bind = dht::Endpoint::parse(bind).value();
    options.timers.handshake_timeout = std::chrono::seconds(3);
    auto created = dht::Transport::create(&loop, options, rng, clock);
    if (!created) die(created.error().message());
    transport = std::move(*created);
    uv_signal_init(&loop, &sigterm);
    sigterm.data = this;
    uv_signal_start(
        &sigterm, [](uv_signal_t* s, int) { static_cast<Peer*>(s->data)->stop(0); }, SIGTERM);
    uv_timer_init(&loop, &deadline);
    deadline.data = this;
  }

  void stop(int code) {
    if (closing) return;
    closing = true;
    streams.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&deadline), nullptr);
    transport->close([this, code] {
      transport.reset();
      exit_code = code;
    });
  }

  void fail_after(uint64_t ms) {
    uv_timer_start(
        &deadline, [](uv_timer_t*) { die("timed out"); }, ms, 0);
  }

  int run() {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return exit_code;
  }

  int exit_code = 0;
};

core::Bytes pattern_chunk(core::Rng& rng, size_t size, const std::string& marker) {
  core::Bytes chunk(size);
  rng.fill(chunk);
  if (!marker.empty()) {
    for (size_t at = 0; at + marker.size() <= size; at += 4096) {
      std::memcpy(chunk.data() + at, marker.data(), marker.size());
    }
  }
  return chunk;
}

int serve(Peer& peer) {
  say("listening " + peer.transport->local_endpoint().to_string() + " " +
      peer.transport->node_id().to_hex());
  peer.transport->set_message_handler([&](const dht::Endpoint& from, const crypto::PeerIdentity&,
                                          core::ByteView message) {
    peer.transport->send(from, core::Bytes(message.begin(), message.end()), [](core::Status) {});
  });
  peer.transport->set_stream_handler([&](std::unique_ptr<dht::Stream> stream) {
    dht::Stream* raw = stream.get();
    peer.streams.push_back(std::move(stream));
    auto hash = std::make_shared<crypto::Sha256>();
    auto bytes = std::make_shared<uint64_t>(0);
    raw->set_read_handler([raw, hash, bytes](core::Result<core::ByteView> data) {
      if (!data) {
        say("stream-error " + data.error().message());
        return;
      }
      if (data->empty()) {
        say("stream " + std::to_string(*bytes) + " " + core::to_hex(hash->finish()) + " " +
            raw->peer().node_id.to_hex());
        (void)raw->shutdown([](core::Status) {});
        return;
      }
      hash->update(*data);
      *bytes += data->size();
    });
  });
  return peer.run();
}

int send_messages(Peer& peer, const dht::Endpoint& to, int count, const std::string& marker) {
  int echoed = 0;
  peer.transport->set_message_handler(
      [&](const dht::Endpoint&, const crypto::PeerIdentity&, core::ByteView) {
        if (++echoed == count) {
          say("echoed " + std::to_string(count));
          peer.stop(0);
        }
      });
  for (int i = 0; i < count; ++i) {
    std::string text = marker + " message " + std::to_string(i);
    peer.transport->send(to, core::Bytes(text.begin(), text.end()), [](core::Status status) {
      if (!status) die(status.error().message());
    });
  }
  peer.fail_after(20'000);
  return peer.run();
}

int send_stream(Peer& peer, const dht::Endpoint& to, uint64_t total, const std::string& marker) {
  constexpr size_t kChunk = 1 << 20;
  core::SeededRng data_rng(99);
  crypto::Sha256 hash;
  uint64_t written = 0;
  int outstanding = 0;
  std::string digest;
  std::function<void()> pump;
  peer.transport->open_stream(to, [&](core::Result<std::unique_ptr<dht::Stream>> opened) {
    if (!opened) die(opened.error().message());
    dht::Stream* stream = opened->get();
    peer.streams.push_back(std::move(*opened));
    stream->set_read_handler([&](core::Result<core::ByteView> data) {
      if (!data) die(data.error().message());
      if (data->empty()) {  // the server ended after reading everything
        say("sent " + std::to_string(written) + " " + digest);
        peer.stop(0);
      }
    });
    pump = [&, stream] {
      while (outstanding < 4 && written < total) {
        const size_t size = static_cast<size_t>(std::min<uint64_t>(kChunk, total - written));
        core::Bytes chunk = pattern_chunk(data_rng, size, marker);
        hash.update(chunk);
        written += size;
        ++outstanding;
        auto status = stream->write(chunk, [&](core::Status status) {
          if (!status) die(status.error().message());
          --outstanding;
          pump();
        });
        if (!status) die(status.error().message());
      }
      if (written == total && outstanding == 0 && digest.empty()) {
        digest = core::to_hex(hash.finish());
        if (!stream->shutdown([](core::Status) {})) die("shutdown failed");
      }
    };
    pump();
  });
  peer.fail_after(120'000);
  return peer.run();
}

int plain_udp(const dht::Endpoint& to, const std::string& marker) {
  int fd = ::socket(to.is_ipv6() ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  sockaddr_storage address;
  const size_t length = to.to_sockaddr(&address);
  if (::sendto(fd, marker.data(), marker.size(), 0, reinterpret_cast<sockaddr*>(&address),
               static_cast<socklen_t>(length)) < 0) {
    die(std::string("sendto: ") + std::strerror(errno));
  }
  ::close(fd);
  say("plain sent");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: wire_peer serve|send-message|send-stream|plain-udp [options]");
  std::string mode = argv[1];
  std::map<std::string, std::string> flags;
  for (int i = 2; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
  auto flag = [&](const std::string& name, const std::string& fallback = "") {
    auto it = flags.find(name);
    return it == flags.end() ? fallback : it->second;
  };
  const uint8_t key_byte = static_cast<uint8_t>(std::stoi(flag("--key-byte", "0")));
  if (mode == "plain-udp")
    return plain_udp(dht::Endpoint::parse(flag("--to")).value(), flag("--marker"));
  Peer peer;
  if (mode == "serve") {
    peer.start(flag("--bind", "0.0.0.0:0"), key_byte);
    return serve(peer);
  }
  auto to = dht::Endpoint::parse(flag("--to"));
  if (!to) die(to.error().message());
  peer.start(flag("--bind", "0.0.0.0:0"), key_byte);
  if (mode == "send-message") {
    return send_messages(peer, *to, std::stoi(flag("--count", "1")), flag("--marker"));
  }
  if (mode == "send-stream") {
    return send_stream(peer, *to, std::stoull(flag("--bytes", "1048576")), flag("--marker"));
  }
  die("unknown mode " + mode);
}
