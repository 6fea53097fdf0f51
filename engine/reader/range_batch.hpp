// A bounded set of range reads in flight: the engine room of StreamReader::read_batch and
// of read_block's per-row reads. Ranges start in the order given while the bytes in flight
// stay under a bound (a range larger than the bound runs alone); after the first failure
// no new range starts. Each range's callback runs as soon as it finished; `done` runs
// once, after every started range finished, with the first error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "reader/shard.hpp"
#include "stsw/engine.hpp"

namespace stsw::detail {

struct RangeItem {
  std::shared_ptr<const Shard> shard;  // null: `error` holds the request's argument error
  std::size_t index = 0;               // tensor within the shard
  std::uint64_t offset = 0;            // into the tensor
  std::span<std::byte> dst;
  std::exception_ptr error;  // a request refused up front (fails when its turn comes)
};

struct ReaderState;

// The RangeItem for `dst.size()` bytes of tensor `name` from `offset`, or one carrying the
// argument error (UnknownTensor; InvalidArgument naming file, tensor, offset and size for
// a range outside the tensor). Never throws for bad arguments.
[[nodiscard]] RangeItem make_range(const ReaderState& st, std::string_view name,
                                   std::uint64_t offset, std::span<std::byte> dst);

// The future of a callback-form call: `start(done)` must call `done` exactly once.
[[nodiscard]] std::future<void> future_of(const std::function<void(DoneCallback)>& start);

// Starts one range read: the whole tensor (offset 0, full size) through start_read with
// the CRC check `check_crc`, an empty range as an immediate success, otherwise
// start_partial_read. `done` runs exactly once on an engine thread. Never throws.
void start_range(Engine& engine, const RangeItem& item, bool check_crc, DoneCallback done);

// Runs `items` with at most `max_in_flight` bytes in flight. `on_each(i, error)` (may be
// empty) runs for every item: when it finished, or with Errc::Cancelled when it never
// started because an earlier one failed. `done` runs exactly once, on an engine thread.
// Keeps `engine` (and the items' shards) alive until then. Never throws.
void run_ranges(std::shared_ptr<Engine> engine, std::vector<RangeItem> items, bool check_crc,
                std::uint64_t max_in_flight,
                std::function<void(std::size_t, std::exception_ptr)> on_each, DoneCallback done);

}  // namespace stsw::detail
