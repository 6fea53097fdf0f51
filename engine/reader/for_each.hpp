// StreamReader::for_each: tensors in file order through a bounded set of buffers.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "reader/shard.hpp"
#include "stsw/engine.hpp"
#include "stsw/reader.hpp"

namespace stsw::detail {

// Streams the shards one after another. `capacity` (a multiple of 4096) bytes per
// buffer, `buffers` reads in flight. Blocks; throws Error or what `callback` threw, after
// every read in flight has finished.
void run_for_each(Engine& engine, const std::vector<std::shared_ptr<const Shard>>& shards,
                  std::size_t capacity, unsigned buffers, bool verify_crc,
                  const StreamReader::PieceCallback& callback);

}  // namespace stsw::detail
