// How a transfer is cut into pieces (one request each, resubmitted until done).
//
// Plain:  chunk_size pieces on the file's buffered descriptor (buffered files, and
//         direct files whose memory is not congruent to the file offset, for writes).
// Split:  a direct file with memory congruent to the offset modulo the alignment: the
//         unaligned head and tail (each under one block) go through the buffered twin,
//         the aligned body goes O_DIRECT straight to or from the caller's memory.
// Staged: scans, and reads from direct files into memory that is not congruent: each
//         piece reads an aligned window (at most chunk_size) into a staging buffer with
//         O_DIRECT, and a worker copies out the bytes the caller asked for.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "io/sys.hpp"
#include "stsw/engine.hpp"

namespace stsw::detail {

struct Piece {
  std::uint64_t data_off = 0;  // file offset of the caller's bytes in this piece
  std::uint32_t data_len = 0;
  std::uint64_t io_off = 0;  // file range of the request (a staged window may be larger)
  std::uint32_t io_len = 0;
  bool direct = false;  // on the O_DIRECT descriptor
};

class Planner {
 public:
  enum class Mode { Plain, Split, Staged };

  Planner(const File& file, std::uint64_t offset, std::uint64_t length, const std::byte* mem,
          bool scan, bool read, std::size_t chunk) noexcept
      : begin_(offset), end_(offset + length), chunk_(chunk) {
    const std::uint64_t a = file.alignment();
    const bool direct = file.direct() && a > 1 && chunk % a == 0;
    align_ = direct ? a : 1;
    const bool congruent =
        mem != nullptr && reinterpret_cast<std::uintptr_t>(mem) % align_ == offset % align_;
    if (scan || (direct && read && !congruent)) {
      mode_ = Mode::Staged;
    } else if (direct && congruent) {
      mode_ = Mode::Split;
    } else {
      mode_ = Mode::Plain;
    }
    head_end_ = std::min(end_, round_up(begin_, align_));
    tail_begin_ = std::max(head_end_, round_down(end_, align_));
  }

  [[nodiscard]] Mode mode() const noexcept { return mode_; }
  [[nodiscard]] bool staged() const noexcept { return mode_ == Mode::Staged; }
  [[nodiscard]] std::uint64_t end() const noexcept { return end_; }

  // The piece that starts at `cursor` (begin <= cursor < end); the next one starts at
  // its data_off + data_len.
  [[nodiscard]] Piece at(std::uint64_t cursor) const noexcept {
    Piece p;
    p.data_off = cursor;
    std::uint64_t data_end = 0;
    switch (mode_) {
      case Mode::Plain: data_end = std::min(end_, cursor + chunk_); break;
      case Mode::Split:
        if (cursor < head_end_) {
          data_end = head_end_;
        } else if (cursor < tail_begin_) {
          data_end = std::min(tail_begin_, cursor + chunk_);
          p.direct = true;
        } else {
          data_end = end_;
        }
        break;
      case Mode::Staged: {
        p.io_off = round_down(cursor, align_);
        const std::uint64_t window_end = std::min(p.io_off + chunk_, round_up(end_, align_));
        p.io_len = static_cast<std::uint32_t>(window_end - p.io_off);
        p.direct = align_ > 1;
        data_end = std::min(end_, window_end);
        p.data_len = static_cast<std::uint32_t>(data_end - cursor);
        return p;
      }
    }
    p.data_len = static_cast<std::uint32_t>(data_end - cursor);
    p.io_off = p.data_off;
    p.io_len = p.data_len;
    return p;
  }

  [[nodiscard]] std::uint64_t count() const noexcept {
    std::uint64_t n = 0;
    for (std::uint64_t c = begin_; c < end_; ++n) {
      const Piece p = at(c);
      c = p.data_off + p.data_len;
    }
    return n;
  }

 private:
  std::uint64_t begin_;
  std::uint64_t end_;
  std::uint64_t chunk_;
  std::uint64_t align_ = 1;
  std::uint64_t head_end_ = 0;
  std::uint64_t tail_begin_ = 0;
  Mode mode_ = Mode::Plain;
};

}  // namespace stsw::detail
