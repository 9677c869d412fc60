// The exchange on a libuv loop (exchange.h): streams from the transport, two timers. This is
// the adapter; the logic lives in Fetch, ServeQueue and PeerScores, which never touch libuv.
#include <spdlog/spdlog.h>
#include <uv.h>

#include <set>

#include "synapse/core/guarded.h"
#include "synapse/exchange/exchange.h"
#include "synapse/exchange/serve_queue.h"

namespace synapse::exchange {
namespace {

using core::ErrorCode;
using core::make_error;
using namespace std::chrono_literals;

// A "holds" or "store" question without an answer in this time fails with kIo.
constexpr core::Duration kRequestTimeout = 15s;

uint64_t to_ms(core::Duration d) {
  return static_cast<uint64_t>(
      std::max<int64_t>(0, std::chrono::ceil<std::chrono::milliseconds>(d).count()));
}

class UvExchange final : public Exchange {
 public:
  UvExchange(uv_loop_t* loop, dht::Transport& transport, blockstore::BlockStore& store,
             const core::Clock& clock, ExchangeOptions options)
      : loop_(loop),
        transport_(transport),
        store_(store),
        clock_(clock),
        options_(std::move(options)),
        serve_queue_(options_.max_queued_wants) {
    for (uv_timer_t* timer : {&timer_, &pump_timer_}) {
      uv_timer_init(loop_, timer);
      timer->data = this;
    }
    last_refill_ = clock_.now();
    tokens_ = burst();
    transport_.set_stream_handler(
        [this](std::unique_ptr<dht::Stream> stream) { accept(std::move(stream)); });
  }

  // ---- Fetching ----

  FetchId fetch(const crypto::Cid& root, std::vector<PeerRef> providers, FetchDone done) override {
    SYNAPSE_CHECK(!closing_, "Exchange::fetch called after close()");
    const FetchId id = next_fetch_id_++;
    FetchEntry& entry = fetches_[id];
    entry.fetch = std::make_unique<Fetch>(
        root, store_, scores_, options_.fetch,
        [this, id](std::vector<blockstore::Block> batch) { store_batch(id, std::move(batch)); });
    entry.done = std::move(done);
    entry.fetch->start(clock_.now());
    add_providers(id, std::move(providers));
    drive(id);
    return id;
  }

  void add_providers(FetchId id, std::vector<PeerRef> providers) override {
    auto it = fetches_.find(id);
    if (it == fetches_.end() || closing_) return;
    for (const PeerRef& peer : providers) {
      if (peer.id == transport_.node_id()) continue;
      Client& client = client_for(peer);
      client.fetches.insert(id);
      it->second.fetch->add_provider(peer.id, clock_.now());
    }
    drive(id);
  }

  void no_more_providers(FetchId id) override {
    auto it = fetches_.find(id);
    if (it == fetches_.end()) return;
    it->second.fetch->no_more_providers(clock_.now());
    drive(id);
  }

  const FetchProgress* progress(FetchId id) const override {
    auto it = fetches_.find(id);
    return it == fetches_.end() || it->second.fetch->finished() ? nullptr
                                                                : &it->second.fetch->progress();
  }

  void cancel(FetchId id) override {
    auto it = fetches_.find(id);
    if (it == fetches_.end() || it->second.fetch->finished()) return;
    // Cancels the blocks in flight (via the fetch's failure) and reports.
    finish_later(id, core::Error(ErrorCode::kFailedPrecondition, "fetch cancelled"));
  }

  // ---- Questions ----

  void holds(const PeerRef& peer, const crypto::Cid& root,
             std::function<void(core::Result<bool>)> done) override {
    ask(peer, HoldsRequest{0, root}, [done = std::move(done)](core::Result<Message> reply) {
      if (!reply) return done(tl::unexpected(reply.error()));
      done(std::get<HoldsReply>(*reply).holds);
    });
  }

  void ask_to_store(const PeerRef& peer, const crypto::Cid& root, uint64_t size,
                    std::function<void(core::Result<StoreReply>)> done) override {
    ask(peer, StoreRequest{0, root, size}, [done = std::move(done)](core::Result<Message> reply) {
      if (!reply) return done(tl::unexpected(reply.error()));
      done(std::get<StoreReply>(*reply));
    });
  }

  void call(const PeerRef& peer, uint32_t service, core::Bytes body, core::Duration timeout,
            std::function<void(core::Result<core::Bytes>)> done) override {
    SYNAPSE_CHECK(body.size() <= kMaxCallBodySize, "Exchange::call body over kMaxCallBodySize");
    ask(
        peer, CallRequest{0, service, std::move(body)},
        [done = std::move(done)](core::Result<Message> reply) {
          if (!reply) return done(tl::unexpected(reply.error()));
          CallReply& answer = std::get<CallReply>(*reply);
          if (answer.error != 0) {
            return done(make_error(static_cast<ErrorCode>(answer.error - 1), answer.message));
          }
          done(std::move(answer.body));
        },
        std::min(timeout, kRequestTimeout));
  }

  const PeerScores& scores() const override { return scores_; }
  const ExchangeStats& stats() const override { return stats_; }

  void close(std::function<void()> done) override {
    SYNAPSE_CHECK(!closing_, "Exchange::close called twice");
    closing_ = true;
    close_done_ = std::move(done);
    transport_.set_stream_handler(nullptr);
    std::vector<FetchId> ids;
    for (auto& [id, entry] : fetches_) ids.push_back(id);
    for (FetchId id : ids) {
      complete(id, make_error(ErrorCode::kFailedPrecondition, "the node is shutting down"));
    }
    std::vector<crypto::NodeId> peers;
    for (auto& [peer, client] : clients_) peers.push_back(peer);
    for (const crypto::NodeId& peer : peers) {
      drop_client(peer, core::Error(ErrorCode::kFailedPrecondition, "the node is shutting down"));
    }
    sessions_.clear();
    graveyard_.clear();
    for (uv_timer_t* timer : {&timer_, &pump_timer_}) {
      uv_close(reinterpret_cast<uv_handle_t*>(timer), [](uv_handle_t* handle) {
        auto* self = static_cast<UvExchange*>(handle->data);
        ++self->closed_handles_;
        self->maybe_closed();
      });
    }
  }

 private:
  struct FetchEntry {
    std::unique_ptr<Fetch> fetch;
    FetchDone done;
  };
  using ReplyHandler = std::function<void(core::Result<Message>)>;
  struct Waiting {
    ReplyHandler handler;
    core::MonoTime deadline;
  };
  // Our stream to a provider: we ask, it answers.
  struct Client {
    PeerRef peer;
    std::unique_ptr<dht::Stream> stream;  // null while opening
    std::vector<core::Bytes> backlog;     // frames written once it is open
    FrameReader reader;
    std::set<FetchId> fetches;
    std::map<uint64_t, Waiting> waiting;
  };
  // A requester's stream to us.
  struct Session {
    std::unique_ptr<dht::Stream> stream;
    FrameReader reader;
  };

  void maybe_closed() {
    if (closing_ && closed_handles_ == 2 && batches_out_ == 0 && close_done_) {
      std::exchange(close_done_, nullptr)();
    }
  }

  // ---- Storing fetched blocks on the libuv thread pool ----

  struct BatchWork {
    uv_work_t request{};
    UvExchange* self;
    FetchId fetch;
    std::vector<blockstore::Block> batch;
    core::Status result = core::ok();
  };

  // Writes a verified batch with put_many on a pool thread (the store is thread-safe), so that
  // the disk write overlaps receiving and hashing the next blocks on the loop thread.
  void store_batch(FetchId id, std::vector<blockstore::Block> batch) {
    auto* work = new BatchWork{{}, this, id, std::move(batch)};
    work->request.data = work;
    ++batches_out_;
    const int status = uv_queue_work(
        loop_, &work->request,
        [](uv_work_t* request) {
          auto* work = static_cast<BatchWork*>(request->data);
          auto stored = work->self->store_.put_many(work->batch);
          work->result = stored ? core::ok() : core::Status(tl::unexpected(stored.error()));
          work->batch.clear();
        },
        [](uv_work_t* request, int) {
          core::guarded("exchange batch stored", [&] {
            std::unique_ptr<BatchWork> work(static_cast<BatchWork*>(request->data));
            UvExchange* self = work->self;
            --self->batches_out_;
            auto it = self->fetches_.find(work->fetch);
            if (it != self->fetches_.end()) {
              it->second.fetch->on_stored(std::move(work->result));
              self->drive(work->fetch);
            }
            self->maybe_closed();
          });
        });
    SYNAPSE_CHECK(status == 0, "uv_queue_work cannot fail for a valid loop and callback");
  }

  // ---- Client side ----

  Client& client_for(const PeerRef& peer) {
    auto [it, inserted] = clients_.try_emplace(peer.id);
    if (!inserted) return it->second;
    it->second.peer = peer;
    ++stats_.streams_opened;
    transport_.open_stream(peer.endpoint,
                           [this, id = peer.id](core::Result<std::unique_ptr<dht::Stream>> stream) {
                             on_opened(id, std::move(stream));
                           });
    return it->second;
  }

  void on_opened(const crypto::NodeId& id, core::Result<std::unique_ptr<dht::Stream>> stream) {
    auto it = clients_.find(id);
    if (it == clients_.end()) return;  // dropped meanwhile; the stream closes with us
    if (!stream) return drop_client(id, stream.error());
    if ((*stream)->peer().node_id != id) {
      return drop_client(
          id, core::Error(ErrorCode::kPermissionDenied,
                          "the node at " + it->second.peer.endpoint.to_string() + " is " +
                              (*stream)->peer().node_id.short_id() + ", not " + id.short_id()));
    }
    Client& client = it->second;
    client.stream = std::move(*stream);
    client.stream->set_read_handler(
        [this, id](core::Result<core::ByteView> bytes) { on_client_bytes(id, std::move(bytes)); });
    for (core::Bytes& frame : client.backlog) write(client, frame);
    client.backlog.clear();
  }

  void send(const crypto::NodeId& peer, const Message& message) {
    auto it = clients_.find(peer);
    if (it == clients_.end()) return;
    core::Bytes frame = encode_frame(message);
    if (!it->second.stream) {
      it->second.backlog.push_back(std::move(frame));
    } else {
      write(it->second, frame);
    }
  }

  void write(Client& client, core::ByteView frame) {
    // Requests are small; a full queue means the peer stopped reading: the read side's idle
    // timeout reports that.
    if (auto status = client.stream->write(frame, [](core::Status) {}); !status) {
      spdlog::debug("exchange: write to {}: {}", client.peer.id.short_id(),
                    status.error().message());
    }
  }

  void ask(const PeerRef& peer, Message request, ReplyHandler handler,
           core::Duration timeout = kRequestTimeout) {
    if (closing_) {
      return handler(make_error(ErrorCode::kFailedPrecondition, "the node is shutting down"));
    }
    const uint64_t id = next_request_id_++;
    std::visit(
        [id](auto& question) {
          if constexpr (requires { question.id; }) question.id = id;
        },
        request);
    Client& client = client_for(peer);
    client.waiting[id] = {std::move(handler), clock_.now() + timeout};
    send(peer.id, request);
    arm_timer();
  }

  void on_client_bytes(const crypto::NodeId& id, core::Result<core::ByteView> bytes) {
    core::Status status = core::ok();
    if (!bytes) {
      status = tl::unexpected(bytes.error());
    } else if (bytes->empty()) {
      status = make_error(ErrorCode::kIo, "the provider ended the stream");
    } else {
      auto it = clients_.find(id);
      if (it == clients_.end()) return;
      status = it->second.reader.feed(
          *bytes, [&](Message message) { return on_answer(id, std::move(message)); });
      if (!status && status.error().code() == ErrorCode::kInvalidArgument) {
        ++stats_.protocol_errors;
      }
    }
    if (!status) drop_client(id, status.error());
  }

  core::Status on_answer(const crypto::NodeId& peer, Message message) {
    const core::MonoTime now = clock_.now();
    auto it = clients_.find(peer);
    if (it == clients_.end()) return core::ok();
    Client& client = it->second;
    if (auto* block = std::get_if<BlockData>(&message)) {
      for (FetchId id : client.fetches) {
        Fetch& fetch = *fetches_.at(id).fetch;
        if (!fetch.awaits(peer, block->cid)) continue;
        stats_.bytes_fetched += block->data.size();
        fetch.on_block(peer, block->cid, std::move(block->data), now);
        drive(id);
        break;
      }
      return core::ok();
    }
    if (auto* missing = std::get_if<Missing>(&message)) {
      std::vector<FetchId> ids(client.fetches.begin(), client.fetches.end());
      for (FetchId id : ids) {
        if (!fetches_.at(id).fetch->awaits(peer, missing->cid)) continue;
        fetches_.at(id).fetch->on_missing(peer, missing->cid, now);
        drive(id);
      }
      return core::ok();
    }
    uint64_t request_id = 0;
    if (auto* reply = std::get_if<HoldsReply>(&message)) {
      request_id = reply->id;
    } else if (auto* reply = std::get_if<StoreReply>(&message)) {
      request_id = reply->id;
    } else if (auto* reply = std::get_if<CallReply>(&message)) {
      request_id = reply->id;
    } else {
      return make_error(ErrorCode::kInvalidArgument, "a provider sent a request");
    }
    auto waiting = client.waiting.find(request_id);
    if (waiting == client.waiting.end()) return core::ok();  // timed out already
    ReplyHandler handler = std::move(waiting->second.handler);
    client.waiting.erase(waiting);
    handler(std::move(message));
    return core::ok();
  }

  // Forgets the stream to `peer`: its fetches lose the provider, its questions fail.
  void drop_client(const crypto::NodeId& peer, const core::Error& error) {
    auto it = clients_.find(peer);
    if (it == clients_.end()) return;
    Client client = std::move(it->second);
    clients_.erase(it);
    ++stats_.stream_failures;
    if (!closing_) {
      spdlog::debug("exchange: stream to {} dropped: {}", peer.short_id(), error.message());
      scores_.on_failure(peer, clock_.now());
    }
    if (client.stream) graveyard_.push_back(std::move(client.stream));
    schedule_pump();  // clears the graveyard outside this call stack
    for (auto& [id, waiting] : client.waiting) waiting.handler(tl::unexpected(error));
    for (FetchId id : client.fetches) {
      auto fetch = fetches_.find(id);
      if (fetch == fetches_.end()) continue;
      fetch->second.fetch->remove_provider(peer, clock_.now());
      drive(id);
    }
  }

  // Sends what the fetch wants to send, and reports it once it has finished.
  void drive(FetchId id) {
    auto it = fetches_.find(id);
    if (it == fetches_.end()) return;
    Fetch& fetch = *it->second.fetch;
    Fetch::Outgoing out = fetch.take_outgoing(clock_.now());
    for (Fetch::Request& cancel : out.cancels) send_list<Cancel>(cancel);
    for (Fetch::Request& want : out.wants) send_list<Want>(want);
    if (fetch.finished()) {
      deferred_.push_back({id, std::nullopt});  // reported from the loop, not inside a call
      schedule_pump();
    } else {
      arm_timer();
    }
  }

  template <typename List>
  void send_list(const Fetch::Request& request) {
    for (size_t i = 0; i < request.cids.size(); i += kMaxCidsPerMessage) {
      const size_t end = std::min(request.cids.size(), i + kMaxCidsPerMessage);
      send(request.peer, List{{request.cids.begin() + i, request.cids.begin() + end}});
    }
  }

  void complete(FetchId id, core::Status result) {
    auto it = fetches_.find(id);
    if (it == fetches_.end()) return;
    FetchEntry entry = std::move(it->second);
    fetches_.erase(it);
    // Cancelled or closed: keep what was verified (its last batch goes to the store).
    if (!result && !entry.fetch->finished()) {
      entry.fetch->cancel(result.error());
      for (Fetch::Request& cancel : entry.fetch->take_outgoing(clock_.now()).cancels) {
        send_list<Cancel>(cancel);
      }
    }
    for (auto& [peer, client] : clients_) client.fetches.erase(id);
    if (result) {
      ++stats_.fetches_completed;
    } else {
      ++stats_.fetches_failed;
    }
    if (entry.done) entry.done(std::move(result), entry.fetch->progress());
  }

  // complete() from the loop, never inside the caller's call.
  void finish_later(FetchId id, core::Error error) {
    deferred_.push_back({id, std::move(error)});
    schedule_pump();
  }

  void complete_deferred() {
    auto deferred = std::move(deferred_);
    deferred_.clear();
    for (auto& [id, error] : deferred) {
      auto it = fetches_.find(id);
      if (it == fetches_.end()) continue;
      if (error) {
        complete(id, tl::unexpected(*error));
      } else {
        complete(id, it->second.fetch->result());
      }
    }
  }

  // ---- Server side ----

  void accept(std::unique_ptr<dht::Stream> stream) {
    if (closing_) return;
    ++stats_.streams_accepted;
    const uint64_t id = next_session_id_++;
    Session& session = sessions_[id];
    session.stream = std::move(stream);
    session.stream->set_read_handler(
        [this, id](core::Result<core::ByteView> bytes) { on_session_bytes(id, std::move(bytes)); });
  }

  void on_session_bytes(uint64_t id, core::Result<core::ByteView> bytes) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    core::Status status = core::ok();
    if (!bytes || bytes->empty()) {
      status = make_error(ErrorCode::kIo, "ended");
    } else {
      status = it->second.reader.feed(
          *bytes, [&](Message message) { return on_request(id, std::move(message)); });
      if (!status) {
        ++stats_.protocol_errors;
        spdlog::debug("exchange: dropping requester {}: {}",
                      it->second.stream->peer().node_id.short_id(), status.error().message());
      }
    }
    if (!status) drop_session(id);
  }

  void drop_session(uint64_t id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    serve_queue_.remove(id);
    graveyard_.push_back(std::move(it->second.stream));
    sessions_.erase(it);
    schedule_pump();
  }

  core::Status on_request(uint64_t id, Message message) {
    Session& session = sessions_.at(id);
    if (auto* want = std::get_if<Want>(&message)) {
      for (const crypto::Cid& cid : serve_queue_.want(id, std::move(want->cids))) {
        answer(session, Missing{cid});
        ++stats_.missing_served;
      }
      schedule_pump();
    } else if (auto* cancel = std::get_if<Cancel>(&message)) {
      serve_queue_.cancel(id, cancel->cids);
    } else if (auto* request = std::get_if<HoldsRequest>(&message)) {
      const bool held = options_.holds && options_.holds(request->root);
      answer(session, HoldsReply{request->id, held});
    } else if (auto* request = std::get_if<StoreRequest>(&message)) {
      StoreReply reply{request->id, false, "this node keeps no replicas"};
      if (options_.on_store_request) {
        reply = options_.on_store_request(
            PeerRef{session.stream->peer().node_id, session.stream->remote()}, *request);
        reply.id = request->id;
        if (reply.reason.size() > kMaxReasonSize) reply.reason.resize(kMaxReasonSize);
      }
      answer(session, reply);
    } else if (auto* request = std::get_if<CallRequest>(&message)) {
      on_call_request(id, session, std::move(*request));
    } else {
      return make_error(ErrorCode::kInvalidArgument, "a requester sent an answer");
    }
    return core::ok();
  }

  void on_call_request(uint64_t session_id, Session& session, CallRequest request) {
    const uint64_t call_id = request.id;
    if (!options_.on_call) {
      answer(session, CallReply{call_id,
                                static_cast<uint32_t>(ErrorCode::kUnsupported) + 1,
                                "this node offers no services",
                                {}});
      return;
    }
    const dht::Stream& stream = *session.stream;
    Caller caller{PeerRef{stream.peer().node_id, stream.remote()}, stream.peer().certificate};
    options_.on_call(caller, request.service, std::move(request.body),
                     [this, session_id, call_id](core::Result<core::Bytes> result) {
                       auto it = sessions_.find(session_id);
                       if (it == sessions_.end() || closing_) return;
                       CallReply reply{call_id, 0, {}, {}};
                       if (result && result->size() > kMaxCallBodySize) {
                         result = make_error(ErrorCode::kInternal, "reply over the size limit");
                       }
                       if (result) {
                         reply.body = std::move(*result);
                       } else {
                         reply.error = static_cast<uint32_t>(result.error().code()) + 1;
                         reply.message = result.error().message().substr(0, kMaxReasonSize);
                       }
                       answer(it->second, reply);
                     });
  }

  void answer(Session& session, const Message& message) {
    const core::Bytes frame = encode_frame(message);
    (void)session.stream->write(frame, [this](core::Status) { schedule_pump(); });
  }

  double burst() const {
    return std::max(static_cast<double>(options_.max_upload_rate) / 4,
                    static_cast<double>(blockstore::kMaxBlockSize));
  }

  // Serves queued wants in turn while streams have room and the upload rate allows.
  void pump() {
    if (closing_) return;
    const core::MonoTime now = clock_.now();
    if (options_.max_upload_rate > 0) {
      const double elapsed = std::chrono::duration<double>(now - last_refill_).count();
      tokens_ =
          std::min(burst(), tokens_ + elapsed * static_cast<double>(options_.max_upload_rate));
    }
    last_refill_ = now;
    while (options_.max_upload_rate == 0 || tokens_ > 0) {
      auto next = serve_queue_.next([&](uint64_t id) {
        auto it = sessions_.find(id);
        return it != sessions_.end() &&
               it->second.stream->queued_bytes() < options_.stream_write_budget;
      });
      if (!next) break;
      Session& session = sessions_.at(next->first);
      auto bytes = store_.get(next->second);
      if (!bytes) {
        answer(session, Missing{next->second});
        ++stats_.missing_served;
        continue;
      }
      if (options_.corrupt_served_blocks && !bytes->empty()) (*bytes)[bytes->size() / 2] ^= 0x5a;
      ++stats_.blocks_served;
      stats_.bytes_served += bytes->size();
      tokens_ -= static_cast<double>(bytes->size());
      answer(session, BlockData{next->second, std::move(*bytes)});
    }
    arm_timer();
  }

  void schedule_pump() {
    if (closing_ || uv_is_active(reinterpret_cast<uv_handle_t*>(&pump_timer_))) return;
    uv_timer_start(
        &pump_timer_,
        [](uv_timer_t* timer) {
          core::guarded("exchange pump", [&] {
            auto* self = static_cast<UvExchange*>(timer->data);
            self->graveyard_.clear();
            self->complete_deferred();
            self->pump();
          });
        },
        0, 0);
  }

  // ---- Timers ----

  void arm_timer() {
    if (closing_) return;
    core::MonoTime next = core::MonoTime::max();
    for (const auto& [id, entry] : fetches_) next = std::min(next, entry.fetch->next_timer());
    for (const auto& [peer, client] : clients_) {
      for (const auto& [id, waiting] : client.waiting) next = std::min(next, waiting.deadline);
    }
    if (options_.max_upload_rate > 0 && tokens_ <= 0 && serve_queue_.queued() > 0) {
      const double wait = -tokens_ / static_cast<double>(options_.max_upload_rate);
      next = std::min(next, clock_.now() + std::chrono::duration_cast<core::Duration>(
                                               std::chrono::duration<double>(wait)));
    }
    if (next == core::MonoTime::max()) {
      uv_timer_stop(&timer_);
      return;
    }
    uv_timer_start(
        &timer_,
        [](uv_timer_t* timer) {
          core::guarded("exchange timer",
                        [&] { static_cast<UvExchange*>(timer->data)->on_timer(); });
        },
        to_ms(next - clock_.now()), 0);
  }

  void on_timer() {
    const core::MonoTime now = clock_.now();
    std::vector<FetchId> ids;
    for (auto& [id, entry] : fetches_) ids.push_back(id);
    for (FetchId id : ids) {
      auto it = fetches_.find(id);
      if (it == fetches_.end()) continue;
      it->second.fetch->on_timer(now);
      drive(id);
    }
    std::vector<std::pair<crypto::NodeId, uint64_t>> expired;
    for (auto& [peer, client] : clients_) {
      for (auto& [id, waiting] : client.waiting) {
        if (waiting.deadline <= now) expired.emplace_back(peer, id);
      }
    }
    for (auto& [peer, id] : expired) {
      auto client = clients_.find(peer);
      if (client == clients_.end()) continue;
      auto waiting = client->second.waiting.find(id);
      if (waiting == client->second.waiting.end()) continue;
      ReplyHandler handler = std::move(waiting->second.handler);
      client->second.waiting.erase(waiting);
      handler(make_error(ErrorCode::kIo, peer.short_id() + " did not answer in time"));
    }
    pump();
  }

  uv_loop_t* loop_;
  dht::Transport& transport_;
  blockstore::BlockStore& store_;
  const core::Clock& clock_;
  ExchangeOptions options_;
  PeerScores scores_;
  ServeQueue serve_queue_;
  ExchangeStats stats_;

  std::map<FetchId, FetchEntry> fetches_;
  std::map<crypto::NodeId, Client> clients_;
  std::map<uint64_t, Session> sessions_;
  std::vector<std::unique_ptr<dht::Stream>> graveyard_;  // destroyed from the pump timer
  // Fetches to report from the pump timer: with the error (cancelled) or their own result.
  std::vector<std::pair<FetchId, std::optional<core::Error>>> deferred_;
  FetchId next_fetch_id_ = 1;
  uint64_t next_request_id_ = 1;
  uint64_t next_session_id_ = 1;
  double tokens_ = 0;
  core::MonoTime last_refill_{};

  uv_timer_t timer_{};
  uv_timer_t pump_timer_{};
  bool closing_ = false;
  int closed_handles_ = 0;
  size_t batches_out_ = 0;  // store_batch() work not yet back
  std::function<void()> close_done_;
};

}  // namespace

core::Result<std::unique_ptr<Exchange>> Exchange::create(uv_loop_t* loop, dht::Transport& transport,
                                                         blockstore::BlockStore& store,
                                                         const core::Clock& clock,
                                                         ExchangeOptions options) {
  if (loop == nullptr) return make_error(ErrorCode::kInvalidArgument, "no loop");
  return std::make_unique<UvExchange>(loop, transport, store, clock, std::move(options));
}

}  // namespace synapse::exchange
