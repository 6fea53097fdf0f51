// StreamWriter::Impl::write_at: tensor bytes at any offset, in any order, from any thread.
//
// Staging. The file is cut into the same aligned chunks [k*C, (k+1)*C) as the in-order
// path; each chunk being filled has an open Slot (open_) whose `runs` record which bytes
// of its buffer hold data. A piece is split at chunk boundaries, its bytes reserved under
// call_mu_ (overlap check against written_, the coverage count of the chunk), then copied
// (inline when small, on a worker otherwise, with its CRC-32). A chunk whose every byte is
// staged is sealed whole and written in one request, exactly like an in-order slot, so a
// file written piece by piece is byte-identical to one written in order.
//
// Memory. At most max_buffers_ buffers are held (open slots plus writes in flight). When a
// piece needs a new slot at that limit, the fullest open slot is evicted: sealed as
// partial, its runs written one by one at their file offsets (the engine sends unaligned
// runs through the buffered descriptor), and its chunk continues in a fresh slot later.
// The caller then waits only for writes in flight, never for other producers.
//
// CRCs. Every piece's CRC goes to the CrcAssembler (crc32_combine in file order), which
// joins them whatever order they arrive in.
#include <algorithm>
#include <cstring>

#include "stsw/error.hpp"
#include "writer/write_request.hpp"
#include "writer/writer_impl.hpp"

namespace stsw {

using writer::kInlineBytes;
using writer::Request;

void StreamWriter::Impl::check_stream(std::string_view what) const {
  if (random_) {
    throw Error(Errc::InvalidState, path_ + ": " + std::string(what) +
                                        " after write_at: a writer stages either in order "
                                        "(write_block, window) or with write_at");
  }
}

void StreamWriter::Impl::enter_random(std::string_view what) {
  if (random_) return;
  if (streamed_ || window_open_) {
    throw Error(Errc::InvalidState, path_ + ": " + std::string(what) +
                                        " after write_block/window: a writer stages either in "
                                        "order or with write_at");
  }
  random_ = true;
  // The partly filled header slot becomes the open slot of its chunk.
  if (slot_) {
    const std::uint64_t k = slot_->base / chunk_;
    slot_->runs.emplace_back(0, slot_->fill);
    chunk_cov_[k] = slot_->fill;
    open_[k] = std::move(slot_);
    if (chunk_cov_[k] == chunk_bytes(k)) seal_random(k);
  }
}

std::uint64_t StreamWriter::Impl::chunk_bytes(std::uint64_t chunk) const noexcept {
  return std::min<std::uint64_t>(chunk_, file_size_ - chunk * chunk_);
}

void StreamWriter::Impl::check_gaps() const {
  // written_ holds merged data-region ranges; walk the tensors in file order.
  auto it = written_.begin();
  for (const TensorMeta& t : tensors_) {
    std::uint64_t at = t.offset_begin;
    while (at < t.offset_end) {
      while (it != written_.end() && it->second <= at) ++it;
      if (it == written_.end() || it->first > at) {
        throw Error(Errc::LengthMismatch,
                    path_ + ": close(): tensor '" + t.name + "' is missing bytes from offset " +
                        std::to_string(at - t.offset_begin) + " (of its " +
                        std::to_string(t.nbytes()) + " bytes; first missing byte at file offset " +
                        std::to_string(data_offset_ + at) + ")");
      }
      at = it->second;
    }
  }
}

void StreamWriter::Impl::seal_random(std::uint64_t chunk) {
  auto it = open_.find(chunk);
  if (it == open_.end()) return;
  SlotPtr sp = std::move(it->second);
  open_.erase(it);
  std::uint64_t held = 0;
  std::size_t end = 0;
  for (const auto& [off, len] : sp->runs) {
    held += len;
    end = std::max(end, off + len);
  }
  const std::uint64_t want = chunk_bytes(chunk);
  sp->partial = held != want;
  sp->fill = sp->partial ? end : static_cast<std::size_t>(want);
  auto cov = chunk_cov_.find(chunk);
  if (cov != chunk_cov_.end() && cov->second == want) chunk_cov_.erase(cov);
  seal(sp);
}

void StreamWriter::Impl::evict_one() {
  auto victim = open_.end();
  std::uint64_t best = 0;
  for (auto it = open_.begin(); it != open_.end(); ++it) {
    std::uint64_t held = 0;
    for (const auto& r : it->second->runs) held += r.second;
    if (victim == open_.end() || held > best) {
      victim = it;
      best = held;
    }
  }
  if (victim != open_.end()) seal_random(victim->first);
}

StreamWriter::Impl::Slot& StreamWriter::Impl::random_slot(std::uint64_t chunk) {
  auto found = open_.find(chunk);
  if (found != open_.end()) return *found->second;
  for (;;) {
    bool evict = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (error_) std::rethrow_exception(error_);
      if (phase_ == Phase::Aborted) throw Error(Errc::Cancelled, path_ + ": writer aborted");
      if (held_buffers_ < max_buffers_) {
        ++held_buffers_;
        break;
      }
      if (open_.empty()) {
        // Every buffer is in flight: its write completes by itself.
        cv_.wait(lock, [&] {
          return held_buffers_ < max_buffers_ || error_ || phase_ == Phase::Aborted;
        });
        continue;
      }
      evict = true;
    }
    if (evict) evict_one();
  }
  auto slot = std::make_shared<Slot>();
  slot->buffer = acquire_counted(chunk * chunk_);
  slot->base = chunk * chunk_;
  Slot& s = *slot;
  open_[chunk] = std::move(slot);
  return s;
}

void StreamWriter::Impl::write_at(std::string_view name, std::uint64_t offset,
                                  std::span<const std::byte> data, DoneCallback done) {
  std::unique_lock<std::mutex> call(call_mu_);
  std::uint64_t begin = 0;  // data-region offsets of the piece
  std::uint64_t end = 0;
  try {
    check_usable("write_at");
    enter_random("write_at");
    auto it = index_.find(std::string(name));
    if (it == index_.end()) {
      throw Error(Errc::UnknownTensor,
                  path_ + ": tensor '" + std::string(name) + "' is not in the writer's plan");
    }
    const TensorMeta& t = tensors_[it->second];
    if (offset > t.nbytes() || data.size() > t.nbytes() - offset) {
      throw Error(Errc::LengthMismatch, path_ + ": tensor '" + t.name + "': write_at of " +
                                            std::to_string(data.size()) + " bytes at offset " +
                                            std::to_string(offset) + " runs past its " +
                                            std::to_string(t.nbytes()) + " bytes");
    }
    begin = t.offset_begin + offset;
    end = begin + data.size();
    if (begin != end) {
      // Overlap check against the merged ranges already written.
      auto next = written_.upper_bound(begin);
      bool overlap = next != written_.end() && next->first < end;
      if (next != written_.begin() && std::prev(next)->second > begin) overlap = true;
      if (overlap) {
        throw Error(Errc::InvalidArgument, path_ + ": tensor '" + t.name +
                                               "': write_at of bytes [" + std::to_string(offset) +
                                               ", " + std::to_string(offset + data.size()) +
                                               ") overlaps bytes already written");
      }
    }
  } catch (...) {
    call.unlock();
    done(std::current_exception());
    return;
  }

  auto request = std::make_shared<Request>(std::move(done));
  std::exception_ptr failure;
  std::uint64_t staged = 0;
  try {
    std::uint64_t pos = begin;
    while (pos < end) {
      const std::uint64_t file_pos = data_offset_ + pos;
      const std::uint64_t k = file_pos / chunk_;
      Slot& s = random_slot(k);
      const SlotPtr sp = open_.at(k);
      const std::size_t at = static_cast<std::size_t>(file_pos - s.base);
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(end - pos, chunk_ - at));
      const std::span<const std::byte> piece = data.subspan(pos - begin, n);
      const std::uint64_t data_off = pos;
      // Record the bytes (merged into written_) before the copy: a failed copy poisons
      // the writer anyway.
      s.runs.emplace_back(at, n);
      {
        auto next = written_.lower_bound(pos);
        std::uint64_t lo = pos;
        std::uint64_t hi = pos + n;
        if (next != written_.begin() && std::prev(next)->second == lo) {
          --next;
          lo = next->first;
          next = written_.erase(next);
        }
        if (next != written_.end() && next->first == hi) {
          hi = next->second;
          written_.erase(next);
        }
        written_[lo] = hi;
      }
      const bool complete = (chunk_cov_[k] += n) == chunk_bytes(k);
      pos += n;
      staged += n;
      if (n < kInlineBytes) {
        stage_inline(s, at, piece, data_off, true);
      } else {
        stage_on_worker(sp, s.buffer.data().data() + at, piece, true, data_off, request);
      }
      if (complete) seal_random(k);
    }
  } catch (...) {
    failure = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    bytes_staged_ += staged;
  }
  call.unlock();
  request->finish(failure);
}

void StreamWriter::Impl::submit_runs(SlotPtr slot) {
  auto& runs = slot->runs;
  std::sort(runs.begin(), runs.end());
  std::vector<std::pair<std::size_t, std::size_t>> merged;
  for (const auto& r : runs) {
    if (!merged.empty() && merged.back().first + merged.back().second == r.first) {
      merged.back().second += r.second;
    } else {
      merged.push_back(r);
    }
  }
  std::byte* buf = slot->buffer.data().data();
  for (const auto& [off, len] : merged) keep_prefix(*slot, off, len);
  if (!begin_writes(*slot, static_cast<unsigned>(merged.size()))) return;
  auto left = std::make_shared<std::atomic<std::size_t>>(merged.size());
  for (const auto& [off, len] : merged) {
    const std::uint64_t offset = slot->base + off;
    engine_->write(target_.file(), offset, std::span<const std::byte>(buf + off, len),
                   [this, slot, left, offset, len = len](std::exception_ptr e) {
                     const bool last = left->fetch_sub(1) == 1;
                     // The pool may hand the buffer to a waiter that calls back: not under mu_.
                     if (last) slot->buffer.reset();
                     write_done(offset, len, std::move(e), last);
                   });
  }
}

}  // namespace stsw
