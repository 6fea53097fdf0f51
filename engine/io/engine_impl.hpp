// Engine construction with a chosen backend factory (Engine::create uses make_backend;
// fault injection wraps it).
#pragma once

#include <memory>

#include "io/backend.hpp"
#include "stsw/engine.hpp"

namespace stsw::detail {

// Throws Error(InvalidArgument) naming the first impossible option.
void validate(const EngineOptions& options);

[[nodiscard]] std::shared_ptr<Engine> make_engine(const EngineOptions& options,
                                                  const BackendFactory& factory);

}  // namespace stsw::detail
