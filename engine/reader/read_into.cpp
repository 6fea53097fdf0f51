#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

#include "io/plan.hpp"
#include "reader/read_ops.hpp"
#include "stsw/crc32.hpp"

namespace stsw::detail {

namespace {

constexpr std::size_t kMmapStep = std::size_t{8} << 20;

// Turns (error, crc) into the caller's outcome: the engine's error annotated with the
// tensor, or a CrcMismatch, or success.
CrcCallback finisher(std::shared_ptr<const Shard> shard, std::size_t index, bool check,
                     DoneCallback done) {
  return [shard = std::move(shard), index, check, done = std::move(done)](std::exception_ptr err,
                                                                          std::uint32_t crc) {
    const TensorMeta& m = shard->header.tensors[index];
    if (err) {
      done(annotate(err, m.name));
      return;
    }
    if (check && crc != *m.crc32) {
      done(std::make_exception_ptr(crc_mismatch(*shard, m.name, *m.crc32, crc)));
      return;
    }
    done(nullptr);
  };
}

// Copies tensor bytes [offset, offset + dst.size()) out of the mapping on a worker and,
// with `check` (whole tensors only), compares the CRC.
void read_mmap(Engine& engine, std::shared_ptr<const Shard> shard, std::size_t index,
               std::uint64_t offset, std::span<std::byte> dst, bool check, DoneCallback done) {
  auto task = [shard, index, offset, dst, check] {
    const TensorMeta& m = shard->header.tensors[index];
    const std::uint64_t begin = shard->abs_begin(index) + offset;
    const Mapping& map = shard->mapping();
    if (begin + dst.size() > map.size()) {
      throw Error(Errc::Io,
                  shard->path + ": tensor '" + m.name + "' lies beyond the end of the file");
    }
    const auto src = map.bytes().subspan(static_cast<std::size_t>(begin), dst.size());
    Crc32 crc;
    for (std::size_t done_bytes = 0; done_bytes < dst.size();) {
      const std::size_t n = std::min(kMmapStep, dst.size() - done_bytes);
      const auto out = dst.subspan(done_bytes, n);
      const std::size_t got =
          safe_copy(out, src.subspan(done_bytes, n), shard->bfile.fd(), begin + done_bytes);
      if (got != n) {
        throw Error(Errc::Io, shard->path + ": tensor '" + m.name + "': bytes at offset " +
                                  std::to_string(begin + done_bytes + got) +
                                  " are no longer in the file (truncated after open?)");
      }
      if (check) crc.update(out);
      done_bytes += n;
    }
    if (check && crc.value() != *m.crc32) throw crc_mismatch(*shard, m.name, *m.crc32, crc.value());
  };
  engine.post(std::move(task), std::move(done));
}

// The two halves of a read_into served partly by a read-ahead window: the head (from the
// window, or read again when the window failed) and the rest (an engine read). The
// outcome goes to `fin` once both are over, with the CRCs joined.
struct Join {
  Join(int parts, std::uint64_t rest_len, CrcCallback fin)
      : left(parts), rest_len(rest_len), fin(std::move(fin)) {}

  void arrive(bool head, std::exception_ptr err, std::uint32_t crc) {
    {
      std::lock_guard lock(mu);
      if (err && !error) error = std::move(err);
      (head ? head_crc : rest_crc) = crc;
    }
    if (left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (error) {
      fin(error, 0);
    } else {
      fin(nullptr, rest_len == 0 ? head_crc : crc32_combine(head_crc, rest_crc, rest_len));
    }
  }

  std::atomic<int> left;
  const std::uint64_t rest_len;
  CrcCallback fin;
  std::mutex mu;
  std::exception_ptr error;
  std::uint32_t head_crc = 0;
  std::uint32_t rest_crc = 0;
};

// A read_into that O_DIRECT can only serve with a copy (dst not congruent to the file
// offset: the engine stages or shifts it): offered to the shard's read-ahead
// (read_ahead.hpp). Returns false when
// read-ahead is off for it (the caller reads it as usual); `fin` is then untouched.
bool read_with_window(Engine& engine, const std::shared_ptr<const Shard>& shard, std::size_t index,
                      std::span<std::byte> dst, bool check, CrcCallback& fin) {
  const File& file = shard->io_file();
  const std::uint64_t begin = shard->abs_begin(index);
  // The engine's own choice (io/plan.hpp) decides whether this read is copied into place.
  if (!shard->read_ahead_on ||
      !Planner(file, begin, dst.size(), dst.data(), false, true, engine.options().chunk_size)
           .copies()) {
    return false;
  }
  const std::uint64_t end = begin + dst.size();
  std::shared_ptr<ReadWindow> w;
  try {
    w = shard->read_ahead.on_read(engine.options().chunk_size, shard->bfile.fd(), begin, end);
  } catch (...) {
    return false;  // read-ahead is an optimisation: the plain read still runs
  }
  // On success, before the caller hears of it: perhaps start the next window.
  fin = [&engine, shard, end, fin = std::move(fin)](std::exception_ptr err, std::uint32_t crc) {
    if (!err) {
      try {
        shard->read_ahead.on_done(engine, shard->io_file(), shard, shard->bfile.fd(), end,
                                  shard->data_end);
      } catch (...) {
        // No read-ahead this time.
      }
    }
    fin(std::move(err), crc);
  };
  if (!w) {
    engine.read(file, begin, dst, check, std::move(fin));
    return true;
  }
  const std::uint64_t head = std::min(end, w->end()) - begin;
  const std::uint64_t rest = dst.size() - head;
  auto join = std::make_shared<Join>(rest == 0 ? 1 : 2, rest, std::move(fin));
  w->when_ready([&engine, shard, w, dst, begin, head, check, join](const std::exception_ptr& err) {
    const auto out = dst.first(static_cast<std::size_t>(head));
    if (err) {
      // The read-ahead failed: read the bytes again; a lasting fault fails this call.
      engine.read(shard->io_file(), begin, out, check,
                  [join](std::exception_ptr e, std::uint32_t crc) {
                    join->arrive(true, std::move(e), crc);
                  });
      return;
    }
    // Copy and CRC on a worker (never on the thread completing the window's read).
    auto crc = std::make_shared<std::uint32_t>(0);
    engine.post(
        [w, out, begin, check, crc] {
          std::memcpy(out.data(), w->bytes().data() + (begin - w->begin()), out.size());
          if (check) *crc = crc32(std::span<const std::byte>(out));
        },
        [join, crc](std::exception_ptr e) { join->arrive(true, std::move(e), *crc); });
  });
  if (rest != 0) {
    engine.read(file, begin + head, dst.subspan(static_cast<std::size_t>(head)), check,
                [join](std::exception_ptr e, std::uint32_t crc) {
                  join->arrive(false, std::move(e), crc);
                });
  }
  return true;
}

}  // namespace

void post_error(Engine& engine, std::exception_ptr error, DoneCallback done) {
  engine.post([error] { std::rethrow_exception(error); }, std::move(done));
}

std::exception_ptr annotate(std::exception_ptr error, std::string_view tensor) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return std::make_exception_ptr(
        Error(e.code(), e.message() + " (tensor '" + std::string(tensor) + "')", e.sys_errno()));
  } catch (...) {
    return error;
  }
}

void start_read(Engine& engine, std::shared_ptr<const Shard> shard, std::size_t index,
                std::span<std::byte> dst, bool check_crc, DoneCallback done) {
  const TensorMeta& m = shard->header.tensors[index];
  const bool check = check_crc && m.crc32.has_value();
  try {
    if (dst.empty()) {
      engine.post(
          [shard, index, check] {
            const TensorMeta& t = shard->header.tensors[index];
            if (check && *t.crc32 != 0) throw crc_mismatch(*shard, t.name, *t.crc32, 0);
          },
          std::move(done));
      return;
    }
    switch (shard->mode) {
      case ReadMode::Mmap:
        read_mmap(engine, std::move(shard), index, 0, dst, check, std::move(done));
        return;
      case ReadMode::Auto:
      case ReadMode::Direct:
      case ReadMode::Buffered:
        // The engine picks the transfer shape for a direct file: O_DIRECT straight into
        // dst when dst is congruent to the file offset (the unaligned head and tail via
        // the buffered twin), else aligned O_DIRECT windows into staging buffers that a
        // worker copies out of; CRCs are computed on workers as chunks land.
        {
          CrcCallback fin = finisher(shard, index, check, std::move(done));
          if (read_with_window(engine, shard, index, dst, check, fin)) return;
          engine.read(shard->io_file(), shard->abs_begin(index), dst, check, std::move(fin));
        }
        return;
    }
  } catch (...) {
    // Submission itself failed (e.g. the engine refused the request synchronously).
    if (done) done(std::current_exception());
  }
}

}  // namespace stsw::detail

namespace stsw::detail {

void start_partial_read(Engine& engine, std::shared_ptr<const Shard> shard, std::size_t index,
                        std::uint64_t offset, std::span<std::byte> dst, DoneCallback done) {
  try {
    if (shard->mode == ReadMode::Mmap) {
      read_mmap(engine, std::move(shard), index, offset, dst, false, std::move(done));
      return;
    }
    const std::uint64_t at = shard->abs_begin(index) + offset;
    engine.read(shard->io_file(), at, dst, false,
                [shard, index, done = std::move(done)](std::exception_ptr err, std::uint32_t) {
                  done(err ? annotate(err, shard->header.tensors[index].name) : nullptr);
                });
  } catch (...) {
    if (done) done(std::current_exception());
  }
}

}  // namespace stsw::detail
