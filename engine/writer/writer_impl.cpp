// StreamWriter::Impl: opening, staging and the write pipeline. Closing and aborting live in
// writer_close.cpp.
#include "writer/writer_impl.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "stsw/crc32.hpp"
#include "stsw/error.hpp"
#include "writer/validate.hpp"
#include "writer/write_request.hpp"

namespace stsw {

using writer::kInlineBytes;
using writer::Request;

namespace {

std::uint64_t round_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

StreamWriter::Impl::Impl(const std::string& path, const std::vector<TensorMeta>& metas,
                         const WriterOptions& options)
    : path_(path), options_(options), tensors_(metas) {
  writer::validate_options(options_);
  writer::validate_metas(tensors_, path_);

  if (options_.engine) {
    engine_ = options_.engine;
  } else if (options_.chunk_size != 0 || options_.buffer_count != 0) {
    EngineOptions eo;
    if (options_.chunk_size != 0) eo.chunk_size = options_.chunk_size;
    if (options_.buffer_count != 0) eo.buffer_count = options_.buffer_count;
    engine_ = Engine::create(eo);
  } else {
    engine_ = Engine::shared();
  }
  const EngineOptions& eo = engine_->options();
  chunk_ = options_.chunk_size != 0 ? options_.chunk_size : eo.chunk_size;
  if (chunk_ > eo.chunk_size) {
    throw Error(Errc::InvalidArgument, "writer chunk_size " + std::to_string(chunk_) +
                                           " exceeds the engine's staging buffers (" +
                                           std::to_string(eo.chunk_size) + " bytes)");
  }
  max_buffers_ =
      std::max(1U, options_.buffer_count != 0 ? std::min(options_.buffer_count, eo.buffer_count)
                                              : eo.buffer_count);

  std::vector<std::uint64_t> ends;
  ends.reserve(tensors_.size());
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    tensors_[i].crc32.reset();
    index_.emplace(tensors_[i].name, i);
    ends.push_back(tensors_[i].offset_end);
  }
  crcs_ = writer::CrcAssembler(std::move(ends));

  EncodeOptions enc;
  enc.align = options_.align;
  enc.reserve_crc32 = options_.crc32;
  header_ = encode_header(tensors_, options_.metadata, enc);
  header_size_ = header_.size() - 8;
  if (header_size_ > kMaxHeaderSize) {
    throw Error(Errc::HeaderTooLarge, path_ + ": the header would take " +
                                          std::to_string(header_size_) + " bytes, more than " +
                                          std::to_string(kMaxHeaderSize) + " loaders accept");
  }
  data_offset_ = header_.size();
  file_size_ = data_offset_ + (tensors_.empty() ? 0 : tensors_.back().offset_end);

  target_ = writer::TargetFile::create(path_, options_.io_mode, file_size_);
  const File& file = target_.file();
  io_mode_ = file.mode();
  io_align_ = file.direct() ? std::max<std::uint32_t>(file.alignment(), 1) : 1;
  if (options_.crc32) {
    // The blocks holding the header are rewritten at close; keep their bytes.
    prefix_size_ = round_up(data_offset_, io_align_);
    const std::size_t alloc = round_up(prefix_size_, 4096);
    prefix_ = {static_cast<std::byte*>(std::aligned_alloc(4096, alloc)), std::free};
    if (!prefix_) throw Error(Errc::InvalidArgument, path_ + ": out of memory for the header");
    std::memset(prefix_.get(), 0, alloc);
  }
  start_ = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> call(call_mu_);
  stage_header();
}

StreamWriter::Impl::~Impl() { abort(); }

// ---- caller side -------------------------------------------------------------------------

void StreamWriter::Impl::check_usable(std::string_view what) const {
  std::lock_guard<std::mutex> lock(mu_);
  switch (phase_) {
    case Phase::Open: break;
    case Phase::Closing:
    case Phase::Closed:
      throw Error(Errc::InvalidState, path_ + ": " + std::string(what) + " after close()");
    case Phase::Aborted:
      throw Error(Errc::InvalidState, path_ + ": " + std::string(what) + " after abort()");
    case Phase::Failed: break;
  }
  if (error_) std::rethrow_exception(error_);
}

std::size_t StreamWriter::Impl::resolve(std::string_view name) {
  if (cur_ < tensors_.size() && tensors_[cur_].name == name) return cur_;
  auto it = index_.find(std::string(name));
  if (it == index_.end()) {
    throw Error(Errc::UnknownTensor,
                path_ + ": tensor '" + std::string(name) + "' is not in the writer's plan");
  }
  const std::size_t i = it->second;
  if (i < cur_) {
    throw Error(Errc::TensorOrder, path_ + ": tensor '" + std::string(name) +
                                       "' is already complete; the current tensor is '" +
                                       (cur_ < tensors_.size() ? tensors_[cur_].name : "") + "'");
  }
  // Tensors before `name` must be complete; they are finalized implicitly.
  for (std::size_t j = cur_; j < i; ++j) {
    const std::uint64_t have = j == cur_ ? cur_written_ : 0;
    if (have != tensors_[j].nbytes()) {
      throw Error(Errc::TensorOrder, path_ + ": tensor '" + std::string(name) +
                                         "' written before tensor '" + tensors_[j].name +
                                         "' is complete (" + std::to_string(have) + " of " +
                                         std::to_string(tensors_[j].nbytes()) + " bytes)");
    }
  }
  cur_ = i;
  cur_written_ = 0;
  return i;
}

bool StreamWriter::Impl::all_complete() {
  if (random_) {
    check_gaps();  // throws LengthMismatch naming the first missing byte
    return true;
  }
  while (cur_ < tensors_.size() && cur_written_ == tensors_[cur_].nbytes()) {
    ++cur_;
    cur_written_ = 0;
  }
  return cur_ == tensors_.size();
}

StagingBuffer StreamWriter::Impl::acquire_counted(std::uint64_t offset) {
  try {
    return engine_->acquire_buffer();
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      --held_buffers_;
      cv_.notify_all();
    }
    // The pool's errors (exhausted at its cap, shut down) name no file.
    std::rethrow_exception(wrap_error(std::current_exception(),
                                      "staging buffer for offset " + std::to_string(offset)));
  }
}

void StreamWriter::Impl::stage_header() {
  std::span<const std::byte> src = std::as_bytes(std::span(header_));
  while (!src.empty()) {
    Slot& s = current_slot();
    const std::size_t n = std::min<std::size_t>(src.size(), chunk_ - s.fill);
    std::memcpy(s.buffer.data().data() + s.fill, src.data(), n);
    s.fill += n;
    stream_pos_ += n;
    src = src.subspan(n);
    if (s.fill == chunk_) seal_current();
  }
}

void StreamWriter::Impl::stage_inline(Slot& slot, std::size_t at, std::span<const std::byte> src,
                                      std::uint64_t data_offset, bool copy) {
  std::byte* dst = slot.buffer.data().data() + at;
  if (copy) std::memcpy(dst, src.data(), src.size());
  if (!options_.crc32) return;
  const std::uint32_t crc = stsw::crc32({dst, src.size()});
  std::lock_guard<std::mutex> lock(mu_);
  crcs_.add(data_offset, src.size(), crc);
}

void StreamWriter::Impl::seal_current() {
  SlotPtr s = std::move(slot_);
  if (s) seal(s);
  while (!open_.empty()) seal_random(open_.begin()->first);
}

std::span<std::byte> StreamWriter::Impl::window(std::string_view name, std::size_t max_bytes) {
  for (;;) {
    Finished finished;
    {
      CallLock call(*this);
      check_usable("window");
      check_stream("window");
      if (window_open_) throw Error(Errc::InvalidState, path_ + ": a window is already open");
      if (backlog_.empty()) {
        const std::size_t i = resolve(name);
        const std::uint64_t remaining = tensors_[i].nbytes() - cur_written_;
        if (remaining == 0 || max_bytes == 0) return {};
        Slot& s = current_slot();
        const std::size_t n = std::min<std::uint64_t>(
            {max_bytes, remaining, static_cast<std::uint64_t>(chunk_ - s.fill)});
        window_open_ = true;
        window_size_ = n;
        streamed_ = true;
        return {s.buffer.data().data() + s.fill, n};
      }
      drain_backlog(finished);  // the window continues after the queued bytes
    }
    finish_all(finished);
  }
}

void StreamWriter::Impl::commit_window(std::size_t bytes) {
  CallLock call(*this);
  if (!window_open_) throw Error(Errc::InvalidState, path_ + ": commit_window without a window");
  if (bytes > window_size_) {
    throw Error(Errc::LengthMismatch, path_ + ": commit_window of " + std::to_string(bytes) +
                                          " bytes into a window of " +
                                          std::to_string(window_size_));
  }
  window_open_ = false;
  check_usable("commit_window");
  if (bytes == 0) return;
  Slot& s = *slot_;
  const std::size_t at = s.fill;
  const std::uint64_t data_offset = stream_pos_ - data_offset_;
  s.fill += bytes;
  stream_pos_ += bytes;
  cur_written_ += bytes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bytes_staged_ += bytes;
  }
  const std::span<const std::byte> piece{s.buffer.data().data() + at, bytes};
  if (!options_.crc32 || bytes < kInlineBytes) {
    stage_inline(s, at, piece, data_offset, false);
  } else {
    // The CRC runs on a worker while the caller fills the next window.
    stage_on_worker(slot_, s.buffer.data().data() + at, piece, false, data_offset, nullptr);
  }
  if (s.fill == chunk_) seal_current();
}

void StreamWriter::Impl::finalize_tensor(std::string_view name) {
  CallLock call(*this);
  check_usable("finalize_tensor");
  check_stream("finalize_tensor");
  if (window_open_)
    throw Error(Errc::InvalidState, path_ + ": finalize_tensor while a window is open");
  auto it = index_.find(std::string(name));
  if (it == index_.end()) {
    throw Error(Errc::UnknownTensor,
                path_ + ": tensor '" + std::string(name) + "' is not in the writer's plan");
  }
  if (it->second < cur_) return;
  const std::size_t i = resolve(name);
  if (cur_written_ != tensors_[i].nbytes()) {
    throw Error(Errc::LengthMismatch, path_ + ": tensor '" + tensors_[i].name + "' has " +
                                          std::to_string(cur_written_) + " of its " +
                                          std::to_string(tensors_[i].nbytes()) + " bytes");
  }
  ++cur_;
  cur_written_ = 0;
}

void StreamWriter::Impl::stage_on_worker(const SlotPtr& slot, std::byte* dst,
                                         std::span<const std::byte> src, bool copy,
                                         std::uint64_t data_offset,
                                         const std::shared_ptr<Request>& request) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++slot->pending;
    ++ops_;
  }
  if (request) {
    std::lock_guard<std::mutex> lock(request->mu);
    ++request->pending;
  }
  auto crc = std::make_shared<std::uint32_t>(0);
  const bool want_crc = options_.crc32;
  engine_->post(
      [dst, src, copy, crc, want_crc] {
        if (copy) std::memcpy(dst, src.data(), src.size());
        if (want_crc) *crc = stsw::crc32({dst, src.size()});
      },
      [this, slot, data_offset, n = src.size(), crc, request](std::exception_ptr e) {
        if (e) {
          std::lock_guard<std::mutex> lock(mu_);
          fail(e);
        }
        piece_done(slot, data_offset, n, *crc);  // last touch of `this`
        if (request) request->finish(e);
      });
}

// ---- completions -------------------------------------------------------------------------

void StreamWriter::Impl::fail(std::exception_ptr error) {
  if (!error_) error_ = std::move(error);
  cv_.notify_all();
}

void StreamWriter::Impl::seal(const SlotPtr& slot) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    slot->sealed = true;
    if (slot->pending != 0) return;
    ++ops_;  // keeps the writer alive until submit() handed the slot to the engine
  }
  submit(slot);
  std::unique_lock<std::mutex> lock(mu_);
  if (release_op()) {
    lock.unlock();
    finish();
  }
}

void StreamWriter::Impl::piece_done(const SlotPtr& slot, std::uint64_t data_offset,
                                    std::uint64_t length, std::uint32_t crc) {
  bool go = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (options_.crc32) crcs_.add(data_offset, length, crc);
    go = --slot->pending == 0 && slot->sealed;
  }
  if (go) submit(slot);
  std::unique_lock<std::mutex> lock(mu_);
  if (release_op()) {
    lock.unlock();
    finish();
  }
}

void StreamWriter::Impl::submit(SlotPtr slot) {
  if (slot->partial) {
    submit_runs(std::move(slot));
    return;
  }
  std::size_t logical = slot->fill;
  std::size_t len = logical;
  std::byte* buf = slot->buffer.data().data();
  if (len % io_align_ != 0) {  // the last slot of a direct file: pad, truncate at close
    const std::size_t padded = round_up(len, io_align_);
    std::memset(buf + len, 0, padded - len);
    len = padded;
  }
  keep_prefix(*slot, 0, logical);
  if (!begin_writes(*slot, 1)) return;
  const std::uint64_t offset = slot->base;
  engine_->write(target_.file(), offset, std::move(slot->buffer), len,
                 [this, offset, logical](std::exception_ptr e) {
                   write_done(offset, logical, std::move(e), true);
                 });
}

void StreamWriter::Impl::keep_prefix(const Slot& slot, std::size_t at, std::size_t length) {
  if (!prefix_ || slot.base + at >= prefix_size_) return;
  const std::uint64_t lo = std::max(slot.base + at, data_offset_);
  const std::uint64_t hi = std::min(prefix_size_, slot.base + at + length);
  if (hi > lo)
    std::memcpy(prefix_.get() + lo, slot.buffer.data().data() + (lo - slot.base), hi - lo);
}

bool StreamWriter::Impl::begin_writes(Slot& slot, unsigned writes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (error_ || phase_ == Phase::Aborted) {  // nothing more is written: the buffer goes back
    slot.buffer.reset();
    --held_buffers_;
    cv_.notify_all();
    return false;
  }
  ops_ += writes;
  return true;
}

void StreamWriter::Impl::write_done(std::uint64_t offset, std::size_t length,
                                    std::exception_ptr error, bool buffer_back) {
  std::unique_lock<std::mutex> lock(mu_);
  if (buffer_back) --held_buffers_;
  if (error) {
    fail(wrap_error(error, "write of " + std::to_string(length) + " bytes at offset " +
                               std::to_string(offset)));
  } else {
    const std::uint64_t lo = std::max(offset, data_offset_);
    const std::uint64_t hi = std::min(offset + length, file_size_);
    if (hi > lo) bytes_written_ += hi - lo;
  }
  cv_.notify_all();
  if (buffer_back && backlog_waiting_.load()) {  // the buffer may take queued bytes
    lock.unlock();
    pump(false);  // `this` is held by this write's op until release_op()
    lock.lock();
  }
  if (release_op()) {
    lock.unlock();
    finish();
  }
}

std::exception_ptr StreamWriter::Impl::wrap_error(const std::exception_ptr& error,
                                                  const std::string& what) const {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return std::make_exception_ptr(
        Error(e.code(), path_ + ": " + what + ": " + e.message(), e.sys_errno()));
  } catch (const std::exception& e) {
    return std::make_exception_ptr(Error(Errc::Io, path_ + ": " + what + ": " + e.what()));
  } catch (...) {
    return std::make_exception_ptr(Error(Errc::Io, path_ + ": " + what + ": unknown error"));
  }
}

bool StreamWriter::Impl::release_op() {
  --ops_;
  cv_.notify_all();
  if (ops_ == 0 && phase_ == Phase::Closing && !finishing_) {
    finishing_ = true;
    ++ops_;  // held by the close sequence until it completes
    return true;
  }
  return false;
}

}  // namespace stsw
