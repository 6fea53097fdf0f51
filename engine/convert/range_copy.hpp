// Copying tensors that lie as contiguous byte ranges of a safetensors input into a
// StreamWriter with reads and writes in flight at the same time (stsw convert's fast path).
//
// A small ring of long-lived, aligned buffers (kSlots x kPieceBytes, huge pages where the
// kernel gives them) cycles through: StreamReader::read_range fills buffers ahead (O_DIRECT
// straight into the buffer: each piece lands at the buffer offset congruent to its file
// offset, and pieces after a tensor's first start at aligned file offsets) while filled
// buffers are handed, in file order, to StreamWriter::write_block, whose future says when
// the buffer may be read into again. The pipeline runs across tensor boundaries. Each
// tensor's stored CRC is checked against the CRC the writer computed while staging the
// bytes (StreamWriter::tensor_crc32): no second pass over the data; only a writer with
// crc32 off makes the copier compute it on the buffers itself.
//
// Memory: kSlots x kPieceBytes (32 MiB, mapped on the first add()), whatever the tensor
// sizes. Not thread-safe: one thread drives a copier. Errors (the reader's Io, CrcMismatch
// from check_crc, the writer's errors) are thrown by add() or drain(); the writer must then
// be aborted before the copier is destroyed (abort fails the queued blocks that still refer
// to the ring), and the destructor waits for the reads and writes still using the ring.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <string>
#include <vector>

#include "convert/source.hpp"
#include "stsw/aligned_buffer.hpp"
#include "stsw/writer.hpp"

namespace stsw::cvt {

class RangeCopier {
 public:
  static constexpr std::size_t kSlots = 4;
  static constexpr std::size_t kPieceBytes = std::size_t{8} << 20;

  // `on_progress(bytes, finished)`: bytes whose staging completed, and (non-null) the name
  // of the tensor they completed, staged in full and CRC-checked; runs on the calling
  // thread, in file order; `finished` is valid during the call.
  RangeCopier(StreamWriter& writer, bool writer_crc,
              std::function<void(std::uint64_t, const std::string*)> on_progress);
  RangeCopier(const RangeCopier&) = delete;
  RangeCopier& operator=(const RangeCopier&) = delete;
  ~RangeCopier();  // waits for the reads and writes still using the ring; never throws

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
  bool writer_crc_;
  std::function<void(std::uint64_t, const std::string*)> on_progress_;
  AlignedBuffer ring_;
  std::vector<std::size_t> free_;
  std::deque<Piece> inflight_;  // file order
  std::deque<Tensor> tensors_;  // queued, not yet checked
  std::uint64_t first_tensor_ = 0;
};

}  // namespace stsw::cvt
