// Waiting for an engine to settle after an operation's future is ready: staging buffers
// may come back to the pool just after the completion that made the future ready.
#pragma once

#include "stsw/engine.hpp"

namespace stsw::test {

// The engine's stats once every staging buffer is back in its pool (buffers_free ==
// buffers_total), or after about a second if one never comes back: the caller checks
// that (a leaked buffer). Thread-safe like Engine::stats().
[[nodiscard]] EngineStats settled_stats(const Engine& engine);

}  // namespace stsw::test
