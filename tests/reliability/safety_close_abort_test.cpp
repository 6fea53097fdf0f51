// abort() while close() is pending (issue 20, item 2): the close completes exactly once,
// with success when the file was already published, else with Errc::Cancelled and the
// destination untouched; never a broken promise, never a callback that does not run.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "reliability/crash_support.hpp"
#include "reliability/safety_support.hpp"
#include "stsw/error.hpp"

namespace stsw::reliability {
namespace {

constexpr std::size_t kBytes = std::size_t{1} << 20;
constexpr int kRounds = 40;

struct Outcomes {
  int published = 0, cancelled = 0;
};

StreamWriter open_filled(const std::string& path, std::uint8_t fill, BackendKind backend) {
  WriterOptions o;
  o.engine = small_engine(backend);
  o.durable = true;
  const Layout layout = plan_layout({{"t", DType::U8, {kBytes}}}, LayoutOrder::Keep);
  StreamWriter w = StreamWriter::open(path, layout.tensors, o);
  const std::vector<std::byte> data(kBytes, std::byte{fill});
  w.write_block("t", data).get();
  return w;
}

// Checks the destination after an outcome: the new file when published, else the old one.
void check_destination(const std::string& path, bool published, const std::string& old_text,
                       std::uint8_t fill) {
  if (published) {
    EXPECT_EQ(verify_file(path), "");
    const std::string now = read_text(path);
    EXPECT_EQ(static_cast<std::uint8_t>(now.back()), fill);
  } else {
    EXPECT_EQ(read_text(path), old_text) << "a cancelled close touched the destination";
  }
}

class SafetyCloseAbort : public ::testing::TestWithParam<BackendKind> {};

TEST_P(SafetyCloseAbort, FutureCompletesOnceWithSuccessOrCancelled) {
  ScratchDir dir("safety");
  const std::string path = dir.file("model.safetensors");
  write_small(path, 1);
  Outcomes seen;
  for (int round = 0; round < kRounds; ++round) {
    const std::string old_text = read_text(path);
    const auto fill = static_cast<std::uint8_t>(10 + round);
    std::future<void> f;
    {
      StreamWriter w = open_filled(path, fill, GetParam());
      f = w.close();
      w.abort();
      // Ready before the writer is destroyed: abort() settled the close.
      ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready)
          << "round " << round << ": close() never completed after abort()";
    }
    bool published = false;
    try {
      f.get();
      published = true;
      ++seen.published;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::Cancelled) << e.what();
      ++seen.cancelled;
    } catch (const std::exception& e) {
      FAIL() << "round " << round << ": not a stsw::Error: " << e.what();
    }
    check_destination(path, published, old_text, fill);
    EXPECT_TRUE(hidden_files(dir.path()).empty()) << "round " << round;
  }
  std::cout << "[ close+abort ] published " << seen.published << ", cancelled " << seen.cancelled
            << "\n";
}

TEST_P(SafetyCloseAbort, CallbackRunsExactlyOnce) {
  ScratchDir dir("safety");
  const std::string path = dir.file("model.safetensors");
  write_small(path, 1);
  for (int round = 0; round < kRounds; ++round) {
    const std::string old_text = read_text(path);
    const auto fill = static_cast<std::uint8_t>(10 + round);
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto result = std::make_shared<std::promise<std::exception_ptr>>();
    std::future<std::exception_ptr> got = result->get_future();
    {
      StreamWriter w = open_filled(path, fill, GetParam());
      w.close([calls, result](std::exception_ptr e) {
        if (calls->fetch_add(1) == 0) result->set_value(e);
      });
      w.abort();
    }
    ASSERT_EQ(got.wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << "round " << round << ": the close callback never ran";
    const std::exception_ptr e = got.get();
    bool published = e == nullptr;
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const Error& err) {
        EXPECT_EQ(err.code(), Errc::Cancelled) << err.what();
      } catch (...) {
        ADD_FAILURE() << "not a stsw::Error";
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    EXPECT_EQ(calls->load(), 1) << "round " << round;
    check_destination(path, published, old_text, fill);
  }
}

// abort() after a completed close stays a no-op, and close() after abort() is refused.
TEST_P(SafetyCloseAbort, AbortAfterCloseKeepsTheFile) {
  ScratchDir dir("safety");
  const std::string path = dir.file("model.safetensors");
  StreamWriter w = open_filled(path, 5, GetParam());
  w.close().get();
  w.abort();
  EXPECT_EQ(verify_file(path), "");
  StreamWriter v = open_filled(dir.file("other.safetensors"), 6, GetParam());
  v.abort();
  try {
    v.close().get();
    ADD_FAILURE() << "close() after abort() succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidState);
  }
  EXPECT_EQ(file_type(dir.file("other.safetensors")), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, SafetyCloseAbort,
                         ::testing::Values(BackendKind::Uring, BackendKind::Threads),
                         [](const auto& info) {
                           return std::string(info.param == BackendKind::Uring ? "Uring"
                                                                               : "Threads");
                         });

}  // namespace
}  // namespace stsw::reliability
