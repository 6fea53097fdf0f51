#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "measure.hpp"
#include "stsw/error.hpp"

extern char** environ;

namespace stsw::bench {
namespace {

constexpr std::size_t kMaxErr = 64 * 1024;

struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() {
    if (::pipe2(fd, O_CLOEXEC) != 0) throw errno_error(errno, "pipe2");
  }
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  void close_end(int i) {
    if (fd[i] >= 0) ::close(fd[i]);
    fd[i] = -1;
  }
};

std::uint64_t status_kib(const std::string& path, const char* key) {
  std::ifstream f(path);
  std::string line;
  const std::size_t klen = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, klen, key) == 0) return std::strtoull(line.c_str() + klen, nullptr, 10);
  }
  return 0;
}

// Sum of VmHWM (bytes) over `pid` and its descendants, from /proc.
std::uint64_t tree_hwm(pid_t pid, int depth = 0) {
  const std::string base = "/proc/" + std::to_string(pid);
  std::uint64_t sum = status_kib(base + "/status", "VmHWM:") * 1024;
  if (depth > 8) return sum;
  std::ifstream children(base + "/task/" + std::to_string(pid) + "/children");
  pid_t child = 0;
  while (children >> child) sum += tree_hwm(child, depth + 1);
  return sum;
}

// Drains both pipes until the child closes them (fio's JSON can exceed a pipe buffer),
// sampling the child tree's peak RSS meanwhile.
void drain(pid_t pid, int out_fd, int err_fd, std::string& out, std::string& err,
           std::uint64_t& max_rss) {
  pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  int open_count = 2;
  char buf[65536];
  while (open_count > 0) {
    max_rss = std::max(max_rss, tree_hwm(pid));
    if (::poll(fds, 2, 50) < 0) {
      if (errno == EINTR) continue;
      throw errno_error(errno, "poll on child pipes");
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        std::string& dst = i == 0 ? out : err;
        if (i == 0 || dst.size() < kMaxErr) dst.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
}

}  // namespace

std::optional<std::string> find_program(const std::string& program) {
  if (program.empty()) return std::nullopt;
  if (program.find('/') != std::string::npos) {
    if (::access(program.c_str(), X_OK) == 0) return program;
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return std::nullopt;
}

ChildRun run_child(const std::vector<std::string>& argv, const std::string& cwd) {
  if (argv.empty()) throw Error(Errc::InvalidArgument, "run_child: empty command line");
  Pipe out;
  Pipe err;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out.fd[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err.fd[1], 2);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  ChildRun run;
  const double t0 = now_seconds();
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw errno_error(rc, "spawn " + argv[0]);
  out.close_end(1);
  err.close_end(1);
  drain(pid, out.fd[0], err.fd[0], run.out, run.err, run.max_rss);

  int status = 0;
  rusage ru{};
  while (::wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) throw errno_error(errno, "wait4 " + argv[0]);
  }
  run.seconds = now_seconds() - t0;
  run.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return run;
}

}  // namespace stsw::bench
