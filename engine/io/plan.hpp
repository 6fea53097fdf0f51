// How a transfer is cut into pieces (one request each, two for a shifted body piece;
// each request resubmitted until done).
//
// Plain:   chunk_size pieces on the file's buffered descriptor (buffered files, and
//          direct files whose memory is not congruent to the file offset, for writes).
// Split:   a direct file with memory congruent to the offset modulo the alignment: the
//          unaligned head and tail (each under one block) go through the buffered twin,
//          the aligned body goes O_DIRECT straight to or from the caller's memory.
// Shifted: reads from a direct file into memory that is not congruent, with at least
//          one whole block in the range. The unaligned head and tail (each inside one
//          block) read their whole block O_DIRECT into the slot's bounce block
//          (allocated once per transfer, not from the staging pool, not registered),
//          and a worker copies the requested bytes out. Each body piece, an aligned
//          file window [W, W + n), has its target t = mem + (W - offset) in the
//          caller's memory. Two requests at once: its first n - a bytes O_DIRECT to the
//          aligned address t + shift() (inside the target, since 0 < shift() < a), its
//          last a bytes into the slot's bounce block. A worker then moves the bytes
//          down by shift() and copies the bounce block behind them (with the CRC). A
//          piece touches only its own target, so pieces land and finish in any order,
//          and the bytes in flight are not bounded by the staging pool.
// Staged:  scans, and reads from direct files into memory that is not congruent whose
//          range holds no whole block: each piece reads an aligned window (at most
//          chunk_size) into a staging buffer with O_DIRECT, and a worker copies out the
//          bytes the caller asked for.
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
  bool direct = false;   // on the O_DIRECT descriptor
  bool shifted = false;  // a Shifted body piece: lands at target + shift(), last block bounced
  bool bounced = false;  // a Shifted head or tail: its block read into the bounce block
};

class Planner {
 public:
  enum class Mode { Plain, Split, Shifted, Staged };

  Planner(const File& file, std::uint64_t offset, std::uint64_t length, const std::byte* mem,
          bool scan, bool read, std::size_t chunk) noexcept
      : Planner(file.direct() ? file.alignment() : 1, offset, length, mem, scan, read, chunk) {}

  // `alignment`: the file's O_DIRECT alignment, 1 for a buffered file.
  Planner(std::uint64_t alignment, std::uint64_t offset, std::uint64_t length, const std::byte* mem,
          bool scan, bool read, std::size_t chunk) noexcept
      : begin_(offset), end_(offset + length), chunk_(chunk) {
    const std::uint64_t a = alignment;
    const bool direct = a > 1 && chunk % a == 0;
    align_ = direct ? a : 1;
    // (mem - offset) mod align: 0 when congruent; else the shift that aligns the
    // address of every aligned file offset is align - that.
    const std::uint64_t skew =
        (reinterpret_cast<std::uintptr_t>(mem) % align_ + align_ - offset % align_) % align_;
    const bool congruent = mem != nullptr && skew == 0;
    head_end_ = std::min(end_, round_up(begin_, align_));
    tail_begin_ = std::max(head_end_, round_down(end_, align_));
    const bool body = tail_begin_ > head_end_;
    if (scan || (direct && read && !congruent && !body)) {
      mode_ = Mode::Staged;
    } else if (direct && read && !congruent) {
      mode_ = Mode::Shifted;
      shift_ = align_ - skew;
    } else if (direct && congruent) {
      mode_ = Mode::Split;
    } else {
      mode_ = Mode::Plain;
    }
  }

  [[nodiscard]] Mode mode() const noexcept { return mode_; }
  [[nodiscard]] bool staged() const noexcept { return mode_ == Mode::Staged; }
  [[nodiscard]] bool shifted() const noexcept { return mode_ == Mode::Shifted; }
  // Reads whose bytes a worker moves into place after they land (direct, not congruent).
  [[nodiscard]] bool copies() const noexcept { return staged() || shifted(); }
  // Shifted: the distance from a body piece's target to where its O_DIRECT part lands.
  [[nodiscard]] std::uint64_t shift() const noexcept { return shift_; }
  [[nodiscard]] std::uint64_t alignment() const noexcept { return align_; }
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
      case Mode::Shifted:
        if (cursor < head_end_) {
          data_end = head_end_;
        } else if (cursor < tail_begin_) {
          data_end = std::min(tail_begin_, cursor + chunk_);
          p.direct = true;
          p.shifted = mode_ == Mode::Shifted;
        } else {
          data_end = end_;
        }
        if (mode_ == Mode::Shifted && !p.shifted) {
          // Head or tail: its whole block O_DIRECT into the slot's bounce block.
          p.io_off = round_down(cursor, align_);
          p.io_len = static_cast<std::uint32_t>(align_);
          p.direct = true;
          p.bounced = true;
          p.data_len = static_cast<std::uint32_t>(data_end - cursor);
          return p;
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

  // A shifted piece's bytes read O_DIRECT to target + shift(); the rest (its last
  // alignment() bytes) go to the bounce block.
  [[nodiscard]] std::uint32_t landed(const Piece& p) const noexcept {
    return p.io_len - static_cast<std::uint32_t>(align_);
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
  std::uint64_t shift_ = 0;
  std::uint64_t head_end_ = 0;
  std::uint64_t tail_begin_ = 0;
  Mode mode_ = Mode::Plain;
};

}  // namespace stsw::detail
