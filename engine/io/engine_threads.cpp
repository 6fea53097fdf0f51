#include "io/engine_threads.hpp"

#include <pthread.h>

#include <condition_variable>
#include <cstdlib>
#include <list>
#include <mutex>
#include <thread>

#include "core/logging.hpp"
#include "io/engine_core.hpp"

namespace stsw::detail {

namespace {

struct Helper {
  std::thread thread;
  bool finished = false;
};

// Never destroyed: helpers may still run while exit handlers destroy other statics.
struct Registry {
  std::mutex mu;
  std::list<Helper> helpers;
};

Registry& registry() {
  static Registry* instance = new Registry;
  return *instance;
}

// Joins the helpers that have finished their teardown (they are exiting anyway).
void reap_finished(Registry& r) {
  std::list<Helper> done;
  {
    std::lock_guard lock(r.mu);
    for (auto it = r.helpers.begin(); it != r.helpers.end();) {
      auto next = std::next(it);
      if (it->finished) done.splice(done.end(), r.helpers, it);
      it = next;
    }
  }
  for (Helper& h : done) h.thread.join();
}

}  // namespace

void enter_engine_thread(OwnerTag owner, const char* name) noexcept {
  current_owner = owner;
  ::pthread_setname_np(::pthread_self(), name);
}

void shut_down_on_helper(std::shared_ptr<Core> core) noexcept {
  Registry& r = registry();
  reap_finished(r);
  std::lock_guard lock(r.mu);
  try {
    Helper& h = r.helpers.emplace_back();
    h.thread = std::thread([&r, &h, core]() mutable {
      ::pthread_setname_np(::pthread_self(), "stsw-shutdown");
      core->teardown();
      core.reset();
      std::lock_guard done(r.mu);
      h.finished = true;
    });
    core.reset();  // the helper holds the last reference
  } catch (...) {
    if (!r.helpers.empty() && !r.helpers.back().thread.joinable()) r.helpers.pop_back();
    // Destroying the core here would join the calling thread: leak it instead.
    (void)new std::shared_ptr<Core>(std::move(core));
    logger().error("engine shutdown: no helper thread could be started; the engine leaks");
  }
}

bool join_released_engines() noexcept {
  if (current_owner != nullptr) return false;
  Registry& r = registry();
  for (;;) {
    std::list<Helper> all;
    {
      std::lock_guard lock(r.mu);
      if (r.helpers.empty()) return true;
      all.splice(all.end(), r.helpers);
    }
    for (Helper& h : all) h.thread.join();
  }
}

void install_exit_join() noexcept {
  static const bool installed = [] {
    registry();  // built before the handler is registered: outlives it in any case
    return std::atexit([] { join_released_engines(); }) == 0;
  }();
  (void)installed;
}

}  // namespace stsw::detail
