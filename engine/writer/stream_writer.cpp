// StreamWriter's public surface: future forms, state checks and statistics.
#include <sys/resource.h>

#include "stsw/error.hpp"
#include "writer/writer_impl.hpp"

namespace stsw {

namespace {

std::pair<DoneCallback, std::future<void>> promise_callback() {
  auto promise = std::make_shared<std::promise<void>>();
  std::future<void> future = promise->get_future();
  DoneCallback cb = [promise](std::exception_ptr e) {
    if (e) {
      promise->set_exception(std::move(e));
    } else {
      promise->set_value();
    }
  };
  return {std::move(cb), std::move(future)};
}

[[noreturn]] void moved_from() {
  throw Error(Errc::InvalidState, "StreamWriter used after it was moved from");
}

std::uint64_t process_peak_rss() noexcept {
  struct rusage ru {};
  if (::getrusage(RUSAGE_SELF, &ru) != 0) return 0;
  return static_cast<std::uint64_t>(ru.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace

StreamWriter StreamWriter::open(const std::string& path, const std::vector<TensorMeta>& metas,
                                const WriterOptions& options) {
  return StreamWriter(std::make_unique<Impl>(path, metas, options));
}

StreamWriter::StreamWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
StreamWriter::StreamWriter(StreamWriter&&) noexcept = default;
StreamWriter& StreamWriter::operator=(StreamWriter&& other) noexcept {
  if (this != &other) {
    Impl::release(std::move(impl_));  // aborts the writer we replace, or lets its close finish
    impl_ = std::move(other.impl_);
  }
  return *this;
}
StreamWriter::~StreamWriter() { Impl::release(std::move(impl_)); }

std::future<void> StreamWriter::write_block(std::string_view name,
                                            std::span<const std::byte> data) {
  auto [cb, future] = promise_callback();
  write_block(name, data, std::move(cb));
  return std::move(future);
}

void StreamWriter::write_block(std::string_view name, std::span<const std::byte> data,
                               DoneCallback done) {
  if (!impl_) {
    done(std::make_exception_ptr(
        Error(Errc::InvalidState, "StreamWriter used after it was moved from")));
    return;
  }
  impl_->write_block(name, data, std::move(done));
}

std::future<void> StreamWriter::write_at(std::string_view name, std::uint64_t offset,
                                         std::span<const std::byte> data) {
  auto [cb, future] = promise_callback();
  write_at(name, offset, data, std::move(cb));
  return std::move(future);
}

void StreamWriter::write_at(std::string_view name, std::uint64_t offset,
                            std::span<const std::byte> data, DoneCallback done) {
  if (!impl_) {
    done(std::make_exception_ptr(
        Error(Errc::InvalidState, "StreamWriter used after it was moved from")));
    return;
  }
  impl_->write_at(name, offset, data, std::move(done));
}

std::span<std::byte> StreamWriter::window(std::string_view name, std::size_t max_bytes) {
  if (!impl_) moved_from();
  return impl_->window(name, max_bytes);
}

void StreamWriter::commit_window(std::size_t bytes) {
  if (!impl_) moved_from();
  impl_->commit_window(bytes);
}

void StreamWriter::finalize_tensor(std::string_view name) {
  if (!impl_) moved_from();
  impl_->finalize_tensor(name);
}

std::future<void> StreamWriter::close() {
  auto [cb, future] = promise_callback();
  close(std::move(cb));
  return std::move(future);
}

void StreamWriter::close(DoneCallback done) {
  if (!impl_) {
    done(std::make_exception_ptr(
        Error(Errc::InvalidState, "StreamWriter used after it was moved from")));
    return;
  }
  impl_->close(std::move(done));
}

void StreamWriter::abort() noexcept {
  if (impl_) impl_->abort();
}

WriterStats StreamWriter::stats() const {
  if (!impl_) moved_from();
  return impl_->stats();
}

const std::string& StreamWriter::path() const noexcept {
  static const std::string empty;
  return impl_ ? impl_->path() : empty;
}

std::vector<TensorMeta> StreamWriter::tensors() const {
  if (!impl_) moved_from();
  return impl_->tensors();
}

std::optional<std::uint32_t> StreamWriter::tensor_crc32(std::string_view name) const {
  if (!impl_) moved_from();
  return impl_->tensor_crc32(name);
}

std::uint64_t StreamWriter::header_size() const noexcept {
  return impl_ ? impl_->header_size() : 0;
}

IoMode StreamWriter::io_mode() const noexcept {
  return impl_ ? impl_->io_mode() : IoMode::Buffered;
}

WriterStats StreamWriter::Impl::stats() const {
  WriterStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s.bytes_staged = bytes_staged_;
    s.bytes_written = bytes_written_;
  }
  s.bytes_total = file_size_ - data_offset_;
  s.elapsed_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (s.elapsed_seconds > 0)
    s.mb_per_s = static_cast<double>(s.bytes_written) / 1e6 / s.elapsed_seconds;
  if (s.bytes_written > 0 && s.elapsed_seconds > 0) {
    const double rate = static_cast<double>(s.bytes_written) / s.elapsed_seconds;
    s.eta_seconds = static_cast<double>(s.bytes_total - s.bytes_written) / rate;
  }
  s.peak_rss_bytes = process_peak_rss();
  return s;
}

std::optional<std::uint32_t> StreamWriter::Impl::tensor_crc32(std::string_view name) const {
  const auto it = index_.find(std::string(name));
  if (it == index_.end()) {
    throw Error(Errc::UnknownTensor,
                path_ + ": tensor '" + std::string(name) + "' is not in the writer's plan");
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!options_.crc32 || crcs_.assembled() < tensors_[it->second].offset_end) return std::nullopt;
  return crcs_.crc(it->second);
}

std::vector<TensorMeta> StreamWriter::Impl::tensors() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tensors_;
}

}  // namespace stsw
