// synapse up | down | status | peers | dht put|get|providers|provide: the running node and the
// commands that talk to it over its control socket (docs/control.md).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <thread>

#include "context.h"
#include "synapse/core/units.h"
#include "synapse/crypto/certificate.h"
#include "synapse/crypto/swarm_key.h"
#include "synapse/daemon/control.h"
#include "synapse/daemon/daemon.h"
#include "synapse/mount/mount.h"

namespace synapse::cli {

using core::ErrorCode;
using core::make_error;
using nlohmann::json;

namespace {

struct UpOptions {
  std::string listen;
  std::vector<std::string> bootstrap;
  std::string mount;
  bool no_discovery = false;
  bool detach = false;
  bool json = false;
  std::string log_level;
};

core::Result<daemon::DaemonOptions> daemon_options(Context& context, const UpOptions& up) {
  SYNAPSE_RETURN_IF_ERROR(context.require_home());
  SYNAPSE_ASSIGN_OR_RETURN(const Config* config, context.config());
  SYNAPSE_ASSIGN_OR_RETURN(crypto::NodeIdentity identity,
                           crypto::NodeIdentity::load(context.env, context.identity_path()));
  SYNAPSE_ASSIGN_OR_RETURN(std::filesystem::path key_path, context.swarm_key_path());
  SYNAPSE_ASSIGN_OR_RETURN(bool has_key, context.env.exists(key_path));
  if (!has_key) {
    return make_error(ErrorCode::kNotFound,
                      "no swarm key at " + key_path.string() +
                          ": copy your swarm's key there, or start a new swarm with `synapse "
                          "swarm new -o " +
                          key_path.string() + "`");
  }
  SYNAPSE_ASSIGN_OR_RETURN(crypto::SwarmKey swarm_key,
                           crypto::SwarmKey::load(context.env, key_path));
  daemon::DaemonOptions options{
      .home = context.home, .identity = std::move(identity), .swarm_key = std::move(swarm_key)};
  SYNAPSE_ASSIGN_OR_RETURN(bool has_certificate, context.env.exists(context.certificate_path()));
  if (has_certificate) {
    SYNAPSE_ASSIGN_OR_RETURN(crypto::Certificate certificate,
                             crypto::Certificate::load(context.env, context.certificate_path()));
    options.certificate = certificate.encode();
  }
  SYNAPSE_ASSIGN_OR_RETURN(crypto::AdmissionPolicy admission, load_admission_policy(context));
  auto policy = std::make_shared<crypto::AdmissionPolicy>(std::move(admission));
  const auto unix_now = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  options.admit = [policy, unix_now](const crypto::PeerIdentity& peer) {
    return policy->admit(peer.node_id, peer.certificate, unix_now());
  };

  // [jobs]: a peer's certificate counts (names and roles for the policy) only if the CA vouches.
  const JobsConfig& jobs = config->jobs;
  options.jobs.enabled = jobs.enabled;
  options.jobs.cpus = jobs.cpus;
  options.jobs.memory = jobs.memory;
  options.jobs.labels = jobs.labels;
  options.jobs.allow = jobs.allow;
  options.jobs.user = jobs.user;
  options.jobs.queue_depth = jobs.queue_depth;
  options.jobs.name = jobs.name;
  options.jobs.work_dir = jobs.work_dir;
  if (options.jobs.name.empty() && options.certificate) {
    if (auto certificate = crypto::Certificate::decode(*options.certificate)) {
      options.jobs.name = certificate->name;
    }
  }
  if (options.jobs.name.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof(host) - 1) == 0) options.jobs.name = host;
  }
  options.jobs.verify_certificate =
      [policy, unix_now](
          const crypto::NodeId& node,
          const std::optional<core::Bytes>& bytes) -> std::optional<crypto::Certificate> {
    if (!policy->ca()) return std::nullopt;
    auto member = policy->member(node, bytes, unix_now());
    if (!member || !member->certificate) return std::nullopt;
    return *member->certificate;
  };

  options.listen = config->network.listen;
  if (!up.listen.empty()) {
    auto listen = dht::Endpoint::parse(up.listen);
    if (!listen) return tl::unexpected(listen.error().with_context("--listen"));
    options.listen = *listen;
  }
  options.bootstrap = config->network.bootstrap;
  for (const std::string& text : up.bootstrap) {
    auto endpoint = dht::Endpoint::parse(text);
    if (!endpoint) return tl::unexpected(endpoint.error().with_context("--bootstrap"));
    options.bootstrap.push_back(*endpoint);
  }
  if (!up.mount.empty() || config->fs_mount) {
    // Checked here too, so that a bad mount point is reported before the node detaches.
    const std::filesystem::path dir =
        up.mount.empty() ? *config->fs_mount : std::filesystem::path(up.mount);
    SYNAPSE_RETURN_IF_ERROR(mount::clean_stale_mount(dir));
    if (auto usable = mount::check_mount_point(dir); !usable) {
      return tl::unexpected(usable.error().with_context("--mount"));
    }
    options.mount = dir;
  }
  options.discovery = config->discovery.enabled && !up.no_discovery;
  options.discovery_options.group = config->discovery.group;
  options.discovery_options.interfaces = config->discovery.interfaces;
  options.discovery_options.interval = config->discovery.interval;
  options.store = config->store;
  options.replication = config->store_replication;
  options.repair_interval = config->repair_interval;
  options.max_upload_rate = config->max_upload_rate;
  options.fs_cache_size = config->fs_cache_size;
  options.fsync_timeout = config->fsync_timeout;
  if (config->http.enabled) options.http_listen = config->http.listen;
  options.version = SYNAPSE_VERSION;
  // Under systemd (journald reads stderr) lines carry a priority instead of a timestamp.
  options.journal_log = std::getenv("JOURNAL_STREAM") != nullptr && !up.detach;
  // SIGHUP re-reads the same file (the log level only where --log-level did not set it).
  options.reload = [env = &context.env, path = context.config_path(),
                    level = up.log_level]() -> core::Result<daemon::ReloadableOptions> {
    SYNAPSE_ASSIGN_OR_RETURN(Config reloaded, Config::load(*env, path));
    return daemon::ReloadableOptions{level.empty() ? reloaded.log.level : level,
                                     reloaded.jobs.labels, reloaded.jobs.allow};
  };
  // Fault injection for tests (docs/testing.md): a comma-separated list; unknown faults are
  // refused, not ignored.
  if (const char* faults = std::getenv("SYNAPSE_FAULTS"); faults != nullptr && *faults != 0) {
    std::istringstream list(faults);
    for (std::string fault; std::getline(list, fault, ',');) {
      constexpr std::string_view kOffset = "advert-clock-offset=";
      if (fault == "corrupt-served-blocks") {
        options.corrupt_served_blocks = true;
      } else if (fault.starts_with(kOffset)) {
        std::string_view text = std::string_view(fault).substr(kOffset.size());
        const bool behind = text.starts_with('-');
        auto offset = core::parse_duration(behind ? text.substr(1) : text);
        if (!offset) return tl::unexpected(offset.error().with_context("SYNAPSE_FAULTS"));
        options.jobs.advert_clock_offset = behind ? -*offset : *offset;
      } else {
        return make_error(ErrorCode::kInvalidArgument,
                          "SYNAPSE_FAULTS: unknown fault \"" + fault +
                              "\" (known: corrupt-served-blocks, advert-clock-offset=DURATION)");
      }
    }
  }
  return options;
}

json ready_json(const daemon::ReadyInfo& ready) {
  return {{"pid", ready.pid},
          {"node_id", ready.node_id.to_hex()},
          {"listen", ready.listen.to_string()},
          {"control", ready.control_socket.string()},
          {"peers", ready.peers},
          {"http", ready.http ? ready.http->to_string() : ""}};
}

// The ready line for people: "node 1a2b3c4d up (pid 42), listening on 1.2.3.4:4747, 7 peers".
std::string ready_text(const json& ready) {
  return "node " + ready["node_id"].get<std::string>().substr(0, 8) + " up (pid " +
         std::to_string(ready["pid"].get<int>()) + "), listening on " +
         ready["listen"].get<std::string>() + ", " + std::to_string(ready["peers"].get<size_t>()) +
         " peers";
}

void set_up_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("synapse");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

// The last lines of the log file, for the error of a detached node that did not start.
std::string log_tail(const std::filesystem::path& path) {
  auto bytes = core::Env::posix().read_file(path, 16 << 20);
  if (!bytes) return "";
  std::string text(core::as_chars(*bytes));
  size_t start = text.size();
  for (int lines = 0; lines < 4 && start > 0;) {
    start = text.rfind('\n', start - 1);
    if (start == std::string::npos) {
      start = 0;
      break;
    }
    if (start + 1 < text.size()) ++lines;
  }
  return text.substr(start);
}

core::Status run_up(Context& context, const UpOptions& up) {
  SYNAPSE_ASSIGN_OR_RETURN(daemon::DaemonOptions options, daemon_options(context, up));
  SYNAPSE_ASSIGN_OR_RETURN(const Config* config, context.config());
  const std::string level = up.log_level.empty() ? config->log.level : up.log_level;
  if (!up.detach) {
    set_up_logging(level);
    return daemon::run_daemon(std::move(options), [&](const daemon::ReadyInfo& ready) {
      (void)print_line(up.json ? ready_json(ready).dump() : ready_text(ready_json(ready)));
    });
  }

  const std::filesystem::path log_path = context.home / config->log.file;
  int ready_pipe[2];
  if (::pipe2(ready_pipe, O_CLOEXEC) != 0) {
    return make_error(ErrorCode::kIo, std::string("pipe: ") + strerror(errno));
  }
  const pid_t child = ::fork();
  if (child < 0) return make_error(ErrorCode::kIo, std::string("fork: ") + strerror(errno));
  if (child == 0) {
    // The node: a new session, no terminal, output to the log file.
    ::close(ready_pipe[0]);
    ::setsid();
    const int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (null_fd < 0 || log_fd < 0) ::_exit(2);
    ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    set_up_logging(level);
    core::Status status =
        daemon::run_daemon(std::move(options), [&](const daemon::ReadyInfo& ready) {
          const std::string line = ready_json(ready).dump() + "\n";
          (void)!::write(ready_pipe[1], line.data(), line.size());
          ::close(ready_pipe[1]);
        });
    if (!status) spdlog::error("{}", status.error().message());
    ::_exit(status ? 0 : core::is_user_error(status.error().code()) ? 1 : 2);
  }
  ::close(ready_pipe[1]);
  // Wait for the ready line: the node writes it once it serves, or exits without it.
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (char buffer[512];;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd poll_fd{ready_pipe[0], POLLIN, 0};
    if (left.count() <= 0 || ::poll(&poll_fd, 1, static_cast<int>(left.count())) == 0) break;
    const ssize_t n = ::read(ready_pipe[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    line.append(buffer, static_cast<size_t>(n));
  }
  ::close(ready_pipe[0]);
  json ready = json::parse(line, nullptr, false);
  if (ready.is_discarded() || !ready.is_object()) {
    int status = 0;
    const bool exited = ::waitpid(child, &status, WNOHANG) == child;
    return make_error(ErrorCode::kFailedPrecondition,
                      std::string(exited ? "the node did not start" : "the node is not ready") +
                          "; its log " + log_path.string() + " ends with:\n" + log_tail(log_path));
  }
  if (up.json) return print_line(ready.dump());
  return print_line(ready_text(ready) + "; log " + log_path.string());
}

core::Result<json> call(Context& context, std::string_view method, json params = json::object()) {
  SYNAPSE_ASSIGN_OR_RETURN(daemon::ControlClient client, connect_node(context));
  return client.call(method, std::move(params), std::chrono::seconds(60));
}

// Waits (bounded) until the node whose status is `status` has stopped.
core::Status wait_until_stopped(Context& context, const json& status) {
  // Wait (bounded) until the node has released its lock file, i.e. has exited, so that a
  // following `synapse up` finds the home free. (A zombie still passes kill(pid, 0), but has
  // closed its files.)
  const std::filesystem::path lock = context.home / "daemon.lock";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    const int fd = ::open(lock.c_str(), O_RDWR | O_CLOEXEC);
    const bool free = fd < 0 || ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (fd >= 0) ::close(fd);
    if (free) break;
    if (std::chrono::steady_clock::now() > deadline) {
      return make_error(ErrorCode::kIo, "the node (pid " +
                                            std::to_string(status["pid"].get<int>()) +
                                            ") did not stop within 30 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return print_line("node " + status["short_id"].get<std::string>() + " stopped");
}

core::Status run_down(Context& context) {
  SYNAPSE_ASSIGN_OR_RETURN(daemon::ControlClient client, connect_node(context));
  SYNAPSE_ASSIGN_OR_RETURN(json status, client.call("status"));
  SYNAPSE_ASSIGN_OR_RETURN(json ignored, client.call("shutdown"));
  return wait_until_stopped(context, status);
}

core::Status run_leave(Context& context, double timeout_seconds) {
  SYNAPSE_ASSIGN_OR_RETURN(daemon::ControlClient client, connect_node(context));
  SYNAPSE_ASSIGN_OR_RETURN(json status, client.call("status"));
  std::fprintf(stderr, "handing %zu pinned file(s) on to other nodes...\n",
               status["replication"]["files"].get<size_t>());
  SYNAPSE_ASSIGN_OR_RETURN(
      json left,
      client.call("leave", {{"timeout", timeout_seconds}},
                  std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)) +
                      std::chrono::seconds(30)));
  SYNAPSE_RETURN_IF_ERROR(
      print_line("handed on " + std::to_string(left["handed_on"].get<size_t>()) + " file(s)"));
  return wait_until_stopped(context, status);
}

std::string format_seconds(double seconds) {
  const auto whole = static_cast<uint64_t>(seconds);
  if (whole < 60) return std::to_string(whole) + "s";
  if (whole < 3600) return std::to_string(whole / 60) + "m" + std::to_string(whole % 60) + "s";
  return std::to_string(whole / 3600) + "h" + std::to_string(whole / 60 % 60) + "m";
}

// One screen for an admin: the swarm, this node's storage and jobs, and what needs attention.
std::string status_text(const json& status) {
  const auto count = [](const json& object, const char* key) {
    return std::to_string(object.value(key, uint64_t{0}));
  };
  const auto size = [](const json& object, const char* key) {
    return core::format_size(object.value(key, uint64_t{0}));
  };
  std::string name = status.value("name", "");
  std::string text = "node        " + status.value("node_id", "") +
                     (name.empty() ? "" : " (" + name + ")") + ", up " +
                     format_seconds(status.value("uptime_seconds", 0.0)) + ", version " +
                     status.value("version", "?") + "\n";
  const json& transport = status["transport"];
  const json jobs = status.value("jobs", json::object());
  text += "swarm       " + count(transport, "sessions_active") + " peers connected, " +
          count(status, "peers") + " in the routing table, " + count(jobs, "nodes_advertising") +
          " nodes offer resources" + (status.value("joined", false) ? "" : "; not joined yet") +
          "\n";
  if (status.contains("store")) {
    const json& store = status["store"];
    const double capacity = store.value("capacity", 0.0);
    char percent[16] = "";
    if (capacity > 0) {
      std::snprintf(percent, sizeof(percent), " (%.0f %%)",
                    100.0 * store.value("bytes", 0.0) / capacity);
    }
    const json cache = status.value("fs", json::object()).value("cache", json::object());
    const uint64_t reads = cache.value("hits", uint64_t{0}) + cache.value("misses", uint64_t{0});
    std::string hits = "no reads yet";
    if (reads > 0) {
      hits = std::to_string(100 * cache.value("hits", uint64_t{0}) / reads) + " % hits";
    }
    text += "storage     " + size(store, "bytes") + " used of " + size(store, "capacity") +
            percent + " in " + count(store, "blocks") + " blocks; " + count(store, "pinned_roots") +
            " files pinned; cache " + size(cache, "bytes") + " in " + count(cache, "files") +
            " files (" + hits + ")\n";
  }
  const json& replication = status["replication"];
  text += "replication " + count(replication, "files") + " pinned files, " +
          count(replication, "under_target") + " under the target of " +
          count(replication, "target") + " holders";
  if (replication.value("missing_replicas", 0) > 0) {
    text += " (" + count(replication, "missing_replicas") + " replicas missing)";
  }
  if (replication.value("unchecked", 0) > 0) {
    text += ", " + count(replication, "unchecked") + " not checked yet";
  }
  if (replication.value("fetching_replicas", 0) > 0) {
    text += ", fetching " + count(replication, "fetching_replicas") + " replicas";
  }
  text += "\n";
  if (!jobs.empty()) {
    char cpus[32];
    std::snprintf(cpus, sizeof(cpus), "%g", jobs.value("cpus", 0.0));
    if (jobs.value("runs_jobs", false)) {
      text += "jobs        " + count(jobs, "running") + " running, " + count(jobs, "waiting") +
              " queued here (" + cpus + " CPUs, " + size(jobs, "memory") + ", " +
              count(jobs, "gpus") + " GPUs); ";
    } else {
      text += "jobs        none run here; ";
    }
    text += count(jobs, "coordinating") + " coordinated here\n";
  }
  const json& dht = status["dht"];
  text += "dht         " + count(dht, "values") + " values (" + size(dht, "value_bytes") + "), " +
          count(dht, "providers") + " provider records, " + count(dht, "listeners") +
          " listeners\n";
  text += "network     " + status.value("listen", "") + " (udp+tcp); ";
  const json& discovery = status["discovery"];
  if (discovery.value("enabled", false)) {
    std::string names;
    for (const json& interface : discovery["interfaces"])
      names += " " + interface.get<std::string>();
    text += "discovery " + discovery.value("group", "") + " on" + names + " (" +
            count(discovery, "beacons_sent") + " beacons sent, " +
            count(discovery, "beacons_received") + " received)\n";
  } else {
    text += "discovery off\n";
  }
  const json& exchange = status["exchange"];
  text += "exchange    served " + size(exchange, "bytes_served") + ", fetched " +
          size(exchange, "bytes_fetched") + "\n";
  if (status.contains("http")) {
    text +=
        "http        http://" + status["http"].get<std::string>() + "/ (status page, /metrics)\n";
  }
  text += "control     " + status.value("control", "");
  const json warnings = status.value("warnings", json::array());
  if (!warnings.empty()) {
    text += "\nwarnings";
    for (const json& warning : warnings) text += "\n  ! " + warning.get<std::string>();
  }
  return text;
}

core::Status run_status(Context& context, bool as_json) {
  SYNAPSE_ASSIGN_OR_RETURN(json status, call(context, "status"));
  if (as_json) return print_json(status);
  return print_line(status_text(status));
}

core::Status run_peers(Context& context, bool as_json) {
  SYNAPSE_ASSIGN_OR_RETURN(json result, call(context, "peers"));
  if (as_json) return print_json(result);
  std::string text =
      "NODE      ADDRESS                BUCKET  LAST SEEN  FAILURES  SCORE  BLOCKS  BAD  "
      "CPUS  MEMORY     GPUS  LOAD  JOBS";
  for (const json& peer : result["peers"]) {
    std::string resources = "  -";
    if (peer.contains("resources")) {
      const json& r = peer["resources"];
      char columns[128];
      std::snprintf(columns, sizeof(columns), "  %4u  %-9s  %4zu  %4.2f  %u", r.value("cpus", 0u),
                    core::format_size(r.value("memory", uint64_t{0})).c_str(),
                    r.value("gpus", json::array()).size(), r.value("load1", 0.0),
                    r.value("jobs_running", 0u));
      resources = columns;
    }
    char line[400];
    std::snprintf(line, sizeof(line), "\n%-9s %-22s %6d  %9s  %8d  %5.2f  %6llu  %3llu%s%s",
                  peer["short_id"].get<std::string>().c_str(),
                  peer["address"].get<std::string>().c_str(), peer["bucket"].get<int>(),
                  (format_seconds(peer.value("last_seen_seconds", 0.0)) + " ago").c_str(),
                  peer.value("failures", 0), peer.value("score", 0.5),
                  static_cast<unsigned long long>(peer.value("blocks_received", uint64_t{0})),
                  static_cast<unsigned long long>(peer.value("bad_blocks", uint64_t{0})),
                  resources.c_str(), peer.value("backed_off", false) ? "  backed off" : "");
    text += line;
  }
  return print_line(text);
}

struct DhtOptions {
  std::string key;
  std::string value;
  std::string ttl = "1h";
  bool json = false;
};

core::Status run_dht(Context& context, std::string_view method, const DhtOptions& options) {
  json params = {{"key", options.key}};
  if (method == "dht.put") {
    auto ttl = core::parse_duration(options.ttl);
    if (!ttl) return tl::unexpected(ttl.error().with_context("--ttl"));
    params["value"] = options.value;
    params["ttl"] = static_cast<uint64_t>(std::max<int64_t>(1, ttl->count() / 1000));
  }
  SYNAPSE_ASSIGN_OR_RETURN(json result, call(context, method, std::move(params)));
  if (options.json) return print_json(result);
  if (method == "dht.get") {
    if (result["values"].empty()) {
      return make_error(ErrorCode::kNotFound, "no value under " + result["key"].get<std::string>());
    }
    std::string text;
    for (const json& value : result["values"]) {
      if (!text.empty()) text += "\n";
      text += value["writer"].get<std::string>().substr(0, 8) + " seq " +
              std::to_string(value["seq"].get<uint64_t>()) + ": " +
              value["value"].get<std::string>();
    }
    return print_line(text);
  }
  if (method == "dht.providers") {
    std::string text;
    for (const json& provider : result["providers"]) {
      if (!text.empty()) text += "\n";
      text += provider["id"].get<std::string>() + " " + provider["address"].get<std::string>();
    }
    if (text.empty()) {
      return make_error(ErrorCode::kNotFound,
                        "no providers of " + result["key"].get<std::string>());
    }
    return print_line(text);
  }
  return print_line("stored under " + result["key"].get<std::string>() + " on " +
                    std::to_string(result["acked"].get<size_t>()) + " nodes");
}

}  // namespace

void add_daemon_commands(CLI::App& app, Context& context, Action& action) {
  auto up = std::make_shared<UpOptions>();
  CLI::App* up_command = app.add_subcommand(
      "up", "Run this node: join the swarm (LAN discovery, bootstrap list, saved peers) and serve");
  up_command->add_option("--listen", up->listen,
                         "Address and port to listen on (overrides network.listen)");
  up_command->add_option("--bootstrap", up->bootstrap,
                         "A node to join through, address:port (repeatable; adds to "
                         "network.bootstrap)");
  up_command->add_option("--mount", up->mount,
                         "Mount the shared folder at this absolute path (an empty directory)");
  up_command->add_flag("--no-discovery", up->no_discovery, "Do not use LAN discovery");
  up_command->add_flag("--detach", up->detach,
                       "Run in the background (log to log.file); return once the node serves");
  up_command->add_flag("--json", up->json, "Print the ready line as JSON");
  up_command->add_option("--log-level", up->log_level, "trace, debug, info, warn or error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  up_command->callback([&, up] { action = [&, up] { return run_up(context, *up); }; });

  auto leave_timeout = std::make_shared<double>(300);
  CLI::App* leave = app.add_subcommand(
      "leave", "Hand every pinned file on to other nodes, then stop the node (graceful exit)");
  leave->add_option("--timeout", *leave_timeout,
                    "Seconds to wait for the hand-off before giving up and staying up (300)");
  leave->callback([&, leave_timeout] {
    action = [&, leave_timeout] { return run_leave(context, *leave_timeout); };
  });
  app.add_subcommand("down", "Stop the node running on this home")->callback([&] {
    action = [&] { return run_down(context); };
  });

  auto status_json = std::make_shared<bool>(false);
  CLI::App* status = app.add_subcommand("status", "Show the running node's state");
  status->add_flag("--json", *status_json, "Machine-readable output");
  status->callback([&, status_json] {
    action = [&, status_json] { return run_status(context, *status_json); };
  });

  auto peers_json = std::make_shared<bool>(false);
  CLI::App* peers = app.add_subcommand("peers", "List the running node's routing table");
  peers->add_flag("--json", *peers_json, "Machine-readable output");
  peers->callback(
      [&, peers_json] { action = [&, peers_json] { return run_peers(context, *peers_json); }; });

  CLI::App* dht = app.add_subcommand(
      "dht",
      "Talk to the DHT directly (debugging). KEY: 64 hex digits, a CID, or any text "
      "(hashed with SHA-256)");
  dht->require_subcommand(1);
  auto add_dht = [&](const char* name, const char* method, const char* help, bool with_value) {
    auto options = std::make_shared<DhtOptions>();
    CLI::App* command = dht->add_subcommand(name, help);
    command->add_option("KEY", options->key, "The key")->required();
    if (with_value) {
      command->add_option("VALUE", options->value, "The value (text, at most 1024 bytes)")
          ->required();
      command->add_option("--ttl", options->ttl, "How long the value lives (at most 7d)")
          ->capture_default_str();
    }
    command->add_flag("--json", options->json, "Machine-readable output");
    command->callback([&, options, method] {
      action = [&, options, method] { return run_dht(context, method, *options); };
    });
  };
  add_dht("put", "dht.put", "Store a value signed by this node under KEY", true);
  add_dht("get", "dht.get", "Print the values stored under KEY", false);
  add_dht("providers", "dht.providers", "List the nodes that announced KEY", false);
  add_dht("provide", "dht.provide", "Announce this node as a provider of KEY", false);
}

}  // namespace synapse::cli
