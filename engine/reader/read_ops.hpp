// The asynchronous read paths of StreamReader: read_into and verify.
#pragma once

#include <cstddef>
#include <cstdint>
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

// Reads bytes [offset, offset + dst.size()) of tensor `index` (in range, checked by the
// caller) without a CRC check: Engine::read on the shard's descriptor (O_DIRECT where
// the engine can), or a fault-safe copy from the mapping in Mmap mode. Errors carry the
// tensor's name. `done` runs exactly once on an engine thread. Never throws.
void start_partial_read(Engine& engine, std::shared_ptr<const Shard> shard, std::size_t index,
                        std::uint64_t offset, std::span<std::byte> dst, DoneCallback done);

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
