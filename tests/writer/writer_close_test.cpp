// The close sequence of StreamWriter (issue 19): its file-system calls run on the engine's
// blocking-call thread, never on the workers; destroying a writer whose close is pending
// does not block and the close still completes (or, failing, removes its temporary file);
// a failing directory fsync (seccomp, in a child process) reports Io naming the directory
// after the file was renamed into place, and leaves no hidden file behind.
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <future>
#include <thread>

#include "io/fault_injection.hpp"
#include "stsw/error.hpp"
#include "stsw/writer.hpp"
#include "support/seccomp_deny.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

using namespace std::chrono_literals;

// Generous: these bound a hang, never a speed.
constexpr auto kHang = 60s;

std::vector<TensorMeta> plan() {
  return contiguous({{"a", DType::F32, {50000}}, {"b", DType::U8, {70001}}});
}

DataMap fill(StreamWriter& w, const std::vector<TensorMeta>& metas) {
  DataMap data;
  for (const TensorMeta& t : metas) {
    data[t.name] = pattern(t.nbytes(), static_cast<unsigned>(t.nbytes()));
    w.write_block(t.name, data[t.name]).get();
  }
  return data;
}

class WriterClose : public ::testing::TestWithParam<BackendKind> {
 protected:
  void SetUp() override {
    if (GetParam() == BackendKind::Uring && !make_engine(BackendKind::Uring)) {
      GTEST_SKIP() << "io_uring is not available on this kernel";
    }
  }
  std::shared_ptr<Engine> engine(testing::FaultPlan faults = {}) {
    EngineOptions eo;
    eo.backend = GetParam();
    eo.chunk_size = 64 * 1024;
    eo.buffer_count = 4;
    eo.worker_threads = 1;
    return testing::make_faulty_engine(eo, std::move(faults));
  }
  TempDir dir_;
};

// The rename waits for the blocking-call thread: held there, the close stays pending and
// `path` absent while a worker (where CRCs run) is still free. The writer is destroyed
// meanwhile without waiting (the old ~Impl blocked until the close finished), and the
// close completes after it, with the engine released by the test.
TEST_P(WriterClose, DestroyedWhileTheRenameWaitsForTheBlockingThread) {
  const std::string path = dir_.file("w.safetensors");
  auto e = engine();
  Gate gate;
  e->post_blocking(gate.task(), nullptr);
  WriterOptions o;
  o.engine = e;
  o.io_mode = IoMode::Buffered;
  const auto metas = plan();
  std::future<void> closed;
  DataMap data;
  {
    auto w = std::make_unique<StreamWriter>(StreamWriter::open(path, metas, o));
    data = fill(*w, metas);
    closed = w->close();
    // A worker still runs tasks: the close's file-system calls do not occupy it.
    std::promise<void> ran;
    e->post([] {}, [&ran](std::exception_ptr) { ran.set_value(); });
    ASSERT_EQ(ran.get_future().wait_for(kHang), std::future_status::ready);
    EXPECT_EQ(closed.wait_for(100ms), std::future_status::timeout);
    auto destroyed = std::async(std::launch::async, [&w] { w.reset(); });
    if (destroyed.wait_for(kHang) != std::future_status::ready) {
      gate.open();  // lets the blocked destructor return
      FAIL() << "~StreamWriter blocked on the pending close";
    }
  }
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "published before the blocking thread was free";
  o.engine.reset();
  e.reset();  // the pending close keeps the engine alive
  gate.open();
  ASSERT_EQ(closed.wait_for(kHang), std::future_status::ready);
  closed.get();
  check_file(path, true, &data);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"w.safetensors"});
}

// A close that fails after its writer was destroyed: the future carries the error naming
// the file, `path` keeps its previous content and the temporary data is gone.
TEST_P(WriterClose, DestroyedWhileAFailingCloseIsPending) {
  const std::string path = dir_.file("f.safetensors");
  const auto old = pattern(999, 7);
  write_file(path, old);
  testing::FaultPlan faults;
  faults.faults.push_back({testing::Fault::Op::Sync, 0, testing::Fault::Kind::Eio});  // fdatasync
  auto e = engine(faults);
  Gate gate;  // holds the single worker: the header step (encoding the CRCs) waits
  WriterOptions o;
  o.engine = e;
  o.io_mode = IoMode::Buffered;
  const auto metas = plan();
  std::future<void> closed;
  {
    auto w = std::make_unique<StreamWriter>(StreamWriter::open(path, metas, o));
    (void)fill(*w, metas);
    e->post(gate.task(), nullptr);
    closed = w->close();
    auto destroyed = std::async(std::launch::async, [&w] { w.reset(); });
    if (destroyed.wait_for(kHang) != std::future_status::ready) {
      gate.open();
      FAIL() << "~StreamWriter blocked on the pending close";
    }
  }
  o.engine.reset();
  gate.open();
  ASSERT_EQ(closed.wait_for(kHang), std::future_status::ready);
  try {
    closed.get();
    ADD_FAILURE() << "the close succeeded despite the failed fdatasync";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), Errc::Io) << err.what();
    EXPECT_NE(err.message().find(path), std::string::npos) << err.what();
    EXPECT_NE(err.message().find("fdatasync"), std::string::npos) << err.what();
  }
  // The orphaned writer is deleted on the blocking-call thread; the engine is gone once the
  // last task there ran, and with it every reference to the temporary file.
  e.reset();
  Engine::wait_for_released_engines();
  for (int i = 0; i < 6000 && dir_.entries().size() != 1; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(read_file(path), old);
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"f.safetensors"});
}

// ---- a directory fsync that fails (child process: the seccomp filter is permanent) ----------

// "uring:DIR" or "threads:DIR".
constexpr const char* kDirFsyncEnv = "STSW_TEST_DIRFSYNC";

// fsync(2) fails with EIO from now on. The writer's data sync is fdatasync (a syscall of its
// own on the threads backend, a ring request on io_uring): only the directory's fsync fails.
bool fail_fsync() { return test::deny_syscall(SYS_fsync, EIO); }

TEST(WriterCloseChild, DirectoryFsyncFails) {
  const char* env = std::getenv(kDirFsyncEnv);
  if (env == nullptr) GTEST_SKIP() << "runs only as the child of WriterClose";
  const std::string arg = env;
  const std::string dir = arg.substr(arg.find(':') + 1);
  ASSERT_TRUE(fail_fsync()) << "seccomp refused";
  const std::string path = dir + "/d.safetensors";
  EngineOptions eo;
  eo.backend = arg.rfind("uring:", 0) == 0 ? BackendKind::Uring : BackendKind::Threads;
  eo.chunk_size = 64 * 1024;
  WriterOptions o;
  o.engine = Engine::create(eo);
  const auto metas = plan();
  auto w = StreamWriter::open(path, metas, o);
  const DataMap data = fill(w, metas);
  try {
    w.close().get();
    ADD_FAILURE() << "close() succeeded although the directory fsync failed";
  } catch (const Error& err) {
    EXPECT_EQ(err.code(), Errc::Io) << err.what();
    EXPECT_EQ(err.sys_errno(), EIO) << err.what();
    EXPECT_NE(err.message().find("fsync directory " + dir), std::string::npos) << err.what();
    EXPECT_NE(err.message().find(path), std::string::npos) << err.what();
  }
  // The steps before it all ran: the complete file (CRCs written, data synced) is in place.
  check_file(path, true, &data);
  // After the rename, the file is published: abort() leaves it, and the writer is closed.
  w.abort();
  check_file(path, true, &data);
  EXPECT_THROW(w.close().get(), Error);
}

TEST_P(WriterClose, AFailedDirectoryFsyncComesAfterTheRenameAndLeavesNoHiddenFile) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the seccomp filter of the child is written for x86-64";
#endif
  write_file(dir_.file("d.safetensors"), pattern(100, 1));
  const std::string backend = GetParam() == BackendKind::Uring ? "uring:" : "threads:";
  const int pid =
      spawn_self("WriterCloseChild.DirectoryFsyncFails", kDirFsyncEnv, backend + dir_.path());
  EXPECT_EQ(wait_child(pid), 0) << "the child's checks failed (its output is above)";
  EXPECT_EQ(dir_.entries(), std::vector<std::string>{"d.safetensors"});
}

INSTANTIATE_TEST_SUITE_P(Io, WriterClose, ::testing::ValuesIn(both_backends()), BackendName());

}  // namespace
}  // namespace stsw::writer_test
