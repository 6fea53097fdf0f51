#include "reliability/crash_support.hpp"

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "stsw/error.hpp"
#include "stsw/reader.hpp"

namespace stsw::reliability {

ScratchDir::ScratchDir(const std::string& tag) {
  const char* base = std::getenv("STSW_TEST_TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/var/tmp") + "/stsw-" + tag + "-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl);
  path_ = tmpl;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<std::string> ScratchDir::entries() const {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(path_)) {
    out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::byte> seeded_bytes(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  std::uint64_t x = 0x9E3779B97F4A7C15ull * (seed + 1);
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v[i] = static_cast<std::byte>(x >> 32);
  }
  return v;
}

std::vector<std::byte> slurp(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  std::vector<std::byte> out;
  if (::fstat(fd, &st) == 0) out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  for (;;) {
    if (done == out.size()) out.resize(out.size() + 4096);  // grew since fstat
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.resize(done);
  return out;
}

std::uint64_t env_count(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

double seconds_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

int thread_count() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  }
  return -1;
}

std::string thread_names() {
  std::vector<std::pair<long, std::string>> threads;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "comm");
    std::string name;
    std::getline(in, name);
    threads.emplace_back(std::atol(task.path().filename().c_str()), name);
  }
  std::sort(threads.begin(), threads.end());
  std::string out;
  for (const auto& [tid, name] : threads) {
    if (!out.empty()) out += ", ";
    out += std::to_string(tid) + " " + name;
  }
  return out;
}

bool is_hidden_temp_of(const std::string& name, const std::string& base) {
  const std::string prefix = "." + base + ".stsw-";
  if (name.size() != prefix.size() + 12 || name.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// ---- syscall-exact kills ------------------------------------------------------------------

namespace {

constexpr std::uint64_t kMagic = 0x5354535743524153ull;  // "STSWCRAS": calls made by the handler
constexpr std::size_t kRecorded = 4096;

std::atomic<std::uint64_t> g_count{0};
std::uint64_t g_before = 0;
std::uint64_t g_after = 0;
int g_report_fd = -1;
int g_names[kRecorded];

#if defined(__x86_64__)
const int kTrapped[] = {SYS_fsync,    SYS_fdatasync, SYS_linkat,    SYS_link,
                        SYS_renameat, SYS_rename,    SYS_renameat2, SYS_unlinkat,
                        SYS_unlink,   SYS_ftruncate, SYS_fallocate, SYS_pwrite64};

// Tells the parent which call the kill hit ("K<when><nr>;"), then SIGKILLs the process.
void die_now(char when, long nr) {
  if (g_report_fd >= 0) {
    char msg[32];
    int len = 0;
    msg[len++] = 'K';
    msg[len++] = when;
    char digits[20];
    int d = 0;
    for (unsigned long v = static_cast<unsigned long>(nr); d == 0 || v != 0; v /= 10) {
      digits[d++] = static_cast<char>('0' + v % 10);
    }
    while (d > 0) msg[len++] = digits[--d];
    msg[len++] = ';';
    (void)!::write(g_report_fd, msg, static_cast<std::size_t>(len));
  }
  ::syscall(SYS_kill, ::getpid(), SIGKILL);
}

void on_sigsys(int, siginfo_t* si, void* ctx) {
  const int saved = errno;
  auto* uc = static_cast<ucontext_t*>(ctx);
  greg_t* r = uc->uc_mcontext.gregs;
  const std::uint64_t n = g_count.fetch_add(1) + 1;
  if (n <= kRecorded) g_names[n - 1] = si->si_syscall;
  if (n == g_before) die_now('<', si->si_syscall);
  const long rc =
      ::syscall(si->si_syscall, r[REG_RDI], r[REG_RSI], r[REG_RDX], r[REG_R10], r[REG_R8], kMagic);
  r[REG_RAX] = rc == -1 ? -errno : rc;
  if (n == g_after) die_now('>', si->si_syscall);
  errno = saved;
}
#endif

}  // namespace

bool step_kill_supported() {
#if defined(__x86_64__)
  return true;
#else
  return false;
#endif
}

bool install_step_kill(const StepKill& at, int report_fd) {
#if defined(__x86_64__)
  g_count = 0;
  g_report_fd = report_fd;
  g_before = at.before;
  g_after = at.after;
  struct sigaction sa {};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(SIGSYS, &sa, nullptr) != 0) return false;

  std::vector<sock_filter> f;
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  if (at.deny_tmpfile) {  // openat(..., flags with __O_TMPFILE, ...) -> EOPNOTSUPP
    constexpr unsigned kTmpfileBit = O_TMPFILE & ~O_DIRECTORY;
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat, 0, 3));
    f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[2])));
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, kTmpfileBit, 0, 1));
    f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EOPNOTSUPP));
    f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
  }
  const std::size_t n = std::size(kTrapped);
  for (std::size_t i = 0; i < n; ++i) {
    // Jump over the remaining comparisons and the ALLOW to the magic check.
    const auto skip = static_cast<unsigned char>(n - i);
    f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(kTrapped[i]), skip, 0));
  }
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  // Calls made by the handler carry kMagic as their unused sixth argument.
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[5])));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(kMagic), 0, 3));
  f.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[5]) + 4));
  f.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(kMagic >> 32), 0, 1));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  f.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP));
  sock_fprog prog{static_cast<unsigned short>(f.size()), f.data()};
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
#else
  (void)at;
  (void)report_fd;
  return false;
#endif
}

std::uint64_t trapped_calls() { return g_count.load(); }

std::string trapped_call_name(std::uint64_t n) {
  if (n == 0 || n > std::min<std::uint64_t>(g_count.load(), kRecorded)) return "";
  return syscall_label(g_names[n - 1]);
}

std::string syscall_label(long nr) {
#if defined(__x86_64__)
  switch (nr) {
    case SYS_fsync: return "fsync";
    case SYS_fdatasync: return "fdatasync";
    case SYS_linkat: return "linkat";
    case SYS_link: return "link";
    case SYS_renameat: return "renameat";
    case SYS_rename: return "rename";
    case SYS_renameat2: return "renameat2";
    case SYS_unlinkat: return "unlinkat";
    case SYS_unlink: return "unlink";
    case SYS_ftruncate: return "ftruncate";
    case SYS_fallocate: return "fallocate";
    case SYS_pwrite64: return "pwrite64";
    default: return "syscall " + std::to_string(nr);
  }
#else
  return "syscall " + std::to_string(nr);
#endif
}

// ---- children -----------------------------------------------------------------------------

Child fork_child(const std::function<void(int)>& body) {
  // Engines this process released on their own threads finish their shutdown first, so
  // that the child is not forked while one of their threads holds a lock.
  Engine::wait_for_released_engines();
  // A joined thread leaves /proc/self/task a moment after join() returned (the kernel wakes
  // the joiner when it clears the thread's tid, before it reaps the task): an engine
  // destroyed just now can still show its last-joined thread here. Give the kernel a
  // moment; a thread that is really alive stays and fails the check.
  for (int i = 0; i < 200 && thread_count() != 1; ++i) ::usleep(1000);
  if (thread_count() != 1) {
    throw std::runtime_error("fork_child: the parent must be single-threaded at fork, but has " +
                             std::to_string(thread_count()) + " threads: " + thread_names());
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  std::cout.flush();
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  Child c;
  c.started = seconds_now();
  c.pid = ::fork();
  if (c.pid < 0) throw std::runtime_error("fork failed");
  if (c.pid == 0) {
    ::close(fds[0]);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(4);
    int code = 0;
    try {
      body(fds[1]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "crash child: %s\n", e.what());
      code = 3;
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  c.marker_fd = fds[0];
  return c;
}

int reap(Child& child) {
  int status = 0;
  while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (child.marker_fd >= 0) ::close(child.marker_fd);
  child.marker_fd = -1;
  return status;
}

double wait_marker(const Child& child, char* buf, std::size_t buf_len) {
  pollfd p{child.marker_fd, POLLIN, 0};
  for (;;) {
    const int rc = ::poll(&p, 1, 60'000);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return -1;
    break;
  }
  const double t = seconds_now();
  char local[64];
  char* dst = buf != nullptr ? buf : local;
  const std::size_t len = buf != nullptr ? buf_len : sizeof local;
  const ssize_t n = ::read(child.marker_fd, dst, len);
  return n > 0 ? t : -1;
}

void sleep_until(double t) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(t);
  ts.tv_nsec = static_cast<long>((t - static_cast<double>(ts.tv_sec)) * 1e9);
  while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

std::shared_ptr<Engine> check_engine() {
  EngineOptions o;
  o.chunk_size = 1 << 20;
  o.buffer_count = 4;
  o.register_buffers = false;
  return Engine::create(o);
}

std::string verify_file(const std::string& path, std::shared_ptr<Engine> engine) {
  try {
    ReaderOptions o;
    o.strict = true;
    o.engine = engine ? std::move(engine) : check_engine();
    StreamReader r = StreamReader::open(path, o);
    std::size_t tensors = 0;
    for (std::size_t s = 0; s < r.shards().size(); ++s) {
      for (const TensorMeta& t : r.header(s).tensors) {
        ++tensors;
        if (!t.crc32) return path + ": tensor '" + t.name + "' has no crc32";
      }
    }
    const VerifyReport rep = r.verify().get();
    if (!rep.passed() || rep.ok != tensors || rep.tensors.size() != tensors) {
      return path + ": verify found " + std::to_string(rep.mismatched) + " mismatched, " +
             std::to_string(rep.missing) + " missing, " + std::to_string(rep.ok) + " ok of " +
             std::to_string(tensors);
    }
    return "";
  } catch (const std::exception& e) {
    return path + ": " + e.what();
  }
}

}  // namespace stsw::reliability
