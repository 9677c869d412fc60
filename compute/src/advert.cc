// The msgpack codec of resource adverts; msgpack throws, and every exception is caught here.
#include "synapse/compute/advert.h"

#include <cmath>
#include <cstdio>

#include "synapse/core/msgpack_codec.h"
#include "synapse/core/units.h"
#include "synapse/crypto/hash.h"

namespace synapse::compute {
namespace {

using core::ErrorCode;
using core::make_error;
using namespace core::msgpack_codec;

constexpr uint64_t kAdvertVersion = 1;
constexpr uint32_t kAdvertFields = 15;
constexpr size_t kMaxListed = 64;
constexpr size_t kMaxName = 128;

core::Bytes encode(const NodeAdvert& a) {
  core::Bytes out;
  ByteSink sink(out);
  msgpack::packer<ByteSink> p(sink);
  const auto real = [&](double v) { p.pack_double(std::isfinite(v) && v >= 0 ? v : 0.0); };
  const auto strings = [&](const std::vector<std::string>& list) {
    p.pack_array(static_cast<uint32_t>(std::min(list.size(), kMaxListed)));
    for (size_t i = 0; i < list.size() && i < kMaxListed; ++i) p.pack(list[i].substr(0, kMaxName));
  };
  p.pack_array(kAdvertFields);
  p.pack_uint64(kAdvertVersion);
  p.pack(a.name.substr(0, kMaxName));
  p.pack_uint64(a.cpus);
  p.pack_uint64(a.memory);
  p.pack_uint64(a.disk_free);
  p.pack_array(static_cast<uint32_t>(std::min(a.gpus.size(), kMaxListed)));
  for (size_t i = 0; i < a.gpus.size() && i < kMaxListed; ++i) {
    p.pack_array(3);
    p.pack_uint64(a.gpus[i].index);
    p.pack(a.gpus[i].name.substr(0, kMaxName));
    p.pack_uint64(a.gpus[i].memory_bytes);
  }
  p.pack_array(static_cast<uint32_t>(a.runtimes.size()));
  for (RuntimeKind kind : a.runtimes) p.pack_uint64(static_cast<uint64_t>(kind));
  strings(a.labels);
  p.pack_array(5);
  real(a.load.cpus_free);
  p.pack_uint64(a.load.memory_free);
  p.pack_uint64(a.load.gpus_free);
  p.pack_uint64(a.load.running);
  p.pack_uint64(a.load.waiting);
  real(a.load1);
  a.accepts_jobs ? p.pack_true() : p.pack_false();
  a.mounted ? p.pack_true() : p.pack_false();
  strings(a.allow);
  p.pack_uint64(a.queue_depth);
  p.pack_int64(a.wall_ms);
  return out;
}

std::string as_str(const msgpack::object& o) {
  if (o.type != msgpack::type::STR) fail("expected a string");
  if (o.via.str.size > kMaxName) fail("string over its limit");
  return std::string(o.via.str.ptr, o.via.str.size);
}
double as_real(const msgpack::object& o) {
  // msgpack-c packs a double with an integral value as an integer.
  if (o.type == msgpack::type::POSITIVE_INTEGER) return static_cast<double>(o.via.u64);
  if (o.type != msgpack::type::FLOAT64 && o.type != msgpack::type::FLOAT32)
    fail("expected a float");
  if (!std::isfinite(o.via.f64) || o.via.f64 < 0) fail("float out of range");
  return o.via.f64;
}
std::vector<std::string> as_strings(const msgpack::object& o) {
  const msgpack::object_array& list = as_list(o, kMaxListed);
  std::vector<std::string> out;
  for (uint32_t i = 0; i < list.size; ++i) out.push_back(as_str(list.ptr[i]));
  return out;
}
uint32_t as_u32(const msgpack::object& o) { return static_cast<uint32_t>(as_uint(o, UINT32_MAX)); }

}  // namespace

std::string advert_text(const NodeAdvert& a) {
  char load[32];
  std::snprintf(load, sizeof(load), "%.2f", a.load1);
  std::string out;
  if (!a.name.empty()) out += "name " + a.name + "\n";
  out += "cpus " + std::to_string(a.cpus) + "\n";
  out += "memory " + core::format_size(a.memory) + "\n";
  out += "disk_free " + core::format_size(a.disk_free) + "\n";
  out += "gpus " + std::to_string(a.gpus.size());
  for (size_t i = 0; i < a.gpus.size(); ++i) {
    out += (i == 0 ? " (" : ", ") + (a.gpus[i].name.empty() ? "GPU" : a.gpus[i].name);
    if (i + 1 == a.gpus.size()) out += ")";
  }
  out += "\n";
  out += std::string("load ") + load + "\n";
  out += "runtimes";
  for (RuntimeKind kind : a.runtimes) out += " " + std::string(runtime_kind_name(kind));
  out += "\n";
  if (!a.labels.empty()) {
    out += "labels";
    for (const std::string& label : a.labels) out += " " + label;
    out += "\n";
  }
  out += "jobs_running " + std::to_string(a.load.running) + "\n";
  out += "jobs_waiting " + std::to_string(a.load.waiting) + "\n";
  out += std::string("accepts_jobs ") + (a.accepts_jobs ? "yes" : "no") + "\n";
  return out;
}

crypto::NodeId advert_key(size_t shard) {
  const std::string name = "synapse/jobs/adverts/v1/" + std::to_string(shard % kAdvertShards);
  return crypto::NodeId(crypto::sha256(core::as_bytes(name)));
}

core::Bytes encode_advert(const NodeAdvert& advert) {
  // Cut what matters least until it fits: the allow list, then labels, GPU names, the name.
  NodeAdvert fitted = advert;
  core::Bytes out = encode(fitted);
  while (out.size() > kMaxAdvertSize) {
    if (!fitted.allow.empty()) {
      fitted.allow.pop_back();
    } else if (!fitted.labels.empty()) {
      fitted.labels.pop_back();
    } else if (auto named = std::find_if(fitted.gpus.begin(), fitted.gpus.end(),
                                         [](const GpuInfo& g) { return !g.name.empty(); });
               named != fitted.gpus.end()) {
      named->name.clear();
    } else if (!fitted.name.empty()) {
      fitted.name.clear();
    } else {
      fitted.gpus.pop_back();  // 64 GPUs without names fit: only reached by absurd inputs
    }
    out = encode(fitted);
  }
  return out;
}

core::Result<NodeAdvert> decode_advert(core::ByteView bytes) {
  if (bytes.size() > kMaxAdvertSize) {
    return make_error(ErrorCode::kInvalidArgument, "advert over its size limit");
  }
  msgpack::zone zone;
  try {
    const msgpack::unpack_limit limit(kMaxListed, 0, kMaxName, 0, 0, 4);
    size_t offset = 0;
    bool referenced = false;
    const msgpack::object root =
        msgpack::unpack(zone, reinterpret_cast<const char*>(bytes.data()), bytes.size(), offset,
                        referenced, reference_bin, nullptr, limit);
    if (offset != bytes.size()) fail("trailing bytes");
    const msgpack::object_array& f = as_list(root, kAdvertFields);
    if (f.size < 2 || as_uint(f.ptr[0]) != kAdvertVersion) fail("unsupported advert version");
    if (f.size != kAdvertFields) fail("wrong number of fields");
    const msgpack::object* v = f.ptr;
    NodeAdvert a;
    a.name = as_str(v[1]);
    a.cpus = as_u32(v[2]);
    a.memory = as_uint(v[3]);
    a.disk_free = as_uint(v[4]);
    const msgpack::object_array& gpus = as_list(v[5], kMaxListed);
    for (uint32_t i = 0; i < gpus.size; ++i) {
      const msgpack::object_array& g = as_list(gpus.ptr[i], 3);
      if (g.size != 3) fail("bad GPU");
      a.gpus.push_back(GpuInfo{as_u32(g.ptr[0]), as_str(g.ptr[1]), as_uint(g.ptr[2])});
    }
    const msgpack::object_array& runtimes = as_list(v[6], 8);
    for (uint32_t i = 0; i < runtimes.size; ++i) {
      a.runtimes.push_back(static_cast<RuntimeKind>(
          as_uint(runtimes.ptr[i], static_cast<uint64_t>(RuntimeKind::kPodman))));
    }
    a.labels = as_strings(v[7]);
    const msgpack::object_array& load = as_list(v[8], 5);
    if (load.size != 5) fail("bad load");
    a.load = Load{as_real(load.ptr[0]), as_uint(load.ptr[1]), as_u32(load.ptr[2]),
                  as_u32(load.ptr[3]), as_u32(load.ptr[4])};
    a.load1 = as_real(v[9]);
    a.accepts_jobs = as_bool(v[10]);
    a.mounted = as_bool(v[11]);
    a.allow = as_strings(v[12]);
    a.queue_depth = as_u32(v[13]);
    if (v[14].type == msgpack::type::NEGATIVE_INTEGER) {
      a.wall_ms = v[14].via.i64;
    } else {
      a.wall_ms = static_cast<int64_t>(as_uint(v[14], INT64_MAX));
    }
    return a;
  } catch (const DecodeError& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("advert: ") + e.what);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("advert: ") + e.what());
  } catch (...) {
    return make_error(ErrorCode::kInvalidArgument, "advert: undecodable");
  }
}

}  // namespace synapse::compute
