// Every injected fault at every request index of small transfers: EIO and ENOSPC
// surface as stsw::Error through the future, EAGAIN, EINTR and short transfers are
// retried and succeed; nothing hangs and the staging pool is full again afterwards.
#include <fcntl.h>

#include <cerrno>
#include <functional>

#include "engine_test_util.hpp"
#include "io/fault_injection.hpp"
#include "stsw/crc32.hpp"

namespace stsw {
namespace {

using stsw::testing::Fault;
using stsw::testing::FaultCounters;
using stsw::testing::FaultPlan;
using stsw::testing::make_faulty_engine;
using test::get_within;
using test::TempDir;

constexpr std::uint64_t kOffset = 4096 + 100;  // unaligned head, aligned body, tail
constexpr std::size_t kSize = 3 * (16 << 10) + 5000;

// One operation under test: runs against `engine` and `f`, returns normally on
// success and throws what the future carries.
using Operation = std::function<void(Engine& engine, const File& f)>;

struct Case {
  const char* name;
  Fault::Op op;
  Operation run;
};

class EngineFaults : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    options_ = test::small_options(GetParam());
    options_.queue_depth = 2;
    data_ = test::random_bytes(kSize, 21);
  }

  // Counts the requests of `c` on a clean engine, then injects each fault kind at each
  // index and checks the outcome.
  void exhaust(const Case& c, IoMode mode) {
    std::shared_ptr<FaultCounters> counters;
    {
      auto engine = make_faulty_engine(options_, {}, &counters);
      if (options_.backend == BackendKind::Uring && engine->backend() != BackendKind::Uring) {
        GTEST_SKIP() << "io_uring is not usable here";
      }
      File f = prepare(*engine, mode);
      c.run(*engine, f);
    }
    const std::uint64_t n = counters->count(c.op);
    ASSERT_GT(n, 0u) << c.name;
    for (Fault::Kind kind : {Fault::Kind::Eio, Fault::Kind::Enospc, Fault::Kind::Eagain,
                             Fault::Kind::Eintr, Fault::Kind::Short}) {
      for (std::uint64_t i = 0; i < n; ++i) {
        SCOPED_TRACE(std::string(c.name) + " kind " + std::to_string(static_cast<int>(kind)) +
                     " index " + std::to_string(i));
        std::shared_ptr<FaultCounters> fc;
        auto engine = make_faulty_engine(options_, FaultPlan{{{c.op, i, kind}}}, &fc);
        File f = prepare(*engine, mode);
        const std::uint64_t before = fc->injected.load();
        std::exception_ptr err;
        try {
          c.run(*engine, f);
        } catch (...) {
          err = std::current_exception();
        }
        const bool fatal = kind == Fault::Kind::Eio || kind == Fault::Kind::Enospc;
        const bool injected = fc->injected.load() > before;
        if (fatal && injected) {
          ASSERT_TRUE(err) << "the fault did not surface";
          const Error e = test::error_of([&] { std::rethrow_exception(err); });
          EXPECT_EQ(e.code(), kind == Fault::Kind::Eio ? Errc::Io : Errc::NoSpace);
          EXPECT_EQ(e.sys_errno(), kind == Fault::Kind::Eio ? EIO : ENOSPC);
          EXPECT_NE(e.message().find(f.path()), std::string::npos) << e.what();
          EXPECT_NE(e.message().find("at offset"), std::string::npos) << e.what();
        } else {
          EXPECT_FALSE(err) << "retryable fault failed the operation";
          if (injected) {
            EXPECT_GE(engine->stats().requests_retried, 1u);
          }
        }
        const EngineStats s = engine->stats();
        EXPECT_EQ(s.buffers_free, s.buffers_total);
        EXPECT_EQ(s.in_flight, 0u);
      }
    }
  }

  // A file holding data_ at kOffset (written before the faulty requests are counted).
  File prepare(Engine& engine, IoMode mode) {
    File f = File::open(dir_.file("f"), O_RDWR | O_CREAT | O_TRUNC, 0644, mode);
    if (::pwrite(f.buffered_fd(), data_.data(), data_.size(), kOffset) !=
        static_cast<ssize_t>(data_.size())) {
      throw std::runtime_error("pwrite");
    }
    (void)engine;
    return f;
  }

  Case write_case() {
    return {"write", Fault::Op::Write, [this](Engine& e, const File& f) {
              const auto fresh = test::random_bytes(kSize, 22);
              test::AlignedBytes src(kSize, kOffset % 4096);
              std::copy(fresh.begin(), fresh.end(), src.data());
              auto w = e.write(f, kOffset, src.span());
              get_within(w);
              std::vector<std::byte> back(kSize);
              ASSERT_EQ(::pread(f.buffered_fd(), back.data(), kSize, kOffset),
                        static_cast<ssize_t>(kSize));
              EXPECT_EQ(back, fresh);
            }};
  }

  // Reads data_[skip, skip + len) (all of it by default) into memory `misalign` bytes
  // past a page: congruent (Split), or not (Shifted; Staged when no whole block).
  Case read_case(std::size_t misalign, std::size_t skip = 0, std::size_t len = kSize) {
    return {misalign == kOffset % 4096 ? "read" : "read into non-congruent memory", Fault::Op::Read,
            [this, misalign, skip, len](Engine& e, const File& f) {
              test::AlignedBytes dst(len, misalign);
              auto r = e.read(f, kOffset + skip, dst.span(), true);
              const auto want = std::span<const std::byte>(data_).subspan(skip, len);
              EXPECT_EQ(get_within(r), crc32(want));
              EXPECT_TRUE(std::equal(want.begin(), want.end(), dst.data()));
            }};
  }

  Case scan_case() {
    return {"scan", Fault::Op::Read, [this](Engine& e, const File& f) {
              std::atomic<std::uint64_t> bytes{0};
              auto s =
                  e.scan(f, kOffset, kSize, [&](std::uint64_t off, std::span<const std::byte> d) {
                    EXPECT_TRUE(std::equal(d.begin(), d.end(), data_.begin() + (off - kOffset)));
                    bytes += d.size();
                  });
              get_within(s);
              EXPECT_EQ(bytes.load(), kSize);
            }};
  }

  Case sync_case() {
    return {"sync", Fault::Op::Sync, [](Engine& e, const File& f) {
              auto s = e.sync(f);
              get_within(s);
            }};
  }

  EngineOptions options_;
  TempDir dir_;
  std::vector<std::byte> data_;
};

TEST_P(EngineFaults, WriteDirect) { exhaust(write_case(), IoMode::Direct); }
TEST_P(EngineFaults, WriteBuffered) { exhaust(write_case(), IoMode::Buffered); }
TEST_P(EngineFaults, ReadDirect) { exhaust(read_case(kOffset % 4096), IoMode::Direct); }
// Shifted: the O_DIRECT part and the bounce block of each body piece are requests of
// their own, so every index covers faults in both.
// The range ends 3000 bytes into a block: the tail's block read needs more than the half
// a Short fault lets through (a request that still brings what it needs is not retried).
TEST_P(EngineFaults, ReadDirectShifted) {
  exhaust(read_case(7, 0, 53248 + 3000 - kOffset), IoMode::Direct);
}
// Staged: a range inside one block [4096, 8192) of the file has no whole block.
TEST_P(EngineFaults, ReadDirectStaged) { exhaust(read_case(7, 10, 3000), IoMode::Direct); }
TEST_P(EngineFaults, ReadBuffered) { exhaust(read_case(0), IoMode::Buffered); }
TEST_P(EngineFaults, Scan) { exhaust(scan_case(), IoMode::Direct); }
TEST_P(EngineFaults, Sync) { exhaust(sync_case(), IoMode::Direct); }

// Fault::Op::Any numbers every request, whatever its kind.
TEST_P(EngineFaults, AnyCountsAllOperations) {
  std::shared_ptr<FaultCounters> counters;
  {
    auto engine = make_faulty_engine(options_, {}, &counters);
    File f = prepare(*engine, IoMode::Direct);
    read_case(0).run(*engine, f);
    write_case().run(*engine, f);
    sync_case().run(*engine, f);
  }
  EXPECT_EQ(counters->count(Fault::Op::Any), counters->reads + counters->writes + counters->syncs);
  EXPECT_EQ(counters->syncs.load(), 1u);
  EXPECT_EQ(counters->injected.load(), 0u);
  const std::uint64_t sync_index = counters->reads + counters->writes;
  auto engine =
      make_faulty_engine(options_, FaultPlan{{{Fault::Op::Any, sync_index, Fault::Kind::Eio}}});
  File f = prepare(*engine, IoMode::Direct);
  read_case(0).run(*engine, f);
  write_case().run(*engine, f);
  const Error e = test::error_of([&] { sync_case().run(*engine, f); });
  EXPECT_EQ(e.code(), Errc::Io);
  EXPECT_NE(e.message().find("fdatasync"), std::string::npos) << e.what();
}

TEST_P(EngineFaults, ForcedRegistrationFailureUsesPlainOpcodes) {
  FaultPlan plan;
  plan.fail_buffer_registration = true;
  auto engine = make_faulty_engine(options_, plan);
  EXPECT_FALSE(engine->stats().buffers_registered);
  File f = prepare(*engine, IoMode::Direct);
  read_case(7).run(*engine, f);
  scan_case().run(*engine, f);
  write_case().run(*engine, f);
}

INSTANTIATE_TEST_SUITE_P(Backends, EngineFaults,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         test::BackendName());

}  // namespace
}  // namespace stsw
