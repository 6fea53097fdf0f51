// The raw engine rows: requests of the engine's chunk size, at most its queue depth in
// flight (fio's bs x iodepth), each timed from submission to completion.
#include <fcntl.h>

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <mutex>

#include "measure.hpp"
#include "stsw/error.hpp"
#include "stsw_workloads.hpp"

namespace stsw::bench {
namespace {

// Submits `count` requests, keeping at most `depth` in flight. `submit(i, done)` starts
// request i and must call done(error) exactly once. Waits for all; rethrows the first error.
void run_window(std::uint64_t count, unsigned depth,
                const std::function<void(std::uint64_t, DoneCallback)>& submit) {
  std::mutex mu;
  std::condition_variable cv;
  unsigned in_flight = 0;
  std::exception_ptr first;
  for (std::uint64_t i = 0; i < count; ++i) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < depth; });
      if (first) break;
      ++in_flight;
    }
    const double t0 = now_seconds();
    submit(i, [&, t0](std::exception_ptr err) {
      record_request(now_seconds() - t0);
      std::lock_guard lock(mu);
      if (err && !first) first = err;
      --in_flight;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
  if (first) std::rethrow_exception(first);
}

// The engine's chunk size, or the buffer rounded down to 4096 where that is smaller.
std::size_t request_size(const StswSettings& s, std::size_t buffer) {
  const std::size_t n = std::min(s.engine->options().chunk_size, buffer / 4096 * 4096);
  if (n == 0) throw Error(Errc::InvalidArgument, "buffer smaller than 4096 bytes");
  return n;
}

}  // namespace

std::uint64_t engine_write(const std::string& path, std::uint64_t bytes,
                           std::span<const std::byte> pool, const StswSettings& s,
                           WriteTarget target) {
  const std::uint64_t total = (bytes + 4095) / 4096 * 4096;
  const int flags = target == WriteTarget::NewFile     ? O_RDWR | O_CREAT | O_TRUNC
                    : target == WriteTarget::Overwrite ? O_RDWR | O_CREAT
                                                       : O_RDWR;
  File f = File::open(path, flags, 0644, s.io_mode);
  if (target != WriteTarget::Device) {
    if (int rc = ::posix_fallocate(f.fd(), 0, static_cast<off_t>(total)); rc != 0) {
      throw errno_error(rc, "fallocate " + path);
    }
  }
  const std::size_t chunk = request_size(s, pool.size());
  // Request i writes pool bytes [(i * chunk) mod usable, +chunk): the source repeats.
  const std::uint64_t usable = pool.size() / chunk * chunk;
  mark_first_submit();
  run_window((total + chunk - 1) / chunk, s.engine->options().queue_depth,
             [&](std::uint64_t i, DoneCallback done) {
               const std::uint64_t off = i * chunk;
               const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - off));
               s.engine->write(f, off, pool.subspan(static_cast<std::size_t>(off % usable), n),
                               std::move(done));
             });
  s.engine->sync(f, true).get();
  return total;
}

std::uint64_t engine_read(const std::string& path, std::span<std::byte> dst, const StswSettings& s,
                          std::uint64_t bytes, bool want_crc) {
  File f = File::open(path, O_RDONLY, 0, s.io_mode);
  const std::uint64_t size = bytes != 0 ? bytes : f.size();
  const std::size_t chunk = request_size(s, dst.size());
  // Request i lands at dst[(i * chunk) mod usable]: files larger than dst wrap around it.
  const std::uint64_t usable = dst.size() / chunk * chunk;
  mark_first_submit();
  run_window((size + chunk - 1) / chunk, s.engine->options().queue_depth,
             [&](std::uint64_t i, DoneCallback done) {
               const std::uint64_t off = i * chunk;
               const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, size - off));
               s.engine->read(
                   f, off, dst.subspan(static_cast<std::size_t>(off % usable), n), want_crc,
                   [done = std::move(done)](std::exception_ptr e, std::uint32_t) { done(e); });
             });
  return size;
}

}  // namespace stsw::bench
