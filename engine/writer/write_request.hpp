// One staging call of a StreamWriter (write_block, write_at): its callback runs once the
// last of its pieces was copied into staging buffers.
#pragma once

#include <cstddef>
#include <exception>
#include <mutex>

#include "stsw/engine.hpp"

namespace stsw::writer {

// Pieces smaller than this are copied and checksummed on the calling thread: handing them
// to a worker costs more than the copy.
inline constexpr std::size_t kInlineBytes = std::size_t{64} << 10;

struct Request {
  explicit Request(DoneCallback d) : done(std::move(d)) {}
  void finish(const std::exception_ptr& e) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (e && !error) error = e;
      if (--pending != 0) return;
    }
    done(error);
  }
  DoneCallback done;
  std::mutex mu;
  unsigned pending = 1;  // one for the submitting call itself
  std::exception_ptr error;
};

}  // namespace stsw::writer
