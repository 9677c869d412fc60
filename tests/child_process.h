// Child processes for tests that run real nodes: output captured through a pipe, every process
// killed and reaped on destruction (also when an assertion fails).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <vector>

extern char** environ;

namespace synapse::testing {

using namespace std::chrono_literals;

// Runs a shell command with its output discarded; returns its exit status.
inline int run_quiet(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str());
}

// A child process with its stdout and stderr in one pipe (or stderr appended to a file, for
// long-running nodes whose logs nobody reads); killed and reaped on destruction.
class Child {
 public:
  using Clock = std::chrono::steady_clock;

  // `env`: "KEY=VALUE" entries added to (or replacing in) this process's environment.
  explicit Child(const std::vector<std::string>& argv, const std::string& stderr_file = "",
                 const std::vector<std::string>& env = {}) {
    // Built before fork: the child only calls async-signal-safe functions.
    std::vector<std::string> environment;
    for (char** entry = environ; *entry != nullptr; ++entry) {
      const std::string text = *entry;
      const size_t equals = text.find('=');
      const std::string key = equals == std::string::npos ? text : text.substr(0, equals + 1);
      bool replaced = false;
      for (const std::string& extra : env) replaced |= extra.rfind(key, 0) == 0;
      if (!replaced) environment.push_back(text);
    }
    environment.insert(environment.end(), env.begin(), env.end());
    std::vector<char*> envp;
    for (auto& entry : environment) envp.push_back(entry.data());
    envp.push_back(nullptr);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      const int err = stderr_file.empty()
                          ? fds[1]
                          : ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      ::dup2(err, 2);
      ::execvpe(args[0], args.data(), envp.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
    ::fcntl(fd_, F_SETFL, O_NONBLOCK);
  }
  ~Child() {
    stop(SIGKILL);
    if (fd_ >= 0) ::close(fd_);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Reads output until `needle` appears, the output ends or the timeout passes.
  bool wait_for(const std::string& needle, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (output_.find(needle) == std::string::npos) {
      if (!read_some(deadline)) return output_.find(needle) != std::string::npos;
    }
    return true;
  }
  // Reads until the process closes its output, then reaps it; returns its exit code or -1.
  int wait_exit(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (read_some(deadline)) {
    }
    if (Clock::now() >= deadline) return -1;
    return reap();
  }
  // Sends `signal` and reaps the process (SIGKILL after 5 s).
  int stop(int signal) {
    if (pid_ <= 0) return exit_code_;
    ::kill(pid_, signal);
    const auto deadline = Clock::now() + 5s;
    while (read_some(deadline)) {
    }
    if (Clock::now() >= deadline) ::kill(pid_, SIGKILL);
    return reap();
  }
  const std::string& output() const { return output_; }
  pid_t pid() const { return pid_; }
  // The first complete output line that starts with `prefix`, waiting up to `timeout` for it;
  // empty if none came.
  std::string wait_for_line(const std::string& prefix, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      for (size_t start = 0; start < output_.size();) {
        const size_t end = output_.find('\n', start);
        if (end == std::string::npos) break;
        if (output_.compare(start, prefix.size(), prefix) == 0) {
          return output_.substr(start, end - start);
        }
        start = end + 1;
      }
      if (!read_some(deadline)) return "";
    }
  }

 private:
  bool read_some(Clock::time_point deadline) {
    if (fd_ < 0) return false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buffer[4096];
    ssize_t n = ::read(fd_, buffer, sizeof(buffer));
    if (n > 0) {
      output_.append(buffer, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EAGAIN) return true;
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  int reap() {
    int status = 0;
    if (::waitpid(pid_, &status, 0) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    pid_ = -1;
    return exit_code_;
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  int exit_code_ = -1;
  std::string output_;
};

}  // namespace synapse::testing
