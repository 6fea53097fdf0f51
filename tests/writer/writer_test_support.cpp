#include "writer_test_support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "stsw/error.hpp"

extern char** environ;

namespace stsw::writer_test {

TempDir::TempDir()
    : ::stsw::test::TempDir("writer", [] {
        const char* base = std::getenv("STSW_TEST_TMPDIR");
        return std::string(base != nullptr && *base != '\0' ? base : "/var/tmp");
      }()) {}

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  std::uint32_t x = seed * 2654435761U + 12345;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525U + 1013904223U;
    v[i] = static_cast<std::byte>(x >> 24);
  }
  return v;
}

std::vector<std::byte> read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw std::runtime_error("fstat " + path);
  }
  // One allocation: fresh pages are slow to fault in on these machines.
  std::vector<std::byte> out(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("read " + path);
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return out;
}

void write_file(const std::string& path, std::span<const std::byte> bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("open " + path);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      ::close(fd);
      throw std::runtime_error("write " + path);
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

std::uint32_t zlib_crc(std::span<const std::byte> bytes) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const std::size_t n = std::min<std::size_t>(bytes.size() - done, 1U << 30);
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), static_cast<uInt>(n));
    done += n;
  }
  return static_cast<std::uint32_t>(crc);
}

Header check_file(const std::string& path, bool expect_crc, const DataMap* expected) {
  return check_bytes(read_file(path), path, expect_crc, expected);
}

Header check_bytes(const std::vector<std::byte>& file, const std::string& path, bool expect_crc,
                   const DataMap* expected) {
  ParseOptions po;
  po.strict = true;
  po.source = path;
  Header h;
  try {
    h = parse_file(file, po);
  } catch (const std::exception& e) {
    ADD_FAILURE() << path << " fails strict validation: " << e.what();
    return h;
  }
  EXPECT_TRUE(h.strict_valid) << path;
  for (const TensorMeta& t : h.tensors) {
    const auto bytes = std::span(file).subspan(h.data_offset() + t.offset_begin, t.nbytes());
    if (expect_crc) {
      EXPECT_TRUE(t.crc32.has_value()) << path << ": tensor '" << t.name << "' has no crc32";
      if (t.crc32) {
        EXPECT_EQ(*t.crc32, zlib_crc(bytes)) << path << ": tensor '" << t.name << "'";
      }
    } else {
      EXPECT_FALSE(t.crc32.has_value()) << path << ": tensor '" << t.name << "'";
    }
    if (expected) {
      auto it = expected->find(t.name);
      if (it == expected->end()) {
        ADD_FAILURE() << path << ": unexpected tensor '" << t.name << "'";
        continue;
      }
      EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), it->second.begin(), it->second.end()))
          << path << ": tensor '" << t.name << "' bytes differ";
    }
  }
  if (expected) {
    EXPECT_EQ(h.tensors.size(), expected->size()) << path;
  }
  return h;
}

std::shared_ptr<Engine> make_engine(BackendKind backend, std::size_t chunk_size,
                                    unsigned buffer_count) {
  EngineOptions eo;
  eo.backend = backend;
  eo.chunk_size = chunk_size;
  eo.buffer_count = buffer_count;
  auto e = Engine::create(eo);
  if (backend == BackendKind::Uring && e->backend() != BackendKind::Uring) return nullptr;
  return e;
}

std::vector<IoConfig> io_configs() {
  return {{BackendKind::Uring, IoMode::Direct},
          {BackendKind::Uring, IoMode::Buffered},
          {BackendKind::Threads, IoMode::Direct},
          {BackendKind::Threads, IoMode::Buffered}};
}

std::vector<BackendKind> both_backends() { return {BackendKind::Uring, BackendKind::Threads}; }

std::string config_name(const IoConfig& c) {
  std::string s = c.backend == BackendKind::Uring ? "uring" : "threads";
  s += c.mode == IoMode::Direct ? "_direct" : "_buffered";
  return s;
}

std::vector<TensorMeta> contiguous(const std::vector<Spec>& specs) {
  std::vector<TensorMeta> out;
  std::uint64_t off = 0;
  for (const Spec& s : specs) {
    TensorMeta m;
    m.name = s.name;
    m.dtype = s.dtype;
    m.shape = s.shape;
    m.offset_begin = off;
    m.offset_end = off + byte_size(s.dtype, s.shape).value();
    off = m.offset_end;
    out.push_back(std::move(m));
  }
  return out;
}

int spawn_self(const std::string& test_name, const std::string& env_name,
               const std::string& env_value, bool quiet) {
  // Everything is prepared before fork: the child only calls execve.
  std::string filter = "--gtest_filter=" + test_name;
  std::string self = "/proc/self/exe";
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, (env_name + "=").c_str(), env_name.size() + 1) != 0) {
      env_strings.emplace_back(*e);
    }
  }
  env_strings.push_back(env_name + "=" + env_value);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  char* argv[] = {self.data(), filter.data(), nullptr};
  const int null_fd = quiet ? ::open("/dev/null", O_WRONLY | O_CLOEXEC) : -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    if (null_fd >= 0) {
      ::dup2(null_fd, 1);
      ::dup2(null_fd, 2);
    }
    ::execve(self.c_str(), argv, envp.data());
    ::_exit(127);
  }
  if (null_fd >= 0) ::close(null_fd);
  if (pid < 0) throw std::runtime_error("fork failed");
  return pid;
}

int wait_child(int pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

void sweep_write_faults(const std::string& path, std::uint64_t writes, std::uint64_t syncs,
                        const std::function<FaultedRun(const testing::FaultPlan&)>& run,
                        const std::function<void(bool landed)>& after) {
  using testing::Fault;
  struct Inject {
    Fault::Op op;
    std::uint64_t count;
    Fault::Kind kind;
    Errc code;
  };
  for (const Inject& in : {Inject{Fault::Op::Write, writes, Fault::Kind::Enospc, Errc::NoSpace},
                           Inject{Fault::Op::Write, writes, Fault::Kind::Eio, Errc::Io},
                           Inject{Fault::Op::Sync, syncs, Fault::Kind::Eio, Errc::Io}}) {
    for (std::uint64_t i = 0; i < in.count; ++i) {
      SCOPED_TRACE(::testing::Message() << "fault " << i << " op " << static_cast<int>(in.op)
                                        << " kind " << static_cast<int>(in.kind));
      testing::FaultPlan plan;
      plan.faults.push_back({in.op, i, in.kind});
      const FaultedRun r = run(plan);
      if (!r.landed) {
        EXPECT_EQ(r.error, nullptr);
      } else if (r.error == nullptr) {
        ADD_FAILURE() << "fault " << i << " was not reported";
      } else {
        try {
          std::rethrow_exception(r.error);
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), in.code) << e.what();
          EXPECT_NE(e.message().find(path), std::string::npos) << e.what();
          if (in.op == Fault::Op::Write) {
            EXPECT_NE(e.message().find("offset"), std::string::npos) << e.what();
          }
        }
      }
      after(r.landed);
    }
  }
}

}  // namespace stsw::writer_test
