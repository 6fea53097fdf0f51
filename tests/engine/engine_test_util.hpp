// Helpers shared by the engine tests: temporary directories, random bytes, aligned
// memory with a chosen misalignment, engines per backend, bounded waits on futures.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "stsw/crc32.hpp"
#include "stsw/engine.hpp"
#include "stsw/error.hpp"
#include "support/backend_name.hpp"
#include "support/temp_dir.hpp"

namespace stsw::test {

// TempDir: tests/support/temp_dir.hpp (pass the parent as second argument).

inline std::vector<std::byte> random_bytes(std::size_t n, std::uint32_t seed) {
  std::vector<std::byte> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<std::byte>(rng() & 0xFF);
  return v;
}

// `size` bytes whose address is `misalign` bytes past a 4096-byte boundary.
class AlignedBytes {
 public:
  AlignedBytes(std::size_t size, std::size_t misalign)
      : raw_(static_cast<std::byte*>(std::aligned_alloc(4096, round(size + misalign + 1)))),
        size_(size),
        data_(raw_ + misalign) {}
  AlignedBytes(const AlignedBytes&) = delete;
  AlignedBytes& operator=(const AlignedBytes&) = delete;
  ~AlignedBytes() { std::free(raw_); }
  [[nodiscard]] std::span<std::byte> span() const { return {data_, size_}; }
  [[nodiscard]] std::byte* data() const { return data_; }

 private:
  static std::size_t round(std::size_t n) { return (n + 4095) / 4096 * 4096; }
  std::byte* raw_;
  std::size_t size_;
  std::byte* data_;
};

// Waits at most `limit` (a hang is a test failure, not a stuck CI job) and returns get().
template <class T>
T get_within(std::future<T>& f, std::chrono::seconds limit = std::chrono::seconds(30)) {
  if (f.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << "operation did not complete within " << limit.count() << " s";
    std::abort();  // the engine still references the test's memory: cannot continue
  }
  return f.get();
}

// Runs `f` and returns the stsw::Error it throws (fails the test if it does not).
template <class F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected stsw::Error, got: " << e.what();
    return Error(Errc::InvalidState, "unexpected exception");
  }
  ADD_FAILURE() << "expected stsw::Error, nothing was thrown";
  return Error(Errc::InvalidState, "nothing thrown");
}

// Small chunks so that tiny files still make multi-chunk transfers.
inline EngineOptions small_options(BackendKind kind) {
  EngineOptions o;
  o.backend = kind;
  o.chunk_size = 16 << 10;
  o.queue_depth = 4;
  o.buffer_count = 4;
  o.worker_threads = 2;
  o.io_threads = 3;
  return o;
}

inline void write_all(Engine& e, const File& f, std::uint64_t off, std::span<const std::byte> d) {
  auto fut = e.write(f, off, d);
  get_within(fut);
}

// A write, a checksummed read and a scan of 100000 bytes at offset 4096 of an O_DIRECT
// file in a fresh TempDir: the smallest proof that `engine` works.
inline void round_trip(Engine& engine) {
  TempDir dir;
  File f = File::open(dir.file("r"), O_RDWR | O_CREAT, 0644, IoMode::Direct);
  const auto data = random_bytes(100000, 31);
  write_all(engine, f, 4096, data);
  std::vector<std::byte> back(data.size());
  auto r = engine.read(f, 4096, back, true);
  EXPECT_EQ(get_within(r), crc32(data));
  EXPECT_EQ(back, data);
  // on_chunk may run on several workers at once (TSan caught a plain counter here).
  std::atomic<std::uint64_t> seen{0};
  auto s = engine.scan(f, 4096, data.size(),
                       [&](std::uint64_t, std::span<const std::byte> d) { seen += d.size(); });
  get_within(s);
  EXPECT_EQ(seen.load(), data.size());
}

}  // namespace stsw::test

// Creates `var` from `options`; skips the test when io_uring was asked for but the
// kernel refused it (the engine then fell back to threads).
#define STSW_ENGINE_OR_SKIP(var, options)                                                \
  auto var = ::stsw::Engine::create(options);                                            \
  if ((options).backend == ::stsw::BackendKind::Uring &&                                 \
      var->backend() != ::stsw::BackendKind::Uring) {                                    \
    GTEST_SKIP() << "io_uring is not usable here (io_uring_queue_init failed: EPERM or " \
                    "ENOSYS?); run with STSW_LOG_LEVEL=info for the reason";             \
  }
