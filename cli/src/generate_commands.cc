// `synapse generate`: files made from the command tree itself, so that they never drift from
// it: the man page, the bash completion and the packaged service config (docs/packaging.md).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "context.h"
#include "synapse/cli/config.h"

namespace synapse::cli {

namespace {

// Subcommands not hidden (CLI11 hides those in the empty group).
std::vector<const CLI::App*> visible_subcommands(const CLI::App& app) {
  return app.get_subcommands([](const CLI::App* sub) { return !sub->get_group().empty(); });
}

// The options a user types (not positionals, not hidden), each as its long names.
std::vector<const CLI::Option*> visible_options(const CLI::App& app) {
  std::vector<const CLI::Option*> out;
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_group().empty() || option->get_positional()) continue;
    out.push_back(option);
  }
  return out;
}

std::vector<const CLI::Option*> positionals(const CLI::App& app) {
  std::vector<const CLI::Option*> out;
  for (const CLI::Option* option : app.get_options()) {
    if (option->get_positional()) out.push_back(option);
  }
  return out;
}

// roff-escapes text: backslashes, hyphens (so they print as ASCII minus), leading dots.
std::string roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '-') {
      out += "\\-";
    } else if ((c == '.' || c == '\'') && line_start) {
      out += "\\&";
      out += c;
    } else {
      out += c;
    }
    line_start = c == '\n';
  }
  return out;
}

std::string option_names(const CLI::Option& option) {
  std::string names;
  for (const std::string& name : option.get_snames()) {
    names += (names.empty() ? "" : ", ") + std::string("\\fB\\-") + roff(name) + "\\fR";
  }
  for (const std::string& name : option.get_lnames()) {
    names += (names.empty() ? "" : ", ") + std::string("\\fB\\-\\-") + roff(name) + "\\fR";
  }
  if (option.get_type_size() != 0 && option.get_expected_min() > 0) {
    names +=
        " \\fI" + roff(option.get_type_name().empty() ? "VALUE" : option.get_type_name()) + "\\fR";
  }
  return names;
}

void man_options(const CLI::App& app, std::string& out) {
  for (const CLI::Option* option : positionals(app)) {
    out +=
        ".TP\n\\fI" + roff(option->get_name()) + "\\fR\n" + roff(option->get_description()) + "\n";
  }
  for (const CLI::Option* option : visible_options(app)) {
    if (option->get_name() == "--help" || option->get_name() == "-h,--help") continue;
    out += ".TP\n" + option_names(*option) + "\n" + roff(option->get_description()) + "\n";
  }
}

void man_commands(const CLI::App& app, const std::string& prefix, std::string& out) {
  for (const CLI::App* sub : visible_subcommands(app)) {
    const std::string path = prefix + sub->get_name();
    std::string usage = "synapse " + path;
    if (!visible_subcommands(*sub).empty()) usage += " COMMAND";
    for (const CLI::Option* option : positionals(*sub)) usage += " " + option->get_name();
    out += ".SS \"" + roff(usage) + "\"\n" + roff(sub->get_description()) + "\n";
    man_options(*sub, out);
    man_commands(*sub, path + " ", out);
  }
}

std::string man_page(const CLI::App& app) {
  std::string out = ".TH SYNAPSE 1 \"\" \"synapse " SYNAPSE_VERSION "\" \"User Commands\"\n";
  out +=
      ".SH NAME\nsynapse \\- a peer\\-to\\-peer pool of disk and compute for campus and company "
      "networks\n.SH SYNOPSIS\n.B synapse\n[\\fB\\-\\-home\\fR \\fIDIR\\fR] "
      "[\\fB\\-\\-config\\fR \\fIFILE\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n";
  out += ".SH DESCRIPTION\n" + roff(app.get_description()) +
         "\n.PP\nNodes holding the same swarm key find each other through a Kademlia DHT, store "
         "content\\-addressed blocks, mount them as a shared folder (\\fBsynapse up "
         "\\-\\-mount\\fR) and run jobs copied into its \\fIjobs/\\fR folder.\n";
  out += ".SH GLOBAL OPTIONS\n";
  man_options(app, out);
  out += ".SH COMMANDS\n";
  man_commands(app, "", out);
  out +=
      ".SH FILES\n.TP\n\\fI~/.synapse/\\fR\nThe node's home (\\fB\\-\\-home\\fR, "
      "\\fBSYNAPSE_HOME\\fR): identity, config.toml, swarm.key, blocks, control socket, log.\n"
      ".TP\n\\fI/etc/synapse/config.toml\\fR, \\fI/var/lib/synapse/\\fR\nThe config and home of "
      "the packaged service (synapse.service).\n"
      ".SH SIGNALS\n.TP\nSIGHUP\nA running node re\\-reads its config: log level, job labels "
      "and allow list.\n.TP\nSIGTERM, SIGINT\nA clean stop: jobs stopped, the shared folder "
      "unmounted, the store flushed.\n"
      ".SH EXIT STATUS\n0 success, 1 user error (bad arguments, config, input), 2 internal "
      "error.\n.SH SEE ALSO\n\\fBfusermount3\\fR(1), \\fBbwrap\\fR(1); the documentation in "
      "\\fI/usr/share/doc/synapse/\\fR (quickstart.md, config.md, jobs.md, metrics.md).\n";
  return out;
}

// Every command path ("synapse", "synapse job", ...) with its subcommands and options, as bash
// associative-array entries (whose keys may not be empty).
void completion_tables(const CLI::App& app, const std::string& path, std::string& commands,
                       std::string& options) {
  std::string names;
  for (const CLI::App* sub : visible_subcommands(app))
    names += (names.empty() ? "" : " ") + sub->get_name();
  std::string flags;
  for (const CLI::Option* option : visible_options(app)) {
    for (const std::string& name : option->get_lnames()) flags += " --" + name;
    for (const std::string& name : option->get_snames()) flags += " -" + name;
  }
  commands += "  [\"" + path + "\"]=\"" + names + "\"\n";
  options += "  [\"" + path + "\"]=\"" + flags.substr(flags.empty() ? 0 : 1) + "\"\n";
  for (const CLI::App* sub : visible_subcommands(app)) {
    completion_tables(*sub, path + " " + sub->get_name(), commands, options);
  }
}

std::string bash_completion(const CLI::App& app) {
  std::string commands, options;
  completion_tables(app, "synapse", commands, options);
  return "# bash completion for synapse (generated by `synapse generate bash-completion`)\n"
         "declare -gA _synapse_commands=(\n" +
         commands + ")\ndeclare -gA _synapse_options=(\n" + options +
         ")\n"
         "_synapse() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} path=synapse word candidate i\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    word=${COMP_WORDS[i]}\n"
         "    [[ $word == -* ]] && continue\n"
         "    candidate=\"$path $word\"\n"
         "    [[ -n ${_synapse_commands[$candidate]+x} ]] && path=$candidate\n"
         "  done\n"
         "  if [[ $cur == -* ]]; then\n"
         "    COMPREPLY=($(compgen -W \"${_synapse_options[$path]}\" -- \"$cur\"))\n"
         "  elif [[ -n ${_synapse_commands[$path]} ]]; then\n"
         "    COMPREPLY=($(compgen -W \"${_synapse_commands[$path]}\" -- \"$cur\"))\n"
         "  else\n"
         "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
         "  fi\n"
         "}\n"
         "complete -o filenames -F _synapse synapse\n";
}

// The default config with what the service needs: the key beside the config, the mount at
// /synapse.
std::string service_config() {
  std::string text = Config::default_text();
  const auto replace = [&](std::string_view from, std::string_view to) {
    const size_t at = text.find(from);
    if (at != std::string::npos) text.replace(at, from.size(), to);
  };
  replace("key_file = \"swarm.key\"", "key_file = \"/etc/synapse/swarm.key\"");
  replace("# mount = \"/synapse\"", "mount = \"/synapse\"");
  return "# /etc/synapse/config.toml: the config of synapse.service (docs/quickstart.md).\n" + text;
}

}  // namespace

void add_generate_commands(CLI::App& app, Context&, Action& action) {
  CLI::App* generate = app.add_subcommand(
      "generate",
      "Print a file made from this program: its man page, bash completion, or the "
      "service's config");
  generate->require_subcommand(1);
  struct Generated {
    const char* name;
    const char* description;
    std::string (*make)(const CLI::App&);
  };
  static const Generated kGenerated[] = {
      {"man", "The man page (roff), synapse(1)", man_page},
      {"bash-completion", "The bash completion script", bash_completion},
      {"service-config", "The config file of the packaged service (/etc/synapse/config.toml)",
       [](const CLI::App&) { return service_config(); }},
  };
  for (const Generated& item : kGenerated) {
    CLI::App* sub = generate->add_subcommand(item.name, item.description);
    sub->callback([&app, &action, make = item.make] {
      action = [&app, make] { return print_line(make(app)); };
    });
  }
}

}  // namespace synapse::cli
