// stsw::wait_all (stsw/engine.hpp): waits for every future, then rethrows the first failure.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include "stsw/engine.hpp"

namespace {

TEST(WaitAll, EmptyAndAllSucceededReturnAndClear) {
  std::vector<std::future<void>> pending;
  EXPECT_NO_THROW(stsw::wait_all(pending));
  std::promise<void> a;
  std::promise<void> b;
  pending.push_back(a.get_future());
  pending.push_back(b.get_future());
  a.set_value();
  b.set_value();
  EXPECT_NO_THROW(stsw::wait_all(pending));
  EXPECT_TRUE(pending.empty());
}

TEST(WaitAll, WaitsForTheRestAfterAFailureThenRethrowsTheFirst) {
  std::promise<void> ok;
  std::promise<void> first;
  std::promise<void> second;
  std::promise<void> late;
  std::vector<std::future<void>> pending;
  for (auto* p : {&ok, &first, &second, &late}) pending.push_back(p->get_future());
  ok.set_value();
  first.set_exception(std::make_exception_ptr(std::runtime_error("first")));
  second.set_exception(std::make_exception_ptr(std::runtime_error("second")));
  std::atomic<bool> late_done{false};
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    late_done = true;
    late.set_value();
  });
  try {
    stsw::wait_all(pending);
    ADD_FAILURE() << "wait_all returned although two futures failed";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "first");
  }
  EXPECT_TRUE(late_done) << "wait_all rethrew before the last future was ready";
  EXPECT_TRUE(pending.empty());
  t.join();
}

}  // namespace
