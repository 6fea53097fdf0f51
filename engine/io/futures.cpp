// The future forms of the Engine operations: thin wrappers over the callback forms. A
// failure (including one thrown by the callback form itself) is stored in the future,
// never thrown from the call.
#include <exception>
#include <memory>
#include <vector>

#include "stsw/engine.hpp"

namespace stsw {

namespace {

template <class T>
struct Promise {
  std::shared_ptr<std::promise<T>> p = std::make_shared<std::promise<T>>();
  std::future<T> future = p->get_future();
};

DoneCallback done_into(const std::shared_ptr<std::promise<void>>& p) {
  return [p](std::exception_ptr err) {
    if (err) {
      p->set_exception(err);
    } else {
      p->set_value();
    }
  };
}

template <class F>
void guarded(const std::shared_ptr<std::promise<void>>& p, F&& call) {
  try {
    call();
  } catch (...) {
    // The callback form threw before it took ownership of the callback.
    try {
      p->set_exception(std::current_exception());
    } catch (const std::future_error&) {
    }
  }
}

}  // namespace

std::future<void> Engine::write(const File& file, std::uint64_t offset,
                                std::span<const std::byte> src) {
  Promise<void> pr;
  guarded(pr.p, [&] { write(file, offset, src, done_into(pr.p)); });
  return std::move(pr.future);
}

std::future<void> Engine::write(const File& file, std::uint64_t offset, StagingBuffer buffer,
                                std::size_t len) {
  Promise<void> pr;
  guarded(pr.p, [&] { write(file, offset, std::move(buffer), len, done_into(pr.p)); });
  return std::move(pr.future);
}

std::future<std::uint32_t> Engine::read(const File& file, std::uint64_t offset,
                                        std::span<std::byte> dst, bool want_crc) {
  Promise<std::uint32_t> pr;
  auto p = pr.p;
  try {
    read(file, offset, dst, want_crc, [p](std::exception_ptr err, std::uint32_t crc) {
      if (err) {
        p->set_exception(err);
      } else {
        p->set_value(crc);
      }
    });
  } catch (...) {
    try {
      p->set_exception(std::current_exception());
    } catch (const std::future_error&) {
    }
  }
  return std::move(pr.future);
}

std::future<void> Engine::scan(const File& file, std::uint64_t offset, std::uint64_t length,
                               ChunkCallback on_chunk) {
  Promise<void> pr;
  guarded(pr.p, [&] { scan(file, offset, length, std::move(on_chunk), done_into(pr.p)); });
  return std::move(pr.future);
}

std::future<void> Engine::sync(const File& file, bool data_only) {
  Promise<void> pr;
  guarded(pr.p, [&] { sync(file, data_only, done_into(pr.p)); });
  return std::move(pr.future);
}

void wait_all(std::vector<std::future<void>>& pending) {
  std::exception_ptr first;
  for (auto& f : pending) {
    try {
      f.get();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  pending.clear();
  if (first) std::rethrow_exception(first);
}

}  // namespace stsw
