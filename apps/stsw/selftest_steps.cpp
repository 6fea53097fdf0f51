#include "selftest_steps.hpp"

#include <sys/mman.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <future>
#include <new>

#include "progress.hpp"
#include "report.hpp"
#include "selftest_env.hpp"
#include "stsw/engine.hpp"
#include "stsw/error.hpp"
#include "stsw/writer.hpp"

namespace stsw::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Write futures kept in flight; the pattern pool never changes, so they need not be
// waited for before the next call, only bounded.
constexpr std::size_t kMaxPendingBlocks = 32;

std::uint64_t total_bytes(const std::vector<TensorMeta>& tensors) {
  std::uint64_t n = 0;
  for (const auto& t : tensors) n += t.nbytes();
  return n;
}

ProgressBar::Source engine_progress(const Engine& engine) {
  const std::uint64_t baseline = engine.stats().bytes_completed;
  return [&engine, baseline] { return engine.stats().bytes_completed - baseline; };
}

std::string mode_name(ReadMode m) { return std::string(to_string(m)); }

// Runs `body`, turning an exception into a failed step.
template <typename Body>
StepResult guarded(std::string name, std::string mode, Body&& body) {
  StepResult r;
  r.name = std::move(name);
  r.mode = std::move(mode);
  try {
    body(r);
  } catch (const std::exception& e) {
    r.ok = false;
    r.detail = error_text(e);
  }
  return r;
}

std::string difference_text(const TensorMeta& t, std::uint64_t offset) {
  return "tensor '" + t.name + "' differs from what was written at byte " + std::to_string(offset);
}

}  // namespace

DestinationPool::DestinationPool(std::size_t count, std::size_t bytes_each) : count_(count) {
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  each_ = (std::max<std::size_t>(bytes_each, 1) + kHuge - 1) / kHuge * kHuge;
  memory_ = AlignedBuffer(each_ * count_, kHuge, /*huge_pages=*/true);
  // Pre-fault: no page fault lands inside a timed read.
  std::memset(memory_.data(), 0, memory_.size());
}

std::span<std::byte> DestinationPool::get(std::size_t i, std::size_t bytes) const noexcept {
  return {memory_.data() + i * each_, bytes};
}

StepResult write_step(SelftestContext& ctx, const std::vector<TensorSpec>& specs) {
  return guarded("write", "auto", [&](StepResult& r) {
    const Layout layout = plan_layout(specs, LayoutOrder::Canonical, 64);
    WriterOptions wo;
    wo.crc32 = true;
    wo.durable = true;
    wo.metadata = Metadata{{"format", "pt"}, {"producer", "stsw selftest"}};
    wo.engine = ctx.engine;
    ProgressBar bar("write", layout.data_size, ctx.progress, engine_progress(*ctx.engine));
    const auto t0 = Clock::now();
    StreamWriter w = StreamWriter::open(ctx.file, layout.tensors, wo);
    std::deque<std::future<void>> pending;
    for (std::size_t i = 0; i < layout.tensors.size(); ++i) {
      const TensorMeta& t = layout.tensors[i];
      for (std::uint64_t off = 0, k = 0; off < t.nbytes(); off += PatternSource::kBlock, ++k) {
        const auto len = std::min<std::uint64_t>(PatternSource::kBlock, t.nbytes() - off);
        pending.push_back(w.write_block(t.name, ctx.pattern->block(i, k, len)));
        while (pending.size() > kMaxPendingBlocks) {
          pending.front().get();
          pending.pop_front();
        }
      }
    }
    for (auto& f : pending) f.get();
    w.close().get();
    r.seconds = seconds_since(t0);
    bar.finish();
    r.bytes = layout.data_size;
    r.effective = std::string(to_string(w.io_mode()));
    ctx.tensors = w.tensors();
    ctx.data_offset = 8 + w.header_size();
    std::size_t with_crc = 0;
    for (const auto& t : ctx.tensors) with_crc += t.crc32.has_value() ? 1 : 0;
    if (with_crc != ctx.tensors.size()) {
      r.detail = std::to_string(ctx.tensors.size() - with_crc) + " tensors got no crc32";
      return;
    }
    r.ok = true;
    r.detail = std::to_string(ctx.tensors.size()) + " tensors, crc32 on, durable";
  });
}

StepResult read_step(const SelftestContext& ctx, ReadMode mode, bool slice) {
  return guarded(slice ? "get_slice" : "read_into", mode_name(mode), [&](StepResult& r) {
    drop_cached_pages(ctx.file);
    ReaderOptions ro;
    ro.strict = true;
    ro.verify_crc = true;
    ro.io_mode = mode;
    ro.engine = ctx.engine;
    const std::uint64_t total = total_bytes(ctx.tensors);
    ProgressBar bar(r.name + " " + r.mode, total, ctx.progress,
                    slice ? ProgressBar::Source{} : engine_progress(*ctx.engine));
    auto t0 = Clock::now();
    const StreamReader reader = StreamReader::open(ctx.file, ro);
    r.seconds += seconds_since(t0);
    if (reader.keys().size() != ctx.tensors.size()) {
      r.detail = "the reader sees " + std::to_string(reader.keys().size()) + " tensors, not " +
                 std::to_string(ctx.tensors.size());
      return;
    }
    r.effective = slice ? "mmap" : mode_name(reader.shards().front().mode);
    const DestinationPool& dst = *ctx.destinations;
    for (std::size_t first = 0; first < ctx.tensors.size(); first += dst.count()) {
      const std::size_t last = std::min(ctx.tensors.size(), first + dst.count());
      std::vector<std::span<const std::byte>> got;
      t0 = Clock::now();
      if (slice) {
        for (std::size_t i = first; i < last; ++i) {
          got.push_back(reader.get_slice(ctx.tensors[i].name));
          bar.add(got.back().size());
        }
      } else {
        std::vector<std::future<void>> futures;
        for (std::size_t i = first; i < last; ++i) {
          const auto d = dst.get(i - first, ctx.tensors[i].nbytes());
          futures.push_back(reader.read_into(ctx.tensors[i].name, d));
          got.push_back(d);
        }
        wait_all(futures);
      }
      r.seconds += seconds_since(t0);
      for (std::size_t i = first; i < last; ++i) {
        if (auto diff = ctx.pattern->first_difference(i, got[i - first])) {
          r.detail = difference_text(ctx.tensors[i], *diff);
          return;
        }
      }
    }
    bar.finish();
    r.bytes = total;
    r.ok = true;
    r.detail = "all bytes match, CRCs checked";
  });
}

StepResult verify_step(const SelftestContext& ctx) {
  return guarded("verify", "auto", [&](StepResult& r) {
    drop_cached_pages(ctx.file);
    ReaderOptions ro;
    ro.strict = true;
    ro.engine = ctx.engine;
    const StreamReader reader = StreamReader::open(ctx.file, ro);
    r.effective = mode_name(reader.shards().front().mode);
    ProgressBar bar("verify", total_bytes(ctx.tensors), ctx.progress, engine_progress(*ctx.engine));
    const VerifyReport rep = reader.verify().get();
    bar.finish();
    r.bytes = rep.bytes;
    r.seconds = rep.seconds;
    const std::size_t n = ctx.tensors.size();
    if (!rep.passed() || rep.ok != n || rep.unchecked != 0 || rep.tensors.size() != n) {
      r.detail = std::to_string(rep.ok) + " of " + std::to_string(n) + " checksums match, " +
                 std::to_string(rep.mismatched) + " mismatched, " + std::to_string(rep.unchecked) +
                 " unchecked";
      return;
    }
    if (!reader.header().strict_valid) {
      r.detail = "the file would be refused by the official loader";
      return;
    }
    r.ok = true;
    r.detail = std::to_string(n) + "/" + std::to_string(n) +
               " checksums match; strictly valid (the official loader accepts it)";
  });
}

StepResult corrupt_step(const SelftestContext& ctx, const std::string& copy_path) {
  return guarded("corrupt", "auto", [&](StepResult& r) {
    // The largest tensor: never zero-sized, and the byte sits mid-chunk.
    std::size_t victim = 0;
    for (std::size_t i = 0; i < ctx.tensors.size(); ++i) {
      if (ctx.tensors[i].nbytes() > ctx.tensors[victim].nbytes()) victim = i;
    }
    const TensorMeta& t = ctx.tensors[victim];
    const std::uint64_t at = t.nbytes() / 2;
    copy_file(ctx.file, copy_path);
    flip_byte(copy_path, ctx.data_offset + t.offset_begin + at);
    ReaderOptions ro;
    ro.engine = ctx.engine;
    const StreamReader reader = StreamReader::open(copy_path, ro);
    r.effective = mode_name(reader.shards().front().mode);
    const VerifyReport rep = reader.verify().get();
    r.bytes = rep.bytes;
    r.seconds = rep.seconds;
    const auto failures = rep.failures();
    if (failures.size() != 1 || failures.front()->name != t.name ||
        failures.front()->status != TensorStatus::Mismatch || rep.ok + 1 != ctx.tensors.size()) {
      r.detail = "verify() reported " + std::to_string(failures.size()) +
                 " problems after flipping one byte of tensor '" + t.name + "'";
      return;
    }
    try {
      reader.read_into(t.name, ctx.destinations->get(0, t.nbytes())).get();
      r.detail = "read_into accepted the corrupted tensor '" + t.name + "'";
      return;
    } catch (const Error& e) {
      if (e.code() != Errc::CrcMismatch) throw;
    }
    r.ok = true;
    r.detail = "flipped byte " + std::to_string(at) + " of tensor '" + t.name +
               "': verify() reports exactly that tensor, read_into refuses it (CrcMismatch)";
  });
}

}  // namespace stsw::cli
