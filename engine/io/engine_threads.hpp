// The threads an engine starts, and the shutdowns that outlive the call that released
// an engine.
//
// Every engine thread (ring driver, I/O thread, worker) calls enter_engine_thread() first:
// it records which engine the thread works for (so that an engine released from one of
// its own threads does not join itself) and names the thread ("stsw-uring", ...), so
// that /proc/self/task/*/comm tells what is alive.
//
// An engine released on one of its own threads (inside a callback) cannot join that
// thread, so its shutdown runs on a helper thread ("stsw-shutdown"). Those helpers are
// registered in a process-wide registry that is never destroyed, and are joined by
// join_released_engines(): by Engine::wait_for_released_engines(), before the next
// helper starts (finished ones only), and by an exit handler installed with the first
// engine, so that no engine shutdown is still running while the process tears down its
// statics.
#pragma once

#include <memory>

#include "io/backend.hpp"

namespace stsw::detail {

class Core;

// Marks the calling thread as one of `owner`'s and gives it `name` (at most 15 bytes).
void enter_engine_thread(OwnerTag owner, const char* name) noexcept;

// Runs core->teardown() on a registered helper thread. If no thread can be started,
// tears down inline as a last resort (it cannot finish from an engine thread: logged).
void shut_down_on_helper(std::shared_ptr<Core> core) noexcept;

// Joins every helper started so far, including helpers started while waiting. Returns
// false (without waiting) when called from an engine thread, which could be one the
// helpers wait for.
bool join_released_engines() noexcept;

// Installs, once per process, the exit handler that joins the helpers. Called before
// the first engine is built, so the handler runs before the statics built after it are
// destroyed.
void install_exit_join() noexcept;

}  // namespace stsw::detail
