// Boost.Asio completion-token forms of stsw's asynchronous operations.
//
//   co_await stsw::async_read(*engine, file, 0, dst, true, asio::use_awaitable);
//   auto fut = stsw::async_read(*engine, file, 0, dst, false, asio::use_future);
//
// Every function takes the same arguments as the callback form it wraps, with the same
// lifetime rules, and completes with void(std::exception_ptr[, result]). See
// stsw/asio_adapt.hpp for the executor contract.
#pragma once

#include "stsw/export.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "stsw/asio_adapt.hpp"
#include "stsw/engine.hpp"
#include "stsw/reader.hpp"
#include "stsw/verify_report.hpp"
#include "stsw/writer.hpp"

namespace STSW_API stsw {

// Engine::read: completes with (error, crc32 of dst or 0).
template <typename CompletionToken>
auto async_read(Engine& engine, const File& file, std::uint64_t offset, std::span<std::byte> dst,
                bool want_crc, CompletionToken&& token) {
  return asio_detail::initiate<std::uint32_t>(
      std::forward<CompletionToken>(token), [&engine, &file, offset, dst, want_crc](auto cb) {
        engine.read(file, offset, dst, want_crc, std::move(cb));
      });
}

// Engine::write of caller memory: completes with (error).
template <typename CompletionToken>
auto async_write(Engine& engine, const File& file, std::uint64_t offset,
                 std::span<const std::byte> src, CompletionToken&& token) {
  return asio_detail::initiate<>(
      std::forward<CompletionToken>(token),
      [&engine, &file, offset, src](auto cb) { engine.write(file, offset, src, std::move(cb)); });
}

// Engine::sync: completes with (error).
template <typename CompletionToken>
auto async_sync(Engine& engine, const File& file, bool data_only, CompletionToken&& token) {
  return asio_detail::initiate<>(
      std::forward<CompletionToken>(token),
      [&engine, &file, data_only](auto cb) { engine.sync(file, data_only, std::move(cb)); });
}

// StreamWriter::write_block: completes with (error) once `data` may be reused.
// Same ordering rules as the future form; `writer` and `data` must outlive the operation.
template <typename CompletionToken>
auto async_write_block(StreamWriter& writer, std::string_view name, std::span<const std::byte> data,
                       CompletionToken&& token) {
  return asio_detail::initiate<>(std::forward<CompletionToken>(token),
                                 [&writer, n = std::string(name), data](auto cb) {
                                   writer.write_block(n, data, std::move(cb));
                                 });
}

// StreamWriter::close: completes with (error) when the file is complete (and durable) at
// its path.
template <typename CompletionToken>
auto async_close(StreamWriter& writer, CompletionToken&& token) {
  return asio_detail::initiate<>(std::forward<CompletionToken>(token),
                                 [&writer](auto cb) { writer.close(std::move(cb)); });
}

// StreamReader::read_into: completes with (error) once `dst` holds the verified tensor.
template <typename CompletionToken>
auto async_read_into(const StreamReader& reader, std::string_view name, std::span<std::byte> dst,
                     CompletionToken&& token) {
  return asio_detail::initiate<>(
      std::forward<CompletionToken>(token),
      [&reader, n = std::string(name), dst](auto cb) { reader.read_into(n, dst, std::move(cb)); });
}

// StreamReader::verify: completes with (error, report).
template <typename CompletionToken>
auto async_verify(const StreamReader& reader, CompletionToken&& token) {
  return asio_detail::initiate<VerifyReport>(std::forward<CompletionToken>(token),
                                             [&reader](auto cb) { reader.verify(std::move(cb)); });
}

}  // namespace stsw
