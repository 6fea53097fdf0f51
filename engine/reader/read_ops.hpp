// The asynchronous read paths of StreamReader: read_into and verify.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "reader/shard.hpp"
#include "stsw/engine.hpp"
#include "stsw/reader.hpp"

namespace stsw::detail {

// Reads tensor `index` of `shard` into `dst` (exactly its nbytes, checked by the caller)
// along the shard's read path and, with `check_crc` and a stored crc32, compares CRCs.
// `done` runs exactly once on an engine thread. Never throws.
//  - Buffered, Direct: one Engine::read into dst, the CRC computed by engine workers as
//    chunks land (the engine handles O_DIRECT alignment itself).
//  - Mmap: a worker copies from the mapping with safe_copy and checksums.
void start_read(Engine& engine, std::shared_ptr<const Shard> shard, std::size_t index,
                std::span<std::byte> dst, bool check_crc, DoneCallback done);

// Scans the shards one after another (each data region once, in order) and reports every
// tensor's CRC. `done` runs exactly once on an engine thread. Never throws.
void start_verify(const std::shared_ptr<Engine>& engine,
                  std::vector<std::shared_ptr<const Shard>> shards,
                  StreamReader::VerifyCallback done);

// Posts a failure to `done` on an engine thread.
void post_error(Engine& engine, std::exception_ptr error, DoneCallback done);

// The same Error with " (tensor 'name')" added to its message; other exceptions as they are.
[[nodiscard]] std::exception_ptr annotate(std::exception_ptr error, std::string_view tensor);

}  // namespace stsw::detail
