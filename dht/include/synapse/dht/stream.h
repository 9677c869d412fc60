// An encrypted, authenticated byte stream to one verified peer (one TCP connection; see
// docs/wire.md, "Streams"). Made by Transport::open_stream or handed to the stream handler.
//
// Threads: every method must be called on the transport's loop thread, and every callback runs
// there. Callbacks never run inside the call that registers them.
// Lifetime: the owner may destroy a Stream at any time on the loop thread; that closes it as
// close() does. A Stream may outlive its Transport (it is closed when the transport closes).
#pragma once

#include <cstddef>
#include <functional>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/crypto/secure_handshake.h"
#include "synapse/dht/endpoint.h"

namespace synapse::dht {

class Stream {
 public:
  virtual ~Stream() = default;

  virtual const crypto::PeerIdentity& peer() const = 0;
  virtual const Endpoint& remote() const = 0;

  // Encrypts `data` now (the caller's buffer is free when write returns) and queues it.
  // `done` runs exactly once, when the kernel has taken every byte (ok) or the stream broke
  // or was closed first (error). Returns an error, and never runs `done`, if the stream is
  // shut down or closed (kFailedPrecondition) or the queue already holds
  // max_stream_queue_bytes (kStoreFull).
  // Back-pressure: keep a few writes (a few MiB) outstanding and write more from `done`.
  virtual core::Status write(core::ByteView data, std::function<void(core::Status)> done) = 0;
  // Encrypted bytes queued and not yet taken by the kernel.
  virtual size_t queued_bytes() const = 0;

  // Reading starts when a handler is set. The handler gets plaintext (the view is valid during
  // the call only), an empty view once at the peer's orderly end of stream, or an error once
  // if the stream broke (kPermissionDenied: tampered or forged; kInvalidArgument: bad
  // framing; kIo: connection reset, closed without an end frame, or idle timeout). After the
  // end or an error the handler is not called again.
  virtual void set_read_handler(std::function<void(core::Result<core::ByteView>)> handler) = 0;
  // Stops reading from the socket (the peer's writes then back up) and resumes it.
  virtual void pause_reading() = 0;
  virtual void resume_reading() = 0;

  // Sends the end of the stream after everything written so far; `done` runs once that was
  // handed to the kernel. Reading continues until the peer ends too. Errors as write().
  virtual core::Status shutdown(std::function<void(core::Status)> done) = 0;
  // Closes at once: queued writes fail (their callbacks run with kFailedPrecondition), no
  // more read callbacks. Idempotent.
  virtual void close() = 0;
};

}  // namespace synapse::dht
