// Boost.Asio completion-token forms of stsw's asynchronous operations.
//
//   co_await stsw::async_read(*engine, file, 0, dst, true, asio::use_awaitable);
//   auto fut = stsw::async_read(*engine, file, 0, dst, false, asio::use_future);
//
// Every function takes the same arguments as the callback form it wraps, with the same
// lifetime rules, and completes with void(std::exception_ptr[, result]). See
// stsw/asio_adapt.hpp for the executor contract.
#pragma once

#include <cstdint>
#include <span>
#include <utility>

#include "stsw/asio_adapt.hpp"
#include "stsw/engine.hpp"

namespace stsw {

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

}  // namespace stsw
