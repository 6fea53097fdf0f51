// StreamReader::read_range and read_batch: byte ranges of tensors into caller memory
// through the engine (range_batch.hpp does the work).
#include <memory>

#include "reader/range_batch.hpp"
#include "reader/read_ops.hpp"
#include "reader/reader_state.hpp"
#include "stsw/reader.hpp"

namespace stsw {

namespace detail {

// The RangeItem for `dst.size()` bytes of `name` from `offset`, or one carrying the
// argument error (UnknownTensor, InvalidArgument for a range outside the tensor).
RangeItem make_range(const ReaderState& st, std::string_view name, std::uint64_t offset,
                     std::span<std::byte> dst) {
  RangeItem item;
  item.offset = offset;
  item.dst = dst;
  const TensorLoc* loc = st.find(name);
  if (loc == nullptr) {
    item.error = std::make_exception_ptr(st.unknown(name));
    return item;
  }
  const TensorMeta& m = st.meta(*loc);
  const auto& shard = st.shards[loc->shard];
  if (offset > m.nbytes() || dst.size() > m.nbytes() - offset) {
    item.error = std::make_exception_ptr(
        Error(Errc::InvalidArgument, shard->path + ": tensor '" + m.name + "': a range of " +
                                         std::to_string(dst.size()) + " bytes at offset " +
                                         std::to_string(offset) + " lies outside the tensor's " +
                                         std::to_string(m.nbytes()) + " bytes"));
    return item;
  }
  item.shard = shard;
  item.index = loc->index;
  return item;
}

std::future<void> future_of(const std::function<void(DoneCallback)>& start) {
  auto promise = std::make_shared<std::promise<void>>();
  auto future = promise->get_future();
  start([promise](std::exception_ptr err) {
    if (err) {
      promise->set_exception(err);
    } else {
      promise->set_value();
    }
  });
  return future;
}

}  // namespace detail

void StreamReader::read_range(std::string_view name, std::uint64_t offset, std::span<std::byte> dst,
                              DoneCallback done) const {
  if (!state_) {
    done(std::make_exception_ptr(Error(Errc::InvalidState, "StreamReader: used after move")));
    return;
  }
  const detail::ReaderState& st = *state_;
  detail::start_range(*st.engine, detail::make_range(st, name, offset, dst), st.options.verify_crc,
                      std::move(done));
}

std::future<void> StreamReader::read_range(std::string_view name, std::uint64_t offset,
                                           std::span<std::byte> dst) const {
  return detail::future_of(
      [&](DoneCallback done) { read_range(name, offset, dst, std::move(done)); });
}

std::future<void> StreamReader::read_batch(std::vector<ReadRequest> requests,
                                           ReadBatchOptions options) const {
  return detail::future_of([&](DoneCallback done) {
    if (!state_) {
      done(std::make_exception_ptr(Error(Errc::InvalidState, "StreamReader: used after move")));
      return;
    }
    const detail::ReaderState& st = *state_;
    std::vector<detail::RangeItem> items;
    items.reserve(requests.size());
    for (const ReadRequest& r : requests)
      items.push_back(detail::make_range(st, r.name, r.offset, r.dst));
    detail::run_ranges(st.engine, std::move(items), st.options.verify_crc,
                       options.max_bytes_in_flight, std::move(options.on_done), std::move(done));
  });
}

}  // namespace stsw
