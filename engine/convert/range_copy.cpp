// RangeCopier: reads into a ring of buffers ahead of the writer (see range_copy.hpp).
#include "convert/range_copy.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "stsw/crc32.hpp"
#include "stsw/error.hpp"

namespace stsw::cvt {

namespace {

constexpr std::uint64_t kAlign = 4096;  // O_DIRECT: file offsets and buffers

std::future<void> ready() {
  std::promise<void> p;
  p.set_value();
  return p.get_future();
}

bool is_ready(const std::future<void>& f) {
  return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

}  // namespace

unsigned RangeCopier::ring_slots(unsigned pool_buffers, bool cached) noexcept {
  return pool_buffers > 2 ? std::min(pool_buffers - 2, cached ? kCachedSlots : kMaxSlots) : 1;
}

unsigned RangeCopier::writer_buffers(unsigned pool_buffers, bool cached) noexcept {
  const unsigned ring = ring_slots(pool_buffers, cached);
  return pool_buffers > ring ? pool_buffers - ring : 1;
}

RangeCopier::RangeCopier(StreamWriter& writer, Engine& engine, unsigned slots, bool writer_crc,
                         std::function<void(std::uint64_t, const std::string*)> on_progress)
    : writer_(writer),
      engine_(engine),
      slots_(std::max(1U, slots)),
      writer_crc_(writer_crc),
      on_progress_(std::move(on_progress)) {}

RangeCopier::~RangeCopier() {
  for (Piece& p : inflight_) {
    if (p.read.valid()) p.read.wait();
    if (p.write.valid()) p.write.wait();
  }
}

void RangeCopier::add(const std::string& name, const ReaderRange& source, std::uint64_t nbytes) {
  if (ring_.empty()) {                // on first use: conversions of other inputs never take it
    std::vector<StagingBuffer> ring;  // all or none: a failed acquire leaves the ring empty
    ring.reserve(slots_);
    while (ring.size() < slots_) ring.push_back(engine_.acquire_buffer());
    ring_ = std::move(ring);
    piece_bytes_ = ring_.front().capacity();
    for (std::size_t i = slots_; i-- > 0;) free_.push_back(i);
  }
  const std::uint64_t seq = first_tensor_ + tensors_.size();
  // Pieces end at aligned file offsets (the first may start unaligned), so every piece but
  // a tensor's first and last is one aligned O_DIRECT read.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> pieces;  // {offset, length}
  for (std::uint64_t off = 0; off < nbytes;) {
    const std::uint64_t head = (source.file_offset + off) % kAlign;
    const std::uint64_t len = std::min<std::uint64_t>(nbytes - off, piece_bytes_ - head);
    pieces.emplace_back(off, len);
    off += len;
  }
  if (pieces.empty()) pieces.emplace_back(0, 0);  // an empty tensor: finalized in its turn
  tensors_.push_back(Tensor{name, source, pieces.size(), 0});
  for (std::size_t k = 0; k < pieces.size(); ++k) {
    const auto [off, len] = pieces[k];
    Piece p;
    p.tensor = seq;
    p.offset = off;
    p.last = k + 1 == pieces.size();
    if (len == 0) {
      p.read = ready();
    } else {
      pump(false);  // a free slot
      p.slot = free_.back();
      free_.pop_back();
      const std::uint64_t head = (source.file_offset + off) % kAlign;
      p.dst = ring_[p.slot].data().subspan(head, len);
      p.read = source.reader->read_range(source.name, off, p.dst);
      p.slot += 1;  // 0 below means "no slot"
    }
    inflight_.push_back(std::move(p));
  }
}

void RangeCopier::drain() { pump(true); }

// Retires pieces whose write completed, hands filled buffers to the writer in order, and
// waits for the oldest write only when nothing else can move. Returns once a slot is free
// (or, until_empty, once nothing is in flight).
void RangeCopier::pump(bool until_empty) {
  for (;;) {
    while (!inflight_.empty() && inflight_.front().writing && is_ready(inflight_.front().write)) {
      retire_front();
    }
    if (!until_empty && !free_.empty()) return;
    if (inflight_.empty()) return;
    auto reading =
        std::find_if(inflight_.begin(), inflight_.end(), [](const Piece& p) { return !p.writing; });
    if (reading != inflight_.end()) {
      hand_off(*reading);
    } else {
      retire_front();
    }
  }
}

void RangeCopier::hand_off(Piece& p) {
  Tensor& t = tensor(p.tensor);
  std::future<void> read = std::move(p.read);
  p.writing = true;
  p.write = ready();
  read.get();  // the reader's error: Io naming the file (e.g. truncated since open)
  if (!writer_crc_ && t.source.check_crc) t.crc = crc32(p.dst, t.crc);
  if (!p.dst.empty()) p.write = writer_.write_block(t.name, p.dst);
  if (p.last) writer_.finalize_tensor(t.name);
}

void RangeCopier::retire_front() {
  Piece p = std::move(inflight_.front());
  inflight_.pop_front();
  if (p.slot != 0) free_.push_back(p.slot - 1);
  p.write.get();
  if (--tensor(p.tensor).pieces_left != 0) {
    on_progress_(p.dst.size(), nullptr);
    return;
  }
  Tensor& t = tensors_.front();
  if (t.source.check_crc) {
    std::uint32_t crc = t.crc;
    if (writer_crc_) {
      const std::optional<std::uint32_t> staged = writer_.tensor_crc32(t.name);
      if (!staged) {
        throw Error(Errc::InvalidState, writer_.path() + ": tensor '" + t.name +
                                            "': the writer has no CRC after staging it");
      }
      crc = *staged;
    }
    t.source.check_crc(crc);
  }
  on_progress_(p.dst.size(), &t.name);
  tensors_.pop_front();
  ++first_tensor_;
}

}  // namespace stsw::cvt
