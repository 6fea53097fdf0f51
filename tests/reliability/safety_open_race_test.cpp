// Opening while another process replaces the file by rename (issue 20, item 4): every open
// sees the old file or the new one, never an error, on both backends, in both read modes
// (Direct opens an O_DIRECT twin, which must come from the descriptor already held).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "reliability/crash_support.hpp"
#include "reliability/safety_support.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"
#ifdef STSW_SAFETY_CLI
#include "cli/cli_runner.hpp"
#endif

namespace stsw::reliability {
namespace {

constexpr int kOpensPerCase = 1300;  // x 4 cases: over 5,000 opens

// model.safetensors in a scratch directory, replaced over and over by one of two complete
// 256 KiB files (all 0xAA or all 0xBB bytes) for as long as this object lives: a child
// swaps them in by link + rename until the destructor kills it (only async-signal-safe
// calls in the child: safe after fork in a threaded test).
class SwappedTarget {
 public:
  static constexpr std::size_t kFileSize = std::size_t{256} * 1024;

  SwappedTarget() : dir_("safety"), target_(dir_.file("model.safetensors")) {
    const std::string a = dir_.file("a.safetensors"), b = dir_.file("b.safetensors");
    const std::string tmp = dir_.file("swap.tmp");
    write_small(a, 0xAA, kFileSize);
    write_small(b, 0xBB, kFileSize);
    write_small(target_, 0xAA, kFileSize);
    replacer_ = ::fork();
    if (replacer_ != 0) return;
    for (;;) {
      for (const std::string* src : {&a, &b}) {
        ::unlink(tmp.c_str());
        if (::link(src->c_str(), tmp.c_str()) == 0) ::rename(tmp.c_str(), target_.c_str());
      }
    }
  }
  SwappedTarget(const SwappedTarget&) = delete;
  SwappedTarget& operator=(const SwappedTarget&) = delete;
  ~SwappedTarget() {
    if (replacer_ <= 0) return;
    ::kill(replacer_, SIGKILL);
    int st = 0;
    ::waitpid(replacer_, &st, 0);
  }

  [[nodiscard]] bool replacing() const { return replacer_ > 0; }
  [[nodiscard]] const std::string& path() const { return target_; }

 private:
  ScratchDir dir_;
  std::string target_;
  pid_t replacer_ = -1;
};

TEST(SafetyOpenRace, OpensDuringAtomicReplacementNeverFail) {
  std::optional<SwappedTarget> swapped(std::in_place);
  ASSERT_TRUE(swapped->replacing());
  const std::string target = swapped->path();

  std::uint64_t opens = 0, direct_opens = 0;
  std::vector<std::string> errors;
  std::vector<std::byte> buf(256 * 1024);
  for (const BackendKind backend : {BackendKind::Uring, BackendKind::Threads}) {
    const std::shared_ptr<Engine> engine = small_engine(backend);
    for (const ReadMode mode : {ReadMode::Direct, ReadMode::Buffered}) {
      for (int i = 0; i < kOpensPerCase; ++i) {
        try {
          ReaderOptions o;
          o.engine = engine;
          o.io_mode = mode;
          const StreamReader r = StreamReader::open(target, o);
          ++opens;
          if (r.shards().front().mode == ReadMode::Direct) ++direct_opens;
          if (i % 16 == 0) {  // and the bytes are one file's, whole
            r.read_into("t", buf).get();
            if (buf.front() != buf.back() ||
                (buf.front() != std::byte{0xAA} && buf.front() != std::byte{0xBB})) {
              errors.push_back("mixed bytes");
            }
          }
        } catch (const std::exception& e) {
          if (errors.size() < 5) std::cout << "[ open race ] " << e.what() << "\n";
          errors.push_back(e.what());
        }
      }
    }
  }
  swapped.reset();  // stops the replacer
  std::cout << "[ open race ] " << opens << " opens (" << direct_opens << " with O_DIRECT), "
            << errors.size() << " errors\n";
  EXPECT_GE(opens + errors.size(), 5000U);
  EXPECT_TRUE(errors.empty()) << errors.size() << " failed opens, first: " << errors.front();
}

#ifdef STSW_SAFETY_CLI
// `stsw verify --io-mode direct` as a real process, a few dozen times during the swaps.
TEST(SafetyOpenRace, VerifyDuringAtomicReplacementNeverFails) {
  const SwappedTarget swapped;
  ASSERT_TRUE(swapped.replacing());
  const std::string& target = swapped.path();
  int failures = 0;
  for (int i = 0; i < 40; ++i) {
    const test::RunResult r = test::run_stsw({"verify", "--io-mode", "direct", target});
    if (r.exit_code != 0) {
      if (++failures <= 3) ADD_FAILURE() << r.out << r.err;
    }
  }
  EXPECT_EQ(failures, 0);
}
#endif

}  // namespace
}  // namespace stsw::reliability
