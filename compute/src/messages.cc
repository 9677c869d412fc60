// The msgpack codec of coordinator and worker messages; msgpack throws, and every exception is
// caught here.
#include "synapse/compute/messages.h"

#include <cmath>

#include "synapse/compute/spec.h"
#include "synapse/core/msgpack_codec.h"

namespace synapse::compute {
namespace {

using core::ErrorCode;
using core::make_error;
using namespace core::msgpack_codec;

constexpr uint64_t kTypeCount = std::variant_size_v<Message>;
constexpr uint32_t kFieldCounts[kTypeCount] = {6, 3, 3, 1, 2, 0, 9, 2, 2, 3};

std::string clip(const std::string& text, size_t max = kMaxTextSize) {
  return text.size() <= max ? text : text.substr(0, max);
}

class Writer {
 public:
  Writer() : sink_(bytes_), packer_(sink_) {}
  void header(uint64_t type, uint32_t fields) {
    packer_.pack_array(2 + fields);
    packer_.pack_uint64(kComputeWireVersion);
    packer_.pack_uint64(type);
  }
  void uint(uint64_t v) { packer_.pack_uint64(v); }
  void sint(int64_t v) { packer_.pack_int64(v); }
  void real(double v) { packer_.pack_double(std::isfinite(v) ? v : 0.0); }
  void boolean(bool v) { v ? packer_.pack_true() : packer_.pack_false(); }
  void str(const std::string& text, size_t max = kMaxTextSize) { packer_.pack(clip(text, max)); }
  void array(size_t n) {
    SYNAPSE_CHECK(n <= kMaxTasksPerMessage, "compute message list over kMaxTasksPerMessage");
    packer_.pack_array(static_cast<uint32_t>(n));
  }
  void key(const TaskKey& k) {
    array(3);
    str(k.job);
    uint(k.instance);
    uint(k.task);
  }
  void attempt(const AttemptRef& a) {
    array(2);
    key(a.key);
    uint(a.attempt);
  }
  void load(const Load& l) {
    array(5);
    real(l.cpus_free);
    uint(l.memory_free);
    uint(l.gpus_free);
    uint(l.running);
    uint(l.waiting);
  }
  void usage(const Usage& u) {
    array(3);
    real(u.cpu_seconds);
    uint(u.max_memory_bytes);
    real(u.wall_seconds);
  }
  void report(const TaskReport& r) {
    array(5);
    key(r.key);
    uint(r.attempt);
    uint(static_cast<uint64_t>(r.state));
    sint(r.started_ms);
    usage(r.usage);
  }
  void finished(const Finished& f) {
    attempt(f.attempt);
    uint(static_cast<uint64_t>(f.outcome));
    sint(f.exit_code);
    str(f.reason);
    usage(f.usage);
    sint(f.started_ms);
    sint(f.ended_ms);
    str(f.staged);
    boolean(f.retry);
  }
  core::Bytes take() {
    SYNAPSE_CHECK(bytes_.size() <= kMaxMessageSize, "compute message over kMaxMessageSize");
    return std::move(bytes_);
  }

 private:
  core::Bytes bytes_;
  ByteSink sink_;
  msgpack::packer<ByteSink> packer_;
};

// ---- Decoding ----

std::string as_str(const msgpack::object& o, size_t max = kMaxTextSize) {
  if (o.type != msgpack::type::STR) fail("expected a string");
  if (o.via.str.size > max) fail("string over its limit");
  return std::string(o.via.str.ptr, o.via.str.size);
}
int64_t as_int(const msgpack::object& o) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > static_cast<uint64_t>(INT64_MAX)) fail("integer out of range");
    return static_cast<int64_t>(o.via.u64);
  }
  if (o.type != msgpack::type::NEGATIVE_INTEGER) fail("expected an integer");
  return o.via.i64;
}
double as_real(const msgpack::object& o) {
  // msgpack-c packs a double with an integral value as an integer.
  if (o.type == msgpack::type::POSITIVE_INTEGER) return static_cast<double>(o.via.u64);
  if (o.type != msgpack::type::FLOAT64 && o.type != msgpack::type::FLOAT32)
    fail("expected a float");
  if (!std::isfinite(o.via.f64) || o.via.f64 < 0) fail("float out of range");
  return o.via.f64;
}
const msgpack::object* tuple(const msgpack::object& o, uint32_t size) {
  const msgpack::object_array& list = as_list(o, size);
  if (list.size != size) fail("wrong number of fields");
  return list.ptr;
}
TaskKey as_key(const msgpack::object& o) {
  const msgpack::object* f = tuple(o, 3);
  TaskKey key{as_str(f[0]), as_uint(f[1]), static_cast<uint32_t>(as_uint(f[2], UINT32_MAX))};
  if (!valid_job_name(key.job)) fail("bad job name");
  return key;
}
AttemptRef as_attempt(const msgpack::object& o) {
  const msgpack::object* f = tuple(o, 2);
  return AttemptRef{as_key(f[0]), static_cast<uint32_t>(as_uint(f[1], UINT32_MAX))};
}
Load as_load(const msgpack::object& o) {
  const msgpack::object* f = tuple(o, 5);
  return Load{as_real(f[0]), as_uint(f[1]), static_cast<uint32_t>(as_uint(f[2], UINT32_MAX)),
              static_cast<uint32_t>(as_uint(f[3], UINT32_MAX)),
              static_cast<uint32_t>(as_uint(f[4], UINT32_MAX))};
}
Usage as_usage(const msgpack::object& o) {
  const msgpack::object* f = tuple(o, 3);
  return Usage{as_real(f[0]), as_uint(f[1]), as_real(f[2])};
}
TaskState as_state(const msgpack::object& o) {
  return static_cast<TaskState>(as_uint(o, static_cast<uint64_t>(TaskState::kRejected)));
}
TaskReport as_report(const msgpack::object& o) {
  const msgpack::object* f = tuple(o, 5);
  return TaskReport{as_key(f[0]), static_cast<uint32_t>(as_uint(f[1], UINT32_MAX)), as_state(f[2]),
                    as_int(f[3]), as_usage(f[4])};
}
Finished as_finished(const msgpack::object* f) {
  Finished out;
  out.attempt = as_attempt(f[0]);
  out.outcome = as_state(f[1]);
  const int64_t code = as_int(f[2]);
  if (code < INT32_MIN || code > INT32_MAX) fail("exit code out of range");
  out.exit_code = static_cast<int>(code);
  out.reason = as_str(f[3]);
  out.usage = as_usage(f[4]);
  out.started_ms = as_int(f[5]);
  out.ended_ms = as_int(f[6]);
  out.staged = as_str(f[7]);
  out.retry = as_bool(f[8]);
  return out;
}
template <typename T, typename F>
std::vector<T> as_vector(const msgpack::object& o, F read) {
  const msgpack::object_array& list = as_list(o, kMaxTasksPerMessage);
  std::vector<T> out;
  out.reserve(list.size);
  for (uint32_t i = 0; i < list.size; ++i) out.push_back(read(list.ptr[i]));
  return out;
}

Message read_body(uint64_t type, const msgpack::object* f) {
  switch (type) {
    case 1: {
      Offer offer;
      offer.key = as_key(f[0]);
      offer.attempt = static_cast<uint32_t>(as_uint(f[1], UINT32_MAX));
      offer.epoch = as_uint(f[2]);
      offer.array = as_bool(f[3]);
      offer.user = as_str(f[4]);
      offer.spec_text = as_str(f[5], kMaxSpecBytes);
      return offer;
    }
    case 2:
      return OfferReply{as_bool(f[0]), as_str(f[1]), as_load(f[2])};
    case 3:
      return Heartbeat{as_uint(f[0]), as_vector<TaskReport>(f[1], as_report), as_load(f[2])};
    case 4:
      return HeartbeatReply{as_vector<AttemptRef>(f[0], as_attempt)};
    case 5:
      return Cancel{as_attempt(f[0]), as_str(f[1])};
    case 6:
      return Ack{};
    case 7:
      return as_finished(f);
    case 8:
      return Probe{as_uint(f[0]), as_vector<TaskKey>(f[1], as_key)};
    case 9:
      return ProbeReply{as_vector<TaskReport>(f[0], as_report),
                        as_vector<Finished>(f[1], [](const msgpack::object& o) {
                          return as_finished(tuple(o, kFieldCounts[6]));
                        })};
    default:
      return CancelJob{as_str(f[0]), as_uint(f[1]), as_str(f[2])};
  }
}

}  // namespace

core::Bytes encode_message(const Message& message) {
  Writer w;
  w.header(message.index() + 1, kFieldCounts[message.index()]);
  std::visit(Overloaded{
                 [&](const Offer& m) {
                   w.key(m.key);
                   w.uint(m.attempt);
                   w.uint(m.epoch);
                   w.boolean(m.array);
                   w.str(m.user);
                   w.str(m.spec_text, kMaxSpecBytes);
                 },
                 [&](const OfferReply& m) {
                   w.boolean(m.accepted);
                   w.str(m.reason);
                   w.load(m.load);
                 },
                 [&](const Heartbeat& m) {
                   w.uint(m.epoch);
                   w.array(m.tasks.size());
                   for (const TaskReport& r : m.tasks) w.report(r);
                   w.load(m.load);
                 },
                 [&](const HeartbeatReply& m) {
                   w.array(m.drop.size());
                   for (const AttemptRef& a : m.drop) w.attempt(a);
                 },
                 [&](const Cancel& m) {
                   w.attempt(m.attempt);
                   w.str(m.reason);
                 },
                 [&](const Ack&) {},
                 [&](const Finished& m) { w.finished(m); },
                 [&](const Probe& m) {
                   w.uint(m.epoch);
                   w.array(m.tasks.size());
                   for (const TaskKey& k : m.tasks) w.key(k);
                 },
                 [&](const ProbeReply& m) {
                   w.array(m.running.size());
                   for (const TaskReport& r : m.running) w.report(r);
                   w.array(m.finished.size());
                   for (const Finished& f : m.finished) {
                     w.array(kFieldCounts[6]);
                     w.finished(f);
                   }
                 },
                 [&](const CancelJob& m) {
                   w.str(m.job);
                   w.uint(m.instance);
                   w.str(m.reason);
                 },
             },
             message);
  return w.take();
}

core::Result<Message> decode_message(core::ByteView bytes) {
  if (bytes.size() > kMaxMessageSize) {
    return make_error(ErrorCode::kInvalidArgument, "compute message over its size limit");
  }
  msgpack::zone zone;
  try {
    // array, map, str, bin, ext sizes and nesting depth.
    const msgpack::unpack_limit limit(kMaxTasksPerMessage, 0, kMaxSpecBytes, 0, 0, 6);
    size_t offset = 0;
    bool referenced = false;
    const msgpack::object root =
        msgpack::unpack(zone, reinterpret_cast<const char*>(bytes.data()), bytes.size(), offset,
                        referenced, reference_bin, nullptr, limit);
    if (offset != bytes.size()) fail("trailing bytes after the message");
    if (root.type != msgpack::type::ARRAY || root.via.array.size < 2) fail("not a message");
    const msgpack::object* items = root.via.array.ptr;
    if (as_uint(items[0]) != kComputeWireVersion) fail("unsupported version");
    const uint64_t type = as_uint(items[1]);
    if (type < 1 || type > kTypeCount) fail("unknown message type");
    if (root.via.array.size != 2 + kFieldCounts[type - 1]) fail("wrong number of fields");
    return read_body(type, items + 2);
  } catch (const DecodeError& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("compute message: ") + e.what);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("compute message: ") + e.what());
  } catch (...) {
    return make_error(ErrorCode::kInvalidArgument, "compute message: undecodable");
  }
}

}  // namespace synapse::compute
