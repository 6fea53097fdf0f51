// Copying tensors that lie as contiguous byte ranges of a safetensors input into a
// StreamWriter with reads and writes in flight at the same time (stsw convert's fast path).
//
// A small ring of staging buffers borrowed from the writer's engine pool cycles through:
// StreamReader::read_range fills buffers ahead (O_DIRECT straight into the buffer, with the
// ring's fixed-buffer index where the buffer is registered: each piece lands at the buffer
// offset congruent to its file offset, and pieces after a tensor's first start at aligned
// file offsets) while filled buffers are handed, in file order, to
// StreamWriter::write_block, whose future says when the buffer may be read into again. The
// pipeline runs across tensor boundaries. Each tensor's stored CRC is checked against the
// CRC the writer computed while staging the bytes (StreamWriter::tensor_crc32): no second
// pass over the data; only a writer with crc32 off makes the copier compute it on the
// buffers itself.
//
// Memory: nothing beyond the engine's pool. The ring holds `slots` pool buffers (taken on
// the first add(), returned by the destructor; pieces are the pool's buffer size), so the
// engine's registered set is shared between the ring and the writer instead of a private
// ring beside it: open the writer with WriterOptions::buffer_count = writer_buffers(...)
// and the two together never hold more than the pool's registered buffer_count (when it
// is at least two: one each), so the pool never grows for a copy. No deadlock: the ring's reads
// take no pool buffer (congruent memory: the engine's Split plan, head and tail through the
// buffered descriptor), the ring waits only for its own reads and for write_block futures,
// and those complete as soon as the writer has copied the bytes into its own buffers,
// which its writes return by themselves. The ring takes its buffers with
// Engine::acquire_buffer: with the pool at its cap (other users of the engine holding the
// rest) it waits while engine I/O is in flight, else add() fails with NoSpace.
//
// Not thread-safe: one thread drives a copier. Errors (the reader's Io, CrcMismatch from
// check_crc, the writer's errors, NoSpace from the pool) are thrown by add() or drain(); the
// writer must then be aborted before the copier is destroyed (abort fails the queued blocks
// that still refer to the ring), and the destructor waits for the reads and writes still
// using the ring. The engine must outlive the copier.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <string>
#include <vector>

#include "convert/source.hpp"
#include "stsw/engine.hpp"
#include "stsw/writer.hpp"

namespace stsw::cvt {

class RangeCopier {
 public:
  static constexpr unsigned kMaxSlots = 4;
  static constexpr unsigned kCachedSlots = 1;

  // How a pool of `pool_buffers` registered buffers is split: the writer keeps at least
  // two (one filling while one is written; one when the pool has two), the ring takes the
  // rest up to kMaxSlots and at least one. Reads through the page cache (`cached`: the
  // reader found the input cached, or its file system has no O_DIRECT) are memory copies
  // with the kernel's read-ahead behind them: the ring then takes at most kCachedSlots and
  // the writer, whose depth sets the pace, the rest. The default pool of 6: 4 + 2 for
  // O_DIRECT reads (measured under load as fast as a private 4 x 8 MiB ring beside a
  // 6-buffer writer), 1 + 5 for cached ones (of the StreamWriter's rate in the same run,
  // medians of 4 alternating runs: 4 + 2 0.65x, 2 + 4 0.84x, 1 + 5 0.97x; a cold copy lost
  // 10-20% with 2 + 4). Together always pool_buffers (two at least).
  [[nodiscard]] static unsigned ring_slots(unsigned pool_buffers, bool cached) noexcept;
  [[nodiscard]] static unsigned writer_buffers(unsigned pool_buffers, bool cached) noexcept;

  // `engine`: the writer's engine (the ring borrows `slots` >= 1 of its staging buffers).
  // `on_progress(bytes, finished)`: bytes whose staging completed, and (non-null) the name
  // of the tensor they completed, staged in full and CRC-checked; runs on the calling
  // thread, in file order; `finished` is valid during the call.
  RangeCopier(StreamWriter& writer, Engine& engine, unsigned slots, bool writer_crc,
              std::function<void(std::uint64_t, const std::string*)> on_progress);
  RangeCopier(const RangeCopier&) = delete;
  RangeCopier& operator=(const RangeCopier&) = delete;
  ~RangeCopier();  // waits for the reads and writes still using the ring; never throws

  // Pool buffers the ring holds now (0 before the first add()).
  [[nodiscard]] std::size_t ring_buffers() const noexcept { return ring_.size(); }

  // Queues the copy of `source` (nbytes) as the writer's tensor `name`, the writer's next
  // tensor after those queued before. Blocks while every buffer is busy.
  void add(const std::string& name, const ReaderRange& source, std::uint64_t nbytes);
  // Waits until every queued tensor was staged and checked.
  void drain();

 private:
  struct Tensor {
    std::string name;
    ReaderRange source;
    std::size_t pieces_left = 0;
    std::uint32_t crc = 0;  // computed here only when the writer computes none
  };
  struct Piece {
    std::size_t slot = 0;
    std::uint64_t tensor = 0;  // sequence number (tensors_.front() is first_tensor_)
    std::uint64_t offset = 0;  // into the tensor
    std::span<std::byte> dst;
    bool last = false;
    bool writing = false;
    std::future<void> read;
    std::future<void> write;
  };

  Tensor& tensor(std::uint64_t seq) { return tensors_[seq - first_tensor_]; }
  void pump(bool until_empty);
  void hand_off(Piece& p);
  void retire_front();

  StreamWriter& writer_;
  Engine& engine_;
  unsigned slots_;
  bool writer_crc_;
  std::function<void(std::uint64_t, const std::string*)> on_progress_;
  std::vector<StagingBuffer> ring_;  // declared before inflight_: outlives the pieces
  std::size_t piece_bytes_ = 0;
  std::vector<std::size_t> free_;
  std::deque<Piece> inflight_;  // file order
  std::deque<Tensor> tensors_;  // queued, not yet checked
  std::uint64_t first_tensor_ = 0;
};

}  // namespace stsw::cvt
