// A program that releases the last reference to an engine from one of the engine's own
// threads while main() returns: the exit handlers then run beside the engine's shutdown.
// Exits 0 when nothing goes wrong; under ASan a use of a destroyed static aborts it.
//
// argv[1]: "post" (the last reference dies in an Engine::post completion) or "release"
// (main waits until the callback dropped it, then waits for the shutdown with
// Engine::wait_for_released_engines() and checks that only the main thread remains).
#include <dirent.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>

#include "stsw/engine.hpp"

namespace {

int count_threads() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  const bool wait = argc > 1 && std::strcmp(argv[1], "release") == 0;
  stsw::EngineOptions o;
  o.buffer_count = 1;
  o.chunk_size = 1 << 16;
  auto engine = stsw::Engine::create(o);
  stsw::Engine* raw = engine.get();
  // The callback owns the last reference: it is dropped on an engine worker thread.
  auto holder = std::make_shared<std::shared_ptr<stsw::Engine>>(std::move(engine));
  std::atomic<bool> released{false};
  raw->post([] {},
            [holder, &released](std::exception_ptr) {
              holder->reset();  // hands the shutdown to a helper thread before it returns
              released.store(true);
            });
  holder.reset();
  if (!wait) return 0;  // exit now, beside the shutdown
  while (!released.load()) std::this_thread::yield();
  stsw::Engine::wait_for_released_engines();
  const int left = count_threads();
  if (left != 1) {
    std::fprintf(stderr, "%d threads still alive after wait_for_released_engines\n", left);
    return 1;
  }
  return 0;
}
