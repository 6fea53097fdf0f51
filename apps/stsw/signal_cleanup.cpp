#include "signal_cleanup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

#include "stsw/error.hpp"

namespace stsw::cli {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

char g_dir[PATH_MAX];
volatile sig_atomic_t g_armed = 0;
struct sigaction g_previous[3];

bool is_dot(const char* name) {
  return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

void remove_dir_contents(int fd) {
  alignas(dirent64) char buf[4096];
  // Unlinking while listing can shift entries: list again until nothing is left.
  for (int pass = 0; pass < 4; ++pass) {
    bool removed = false;
    ::lseek(fd, 0, SEEK_SET);
    for (;;) {
      const ssize_t n = ::getdents64(fd, buf, sizeof buf);
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {
        const auto* d = reinterpret_cast<const dirent64*>(buf + off);
        if (!is_dot(d->d_name) && ::unlinkat(fd, d->d_name, 0) == 0) removed = true;
        off += d->d_reclen;
      }
    }
    if (!removed) return;
  }
}

void on_signal(int sig) {
  if (g_armed != 0) {
    g_armed = 0;
    const int fd = ::open(g_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      remove_dir_contents(fd);
      ::close(fd);
    }
    ::rmdir(g_dir);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace

CleanupOnSignal::CleanupOnSignal(const std::string& dir) {
  if (dir.size() >= sizeof g_dir) {
    throw Error(Errc::InvalidArgument, "scratch directory path too long: " + dir);
  }
  std::memcpy(g_dir, dir.c_str(), dir.size() + 1);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int s : kSignals) sigaddset(&sa.sa_mask, s);
  for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &sa, &g_previous[i]);
  g_armed = 1;
}

CleanupOnSignal::~CleanupOnSignal() {
  g_armed = 0;
  for (int i = 0; i < 3; ++i) ::sigaction(kSignals[i], &g_previous[i], nullptr);
}

}  // namespace stsw::cli
