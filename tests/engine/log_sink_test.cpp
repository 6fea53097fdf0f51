// The public logging hook (stsw/log.hpp): records reach the program's sink with their
// level, set_log_level takes effect at once, nothing reaches stderr while a sink is set,
// and an empty sink goes back to stderr.
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "stsw/engine.hpp"
#include "stsw/log.hpp"
#include "support/log_collector.hpp"

namespace {

using stsw::test::Collector;
using Record = stsw::test::LogRecord;

// Engine creation reports the backend at info.
void make_engine() {
  stsw::EngineOptions options;
  options.buffer_count = 2;
  auto engine = stsw::Engine::create(options);
}

class LogSinkTest : public ::testing::Test {
 protected:
  void SetUp() override { previous_ = stsw::log_level(); }
  void TearDown() override {
    stsw::set_log_sink({});
    stsw::set_log_level(previous_);
  }
  stsw::LogLevel previous_ = stsw::LogLevel::warn;
};

TEST_F(LogSinkTest, RecordsArriveWithTheirLevel) {
  Collector c;
  stsw::set_log_sink(c.sink());
  stsw::set_log_level(stsw::LogLevel::info);
  make_engine();
  bool found = false;
  for (const Record& r : c.records()) {
    if (r.message.find("engine: backend") == std::string::npos) continue;
    found = true;
    EXPECT_EQ(r.level, stsw::LogLevel::info);
    EXPECT_EQ(r.message.find('\n'), std::string::npos) << "no newline in the message";
    EXPECT_EQ(r.message.find("[stsw]"), std::string::npos) << "the message, not a formatted line";
  }
  EXPECT_TRUE(found);
}

TEST_F(LogSinkTest, LevelChangesTakeEffect) {
  Collector c;
  stsw::set_log_sink(c.sink());
  stsw::set_log_level(stsw::LogLevel::warn);
  EXPECT_EQ(stsw::log_level(), stsw::LogLevel::warn);
  make_engine();
  EXPECT_FALSE(c.saw("engine: backend"));
  stsw::set_log_level(stsw::LogLevel::debug);
  EXPECT_EQ(stsw::log_level(), stsw::LogLevel::debug);
  make_engine();
  EXPECT_TRUE(c.saw("engine: backend"));
  for (const Record& r : c.records()) EXPECT_NE(r.level, stsw::LogLevel::trace) << r.message;
}

TEST_F(LogSinkTest, NothingOnStderrWhileASinkIsSet) {
  Collector c;
  stsw::set_log_sink(c.sink());
  stsw::set_log_level(stsw::LogLevel::trace);
  ::testing::internal::CaptureStderr();
  make_engine();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(err.empty()) << err;
  EXPECT_FALSE(c.records().empty());
}

TEST_F(LogSinkTest, EmptySinkGoesBackToStderr) {
  Collector c;
  stsw::set_log_sink(c.sink());
  stsw::set_log_sink({});
  stsw::set_log_level(stsw::LogLevel::info);
  ::testing::internal::CaptureStderr();
  make_engine();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("[stsw] [info] engine: backend"), std::string::npos) << err;
  EXPECT_TRUE(c.records().empty()) << "a replaced sink is never called again";
}

TEST_F(LogSinkTest, ASinkThatThrowsDoesNotBreakTheLibrary) {
  int calls = 0;
  stsw::set_log_sink([&calls](stsw::LogLevel, std::string_view) {
    ++calls;
    throw std::runtime_error("sink failure");
  });
  stsw::set_log_level(stsw::LogLevel::info);
  EXPECT_NO_THROW(make_engine());
  EXPECT_GT(calls, 0);
}

TEST_F(LogSinkTest, OffDropsEverything) {
  Collector c;
  stsw::set_log_sink(c.sink());
  stsw::set_log_level(stsw::LogLevel::off);
  make_engine();
  EXPECT_TRUE(c.records().empty());
}

// STSW_LOG_LEVEL is read when the logger is first used; the "threadsafe" death-test
// style re-runs this test in a fresh process, where no logger exists yet.
TEST(LogLevelEnvironment, SetsTheInitialLevelAndSetLogLevelOverridesIt) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::setenv("STSW_LOG_LEVEL", "debug", 1);
        if (stsw::log_level() != stsw::LogLevel::debug) std::_Exit(1);
        stsw::set_log_level(stsw::LogLevel::error);
        std::_Exit(stsw::log_level() == stsw::LogLevel::error ? 0 : 2);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(LogLevelNames, ParseAndPrintRoundTrip) {
  for (auto level :
       {stsw::LogLevel::trace, stsw::LogLevel::debug, stsw::LogLevel::info, stsw::LogLevel::warn,
        stsw::LogLevel::error, stsw::LogLevel::critical, stsw::LogLevel::off}) {
    EXPECT_EQ(stsw::parse_log_level(stsw::to_string(level)), level);
  }
  EXPECT_EQ(stsw::parse_log_level("warning"), stsw::LogLevel::warn);
  EXPECT_EQ(stsw::parse_log_level("loud"), std::nullopt);
  EXPECT_EQ(stsw::parse_log_level(""), std::nullopt);
  EXPECT_EQ(stsw::parse_log_level("INFO"), std::nullopt);
}

}  // namespace
