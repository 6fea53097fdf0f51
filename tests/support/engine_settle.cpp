#include "support/engine_settle.hpp"

#include <chrono>
#include <thread>

namespace stsw::test {

EngineStats settled_stats(const Engine& engine) {
  EngineStats st = engine.stats();
  for (int k = 0; k < 200 && st.buffers_free != st.buffers_total; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    st = engine.stats();
  }
  return st;
}

}  // namespace stsw::test
