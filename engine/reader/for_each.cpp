#include "reader/for_each.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <deque>
#include <future>
#include <optional>
#include <utility>

#include "reader/window_plan.hpp"
#include "stsw/aligned_buffer.hpp"
#include "stsw/crc32.hpp"

namespace stsw::detail {

namespace {

// Page-aligned anonymous memory, huge pages where the kernel gives them (fresh 4 KiB
// pages make the kernel's copies slow, see PERF_NOTES).
struct Buffer : AlignedBuffer {
  explicit Buffer(std::size_t size) : AlignedBuffer(size, 4096, /*huge_pages=*/true) {}
};

// Reads in flight; waits for all of them on destruction so that no read still writes into
// a buffer being freed (also when the callback throws).
struct Inflight {
  std::deque<std::optional<std::future<std::uint32_t>>> reads;
  ~Inflight() {
    for (auto& f : reads) {
      if (f && f->valid()) f->wait();
    }
  }
};

void stream_shard(Engine& engine, const Shard& s, std::vector<Buffer>& buffers, bool verify_crc,
                  const StreamReader::PieceCallback& callback) {
  const auto& tensors = s.header.tensors;
  std::vector<Extent> extents;
  extents.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i)
    extents.push_back({s.abs_begin(i), s.abs_end(i)});
  const File& file = s.io_file();
  const std::size_t cap = buffers.front().span().size();
  // Direct files need aligned windows; an alignment that does not divide the buffer size
  // (never seen in practice) degrades to unaligned windows, which the engine reads through
  // the buffered descriptor.
  const std::uint64_t align = cap % file.alignment() == 0 ? file.alignment() : 1;
  const std::vector<Window> windows = plan_windows(extents, align, cap, s.file_size);

  Inflight inflight;
  std::size_t next = 0;
  auto submit = [&] {
    const Window& w = windows[next];
    std::optional<std::future<std::uint32_t>> f;
    if (w.length > 0) {
      f = engine.read(file, w.offset, buffers[next % buffers.size()].span().first(w.length), false);
    }
    inflight.reads.push_back(std::move(f));
    ++next;
  };
  while (next < windows.size() && next < buffers.size()) submit();

  Crc32 crc;  // of the tensor being delivered in pieces
  for (std::size_t i = 0; i < windows.size(); ++i) {
    auto& f = inflight.reads.front();
    if (f) {
      try {
        (void)f->get();
      } catch (const Error& e) {
        throw Error(e.code(), e.message() + " (reading the data of " + s.path + ")", e.sys_errno());
      }
    }
    inflight.reads.pop_front();
    const auto buf = buffers[i % buffers.size()].span();
    for (const Delivery& d : windows[i].pieces) {
      const TensorMeta& m = tensors[d.tensor];
      if (d.pos + d.length > windows[i].length) {
        throw Error(Errc::Io, s.path + ": tensor '" + m.name + "' ends at offset " +
                                  std::to_string(s.abs_end(d.tensor)) +
                                  ", beyond the end of the file (" + std::to_string(s.file_size) +
                                  " bytes)");
      }
      const auto bytes = std::span<const std::byte>(buf).subspan(d.pos, d.length);
      const bool check = verify_crc && m.crc32.has_value();
      if (d.first) crc = Crc32{};
      if (check) crc.update(bytes);
      if (check && d.first && d.last && crc.value() != *m.crc32) {
        throw crc_mismatch(s, m.name, *m.crc32, crc.value());
      }
      callback(m, d.offset_in_tensor, bytes);
      if (check && d.last && !d.first && crc.value() != *m.crc32) {
        throw crc_mismatch(s, m.name, *m.crc32, crc.value());
      }
    }
    // Buffer i % n is free again: reuse it for the next window.
    if (next < windows.size()) submit();
  }
}

}  // namespace

void run_for_each(Engine& engine, const std::vector<std::shared_ptr<const Shard>>& shards,
                  std::size_t capacity, unsigned buffers, bool verify_crc,
                  const StreamReader::PieceCallback& callback) {
  std::vector<Buffer> pool;
  for (const auto& s : shards) {
    if (s->header.tensors.empty()) continue;
    if (pool.empty()) {
      pool.reserve(buffers);
      for (unsigned i = 0; i < buffers; ++i) pool.emplace_back(capacity);
    }
    stream_shard(engine, *s, pool, verify_crc, callback);
  }
}

}  // namespace stsw::detail
