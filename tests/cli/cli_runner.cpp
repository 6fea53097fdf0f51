#include "cli/cli_runner.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace stsw::test {
namespace {

void make_pipe(int fds[2]) {
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
}

std::vector<std::string> build_env(const RunOptions& o) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv(*e);
    const std::string key = kv.substr(0, kv.find('='));
    bool drop = false;
    for (const auto& u : o.unset_env) drop = drop || u == key;
    for (const auto& [k, v] : o.env) drop = drop || k == key;
    if (!drop) env.push_back(kv);
  }
  for (const auto& [k, v] : o.env) env.push_back(k + "=" + v);
  return env;
}

std::vector<char*> c_strings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

std::string stsw_binary() { return std::string(STSW_BIN_DIR) + "/stsw"; }

std::size_t line_count(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n' ? 1 : 0;
  if (!s.empty() && s.back() != '\n') ++n;
  return n;
}

RunResult run_stsw(const std::vector<std::string>& args, const RunOptions& options) {
  std::vector<std::string> argv_s = {stsw_binary()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s = build_env(options);
  std::vector<char*> argv = c_strings(argv_s);
  std::vector<char*> envp = c_strings(env_s);

  const auto make_pty = [](int fds[2]) {
    int master = -1;
    int slave = -1;
    winsize ws{};
    ws.ws_col = 100;
    ws.ws_row = 30;
    if (::openpty(&master, &slave, nullptr, nullptr, &ws) != 0) {
      throw std::runtime_error("openpty failed");
    }
    ::fcntl(master, F_SETFD, FD_CLOEXEC);
    ::fcntl(slave, F_SETFD, FD_CLOEXEC);
    fds[0] = master;
    fds[1] = slave;
  };
  int out_fds[2] = {-1, -1};
  int err_fds[2] = {-1, -1};
  if (options.stderr_pty) {
    make_pty(err_fds);
  } else {
    make_pipe(err_fds);
  }
  if (options.pty) {
    make_pty(out_fds);
  } else {
    make_pipe(out_fds);
  }
  int null_in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::dup2(null_in, 0);
    ::dup2(out_fds[1], 1);
    ::dup2(err_fds[1], 2);
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) ::_exit(127);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(null_in);
  ::close(out_fds[1]);
  ::close(err_fds[1]);

  RunResult r;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(options.timeout_s * 1000));
  pollfd fds[2] = {{out_fds[0], POLLIN, 0}, {err_fds[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  bool interrupted = false;
  char buf[65536];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      r.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    const int n = ::poll(fds, 2, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
        if (!interrupted && !options.interrupt_when.empty() &&
            r.out.find(options.interrupt_when) != std::string::npos) {
          ::kill(pid, SIGINT);
          interrupted = true;
        }
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        // EOF, or EIO on a pty master once the child closed the terminal.
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  ::close(out_fds[0]);
  ::close(err_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.term_signal = WTERMSIG(status);
  return r;
}

}  // namespace stsw::test
