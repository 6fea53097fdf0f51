#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>

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
        engine.read(shard->io_file(), shard->abs_begin(index), dst, check,
                    finisher(shard, index, check, std::move(done)));
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
