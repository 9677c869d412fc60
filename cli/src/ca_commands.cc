// synapse ca init | sign | revoke, synapse cert install | show. Formats and rules:
// docs/certificates.md.
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <limits>

#include "context.h"
#include "synapse/crypto/certificate.h"
#include "synapse/crypto/identity.h"
#include "synapse/crypto/system_rng.h"

namespace synapse::cli {

using core::ErrorCode;
using core::make_error;
using nlohmann::json;

namespace {

// A certificate starts an hour before it is signed, so that nodes whose clocks run a little
// behind the CA's accept it at once.
constexpr int64_t kBackdateSeconds = 3600;
constexpr int64_t kSecondsPerDay = 86400;
constexpr int64_t kMaxDays = 36500;
constexpr uint32_t kPrivateMode = 0600;
constexpr uint32_t kPublicMode = 0644;

std::filesystem::path ca_key_path(const std::filesystem::path& dir) { return dir / "ca.key"; }
std::filesystem::path ca_public_path(const std::filesystem::path& dir) { return dir / "ca.pub"; }
std::filesystem::path revocation_path(const std::filesystem::path& dir) {
  return dir / "revoked.crl";
}

// The CLI is the outermost layer: the one place here that reads the wall clock.
int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

core::Result<crypto::CertificateAuthority> load_ca(Context& context,
                                                   const std::filesystem::path& dir) {
  SYNAPSE_ASSIGN_OR_RETURN(bool exists, context.env.exists(ca_key_path(dir)));
  if (!exists) {
    return make_error(ErrorCode::kNotFound, "no CA key at " + ca_key_path(dir).string() +
                                                " (run `synapse ca init` or pass --ca-dir)");
  }
  return crypto::CertificateAuthority::load(context.env, ca_key_path(dir));
}

// A node named by its ID (64 hex digits) or by its public key ("ed25519:<64 hex digits>").
core::Result<crypto::NodeId> parse_node(const std::string& text) {
  if (text.starts_with("ed25519:")) {
    SYNAPSE_ASSIGN_OR_RETURN(crypto::Ed25519PublicKey key, crypto::parse_public_key(text));
    return crypto::NodeId::of_public_key(key);
  }
  auto id = crypto::NodeId::parse(text);
  if (!id) {
    return make_error(ErrorCode::kInvalidArgument,
                      "'" + text +
                          "' is neither a node ID (64 hex digits, `synapse id`) nor a public key "
                          "(ed25519:<64 hex digits>, `synapse id --public-key`)");
  }
  return id;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

// "1 node", "2 nodes".
std::string count(size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// The default certificate file name: the name itself when it is a plain file name, else the
// node's short ID.
std::string default_certificate_file(const crypto::Certificate& certificate) {
  const std::string& name = certificate.name;
  bool plain = !name.empty() && name.front() != '.' && name.size() <= 64;
  for (char c : name) {
    plain = plain && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-');
  }
  return (plain ? name : certificate.node_id.short_id()) + ".cert";
}

// ---- synapse ca init ----

core::Status run_ca_init(Context& context, const std::filesystem::path& dir) {
  SYNAPSE_RETURN_IF_ERROR(context.env.create_dirs(dir, 0700));
  SYNAPSE_ASSIGN_OR_RETURN(bool exists, context.env.exists(ca_key_path(dir)));
  if (exists) {
    return make_error(ErrorCode::kAlreadyExists,
                      "a CA key already exists at " + ca_key_path(dir).string() +
                          " (a new CA would invalidate every certificate it signed)");
  }
  crypto::SystemRng rng;
  crypto::CertificateAuthority ca = crypto::CertificateAuthority::generate(rng);
  SYNAPSE_RETURN_IF_ERROR(ca.save(context.env, ca_key_path(dir)));
  std::string public_key = crypto::format_public_key(ca.public_key());
  SYNAPSE_RETURN_IF_ERROR(context.env.write_file_atomic(
      ca_public_path(dir), core::as_bytes(public_key + "\n"), kPublicMode, true));
  return print_line(public_key);
}

// ---- synapse ca sign ----

struct SignOptions {
  std::string node;
  std::string name;
  std::vector<std::string> roles;
  int64_t days = 365;
  std::string ca_dir = "synapse-ca";
  std::string output;
  bool force = false;
};

core::Status run_ca_sign(Context& context, const SignOptions& options) {
  SYNAPSE_ASSIGN_OR_RETURN(crypto::NodeId node_id, parse_node(options.node));
  if (options.days < 1 || options.days > kMaxDays) {
    return make_error(ErrorCode::kInvalidArgument, "--days must be 1 to " +
                                                       std::to_string(kMaxDays) + ", got " +
                                                       std::to_string(options.days));
  }
  SYNAPSE_ASSIGN_OR_RETURN(crypto::CertificateAuthority ca, load_ca(context, options.ca_dir));
  // Random serials need no state in the CA folder and do not collide in practice; 63 bits keep
  // them positive for tools that read JSON numbers as signed.
  crypto::SystemRng rng;
  uint64_t serial = 0;
  while (serial == 0) {
    uint8_t bytes[8];
    rng.fill(bytes);
    for (uint8_t byte : bytes) serial = serial << 8 | byte;
    serial &= std::numeric_limits<int64_t>::max();
  }
  int64_t now = now_unix();
  SYNAPSE_ASSIGN_OR_RETURN(crypto::Certificate certificate,
                           ca.sign(node_id, options.name, options.roles, now - kBackdateSeconds,
                                   now + options.days * kSecondsPerDay, serial));
  std::filesystem::path output =
      options.output.empty() ? default_certificate_file(certificate) : options.output;
  auto written = context.env.write_file_atomic(output, core::as_bytes(certificate.to_armored()),
                                               kPublicMode, options.force);
  if (!written && written.error().code() == ErrorCode::kAlreadyExists) {
    return make_error(ErrorCode::kAlreadyExists,
                      output.string() + " already exists (use -o FILE or --force)");
  }
  SYNAPSE_RETURN_IF_ERROR(written);
  return print_line(
      "wrote " + output.string() + ": " + certificate.name + " (node " +
      certificate.node_id.short_id() + "), roles " +
      (certificate.roles.empty() ? std::string("none") : join(certificate.roles, ",")) +
      ", serial " + std::to_string(serial) + ", valid until " +
      crypto::format_utc_time(certificate.not_after));
}

// ---- synapse ca revoke ----

struct RevokeOptions {
  std::vector<std::string> targets;
  std::string ca_dir = "synapse-ca";
};

core::Status run_ca_revoke(Context& context, const RevokeOptions& options) {
  std::vector<crypto::NodeId> node_ids;
  std::vector<uint64_t> serials;
  for (const std::string& target : options.targets) {
    bool digits = !target.empty() && target.size() <= 20 &&
                  target.find_first_not_of("0123456789") == std::string::npos;
    if (digits) {
      errno = 0;
      unsigned long long serial = std::strtoull(target.c_str(), nullptr, 10);
      if (errno == ERANGE) {
        return make_error(ErrorCode::kInvalidArgument, "serial " + target + " is too large");
      }
      serials.push_back(serial);
    } else {
      SYNAPSE_ASSIGN_OR_RETURN(crypto::NodeId id, parse_node(target));
      node_ids.push_back(id);
    }
  }
  SYNAPSE_ASSIGN_OR_RETURN(crypto::CertificateAuthority ca, load_ca(context, options.ca_dir));
  std::filesystem::path path = revocation_path(options.ca_dir);
  std::optional<crypto::RevocationList> previous;
  SYNAPSE_ASSIGN_OR_RETURN(bool exists, context.env.exists(path));
  if (exists) {
    SYNAPSE_ASSIGN_OR_RETURN(previous, crypto::RevocationList::load(context.env, path));
    bool all_listed = true;
    for (const crypto::NodeId& id : node_ids) all_listed = all_listed && previous->revokes_node(id);
    for (uint64_t serial : serials) all_listed = all_listed && previous->revokes_serial(serial);
    if (all_listed) {
      return print_line(path.string() + ": already revoked (sequence " +
                        std::to_string(previous->sequence) + ", unchanged)");
    }
  }
  auto list = ca.revoke(previous ? &*previous : nullptr, node_ids, serials, now_unix());
  if (!list) return tl::unexpected(list.error().with_context(path.string()));
  SYNAPSE_RETURN_IF_ERROR(
      context.env.write_file_atomic(path, core::as_bytes(list->to_armored()), kPublicMode, true));
  return print_line("wrote " + path.string() + " (sequence " + std::to_string(list->sequence) +
                    ", revoking " + count(list->node_ids.size(), "node") + " and " +
                    count(list->serials.size(), "serial") + ")");
}

// ---- synapse cert install | show ----

// What this node checks certificates against: the configured CA and revocation list. Without
// a configured CA, the CA named in the certificate or list itself (which proves the file intact
// and current, not that the swarm trusts that CA). Config and revocation list problems are
// errors; the verdict on the certificate is the caller's.
struct Trust {
  std::optional<crypto::Ed25519PublicKey> ca;
  std::optional<crypto::RevocationList> revocation_list;

  crypto::Ed25519PublicKey key_for(const crypto::Ed25519PublicKey& issuer) const {
    return ca ? *ca : issuer;
  }
  const crypto::RevocationList* list() const {
    return revocation_list ? &*revocation_list : nullptr;
  }
  std::string checked_against() const { return ca ? "swarm.ca" : "issuer"; }
  std::string note() const {
    return ca ? " (checked against swarm.ca)"
              : " (checked against the issuer: swarm.ca is not set)";
  }
};

core::Result<Trust> load_trust(Context& context) {
  SYNAPSE_ASSIGN_OR_RETURN(const Config* config, context.config());
  Trust trust;
  trust.ca = config->swarm.ca;
  if (trust.ca && config->swarm.revocation_list) {
    SYNAPSE_ASSIGN_OR_RETURN(
        trust.revocation_list,
        crypto::RevocationList::load(context.env, context.home / *config->swarm.revocation_list));
    SYNAPSE_RETURN_IF_ERROR(crypto::verify_revocation_list(*trust.revocation_list, *trust.ca));
  }
  return trust;
}

core::Status run_cert_install(Context& context, const std::string& file) {
  SYNAPSE_RETURN_IF_ERROR(context.require_home());
  SYNAPSE_ASSIGN_OR_RETURN(crypto::NodeIdentity identity,
                           crypto::NodeIdentity::load(context.env, context.identity_path()));
  SYNAPSE_ASSIGN_OR_RETURN(crypto::Certificate certificate,
                           crypto::Certificate::load(context.env, file));
  if (certificate.node_id != identity.node_id()) {
    return make_error(ErrorCode::kInvalidArgument,
                      file + " was issued for node " + certificate.node_id.short_id() +
                          ", not for this node (" + identity.node_id().short_id() + ")");
  }
  SYNAPSE_ASSIGN_OR_RETURN(Trust trust, load_trust(context));
  auto checked = crypto::verify_certificate_for(
      identity.node_id(), certificate, trust.key_for(certificate.issuer), now_unix(), trust.list());
  if (!checked) return tl::unexpected(checked.error().with_context("cannot install " + file));
  SYNAPSE_RETURN_IF_ERROR(context.env.write_file_atomic(
      context.certificate_path(), core::as_bytes(certificate.to_armored()), kPublicMode, true));
  std::string line =
      "installed " + context.certificate_path().string() + ": " + certificate.name + ", roles " +
      (certificate.roles.empty() ? std::string("none") : join(certificate.roles, ",")) +
      ", valid until " + crypto::format_utc_time(certificate.not_after);
  if (!trust.ca) {
    line += " (note: swarm.ca is not set in " + context.config_path().string() +
            "; this swarm admits members by swarm key alone)";
  }
  return print_line(line);
}

core::Status show_certificate(const Trust& trust, const crypto::Certificate& certificate,
                              bool as_json) {
  core::Status status = crypto::verify_certificate(certificate, trust.key_for(certificate.issuer),
                                                   now_unix(), trust.list());
  if (as_json) {
    return print_json({{"kind", "certificate"},
                       {"version", certificate.version},
                       {"node_id", certificate.node_id.to_hex()},
                       {"name", certificate.name},
                       {"roles", certificate.roles},
                       {"serial", certificate.serial},
                       {"not_before", certificate.not_before},
                       {"not_after", certificate.not_after},
                       {"issuer", crypto::format_public_key(certificate.issuer)},
                       {"valid", status.has_value()},
                       {"problem", status ? json(nullptr) : json(status.error().message())},
                       {"checked_against", trust.checked_against()}});
  }
  std::string verdict = (status ? "valid" : status.error().message()) + trust.note();
  std::vector<std::pair<std::string, std::string>> rows = {
      {"node", certificate.node_id.to_hex()},
      {"name", certificate.name},
      {"roles", certificate.roles.empty() ? std::string("none") : join(certificate.roles, ", ")},
      {"serial", std::to_string(certificate.serial)},
      {"valid from", crypto::format_utc_time(certificate.not_before)},
      {"valid until", crypto::format_utc_time(certificate.not_after)},
      {"issuer", crypto::format_public_key(certificate.issuer)},
      {"status", verdict},
  };
  for (const auto& [key, value] : rows) {
    SYNAPSE_RETURN_IF_ERROR(print_line(key + std::string(12 - key.size(), ' ') + value));
  }
  return core::ok();
}

core::Status show_revocation_list(const Trust& trust, const crypto::RevocationList& list,
                                  bool as_json) {
  core::Status status = crypto::verify_revocation_list(list, trust.key_for(list.issuer));
  std::vector<std::string> node_ids;
  for (const crypto::NodeId& id : list.node_ids) node_ids.push_back(id.to_hex());
  if (as_json) {
    return print_json({{"kind", "revocation-list"},
                       {"version", list.version},
                       {"sequence", list.sequence},
                       {"issued_at", list.issued_at},
                       {"issuer", crypto::format_public_key(list.issuer)},
                       {"node_ids", node_ids},
                       {"serials", list.serials},
                       {"valid", status.has_value()},
                       {"problem", status ? json(nullptr) : json(status.error().message())},
                       {"checked_against", trust.checked_against()}});
  }
  std::string verdict = (status ? "valid" : status.error().message()) + trust.note();
  SYNAPSE_RETURN_IF_ERROR(print_line("revocation list " + std::to_string(list.sequence) +
                                     ", issued " + crypto::format_utc_time(list.issued_at) +
                                     " by " + crypto::format_public_key(list.issuer)));
  SYNAPSE_RETURN_IF_ERROR(print_line("status: " + verdict));
  for (const std::string& id : node_ids) SYNAPSE_RETURN_IF_ERROR(print_line("node   " + id));
  for (uint64_t serial : list.serials) {
    SYNAPSE_RETURN_IF_ERROR(print_line("serial " + std::to_string(serial)));
  }
  return core::ok();
}

struct ShowOptions {
  std::string file;
  bool json = false;
};

core::Status run_cert_show(Context& context, const ShowOptions& options) {
  std::filesystem::path path =
      options.file.empty() ? context.certificate_path() : std::filesystem::path(options.file);
  SYNAPSE_ASSIGN_OR_RETURN(bool exists, context.env.exists(path));
  if (!exists && options.file.empty()) {
    return make_error(ErrorCode::kNotFound, "no certificate installed at " + path.string() +
                                                " (see `synapse cert install`)");
  }
  SYNAPSE_ASSIGN_OR_RETURN(Trust trust, load_trust(context));
  SYNAPSE_ASSIGN_OR_RETURN(core::Bytes file,
                           context.env.read_file(path, crypto::kMaxRevocationListFileSize));
  std::string_view text = core::as_chars(file);
  if (text.find("-----BEGIN SYNAPSE REVOCATION LIST-----") != std::string_view::npos) {
    auto list = crypto::RevocationList::from_armored(text);
    if (!list) return tl::unexpected(list.error().with_context(path.string()));
    return show_revocation_list(trust, *list, options.json);
  }
  auto certificate = crypto::Certificate::from_armored(text);
  if (!certificate) return tl::unexpected(certificate.error().with_context(path.string()));
  return show_certificate(trust, *certificate, options.json);
}

}  // namespace

core::Result<crypto::AdmissionPolicy> load_admission_policy(Context& context) {
  SYNAPSE_ASSIGN_OR_RETURN(const Config* config, context.config());
  crypto::AdmissionOptions options;
  options.ca = config->swarm.ca;
  options.require_certificate = config->swarm.require_certificate;
  if (config->swarm.revocation_list) {
    std::filesystem::path path = context.home / *config->swarm.revocation_list;
    SYNAPSE_ASSIGN_OR_RETURN(options.revocation_list,
                             crypto::RevocationList::load(context.env, path));
  }
  auto policy = crypto::AdmissionPolicy::create(std::move(options));
  if (!policy) return tl::unexpected(policy.error().with_context(context.config_path().string()));
  return policy;
}

void add_ca_commands(CLI::App& app, Context& context, Action& action) {
  CLI::App* ca = app.add_subcommand(
      "ca", "The swarm's certificate authority: run these on an offline machine, not on nodes");
  ca->require_subcommand(1);

  auto init_dir = std::make_shared<std::string>("synapse-ca");
  CLI::App* init = ca->add_subcommand(
      "init",
      "Create a CA key (ca.key, mode 0600) and ca.pub in the CA folder; print the public "
      "key to put in every node's swarm.ca");
  init->add_option("--ca-dir", *init_dir, "The CA folder")->capture_default_str();
  init->callback(
      [&, init_dir] { action = [&, init_dir] { return run_ca_init(context, *init_dir); }; });

  auto sign_options = std::make_shared<SignOptions>();
  CLI::App* sign = ca->add_subcommand(
      "sign",
      "Issue a membership certificate for a node and write it to a file for `synapse "
      "cert install`");
  sign->add_option("node", sign_options->node,
                   "The node: its ID (`synapse id`) or public key (`synapse id --public-key`)")
      ->required();
  sign->add_option("--name", sign_options->name, "A human name for the node or its owner")
      ->required();
  sign->add_option("--roles", sign_options->roles,
                   "Comma-separated roles, each of a-z, 0-9, '_' and '-'")
      ->delimiter(',');
  sign->add_option("--days", sign_options->days, "Days the certificate is valid")
      ->capture_default_str();
  sign->add_option("--ca-dir", sign_options->ca_dir, "The CA folder")->capture_default_str();
  sign->add_option("-o,--output", sign_options->output,
                   "Write the certificate to FILE (default: <name>.cert)");
  sign->add_flag("--force", sign_options->force, "Replace an existing FILE");
  sign->callback([&, sign_options] {
    action = [&, sign_options] { return run_ca_sign(context, *sign_options); };
  });

  auto revoke_options = std::make_shared<RevokeOptions>();
  CLI::App* revoke = ca->add_subcommand(
      "revoke",
      "Revoke nodes (by ID or public key) or certificates (by serial) and write the CA folder's "
      "signed revoked.crl, to copy to every node (swarm.revocation_list)");
  revoke->add_option("target", revoke_options->targets, "Node IDs, public keys or serials")
      ->required();
  revoke->add_option("--ca-dir", revoke_options->ca_dir, "The CA folder")->capture_default_str();
  revoke->callback([&, revoke_options] {
    action = [&, revoke_options] { return run_ca_revoke(context, *revoke_options); };
  });

  CLI::App* cert = app.add_subcommand("cert", "This node's membership certificate");
  cert->require_subcommand(1);
  auto install_file = std::make_shared<std::string>();
  CLI::App* install = cert->add_subcommand(
      "install", "Check a certificate issued for this node and install it in the home folder");
  install->add_option("file", *install_file, "The certificate file from `synapse ca sign`")
      ->required();
  install->callback([&, install_file] {
    action = [&, install_file] { return run_cert_install(context, *install_file); };
  });
  auto show_options = std::make_shared<ShowOptions>();
  CLI::App* show = cert->add_subcommand(
      "show", "Show a certificate or revocation list and whether it is valid now");
  show->add_option("file", show_options->file,
                   "A certificate or revocation list (default: <home>/certificate.pem)");
  show->add_flag("--json", show_options->json, "Machine-readable output");
  show->callback([&, show_options] {
    action = [&, show_options] { return run_cert_show(context, *show_options); };
  });
}

}  // namespace synapse::cli
