#include "reliability/hostile_run.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "stsw/reader.hpp"
#ifdef STSW_HOSTILE_CLI
#include "cli/cli_runner.hpp"
#include "support/peak_rss.hpp"
#endif
#include "reliability/hostile_outcome.hpp"

namespace stsw::hostile {

namespace fs = std::filesystem;

std::shared_ptr<Engine> engine();

using detail::Outcome;

namespace {

using test::peak_rss;
using test::reset_peak_rss;

void write_all(int fd, const char* p, std::size_t n, std::uint64_t& at) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(at));
    if (w <= 0) throw errno_error(errno, "hostile: write");
    p += w;
    n -= static_cast<std::size_t>(w);
    at += static_cast<std::uint64_t>(w);
  }
}

void write_spec(const fs::path& dir, const FileSpec& f) {
  const fs::path p = dir / f.name;
  fs::create_directories(p.parent_path());
  if (f.kind == FileSpec::Kind::Directory) {
    fs::create_directory(p);
    return;
  }
  if (f.kind == FileSpec::Kind::Fifo) {
    if (::mkfifo(p.c_str(), 0600) != 0) throw errno_error(errno, "mkfifo " + p.string());
    return;
  }
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw errno_error(errno, "open " + p.string());
  std::uint64_t at = 0;
  write_all(fd, f.head.data(), f.head.size(), at);
  if (f.fill == '\0' && f.tail.empty()) {
    at += f.fill_count;  // a hole
    if (::ftruncate(fd, static_cast<off_t>(at)) != 0) throw errno_error(errno, "ftruncate");
  } else {
    const std::string chunk(std::min<std::uint64_t>(f.fill_count, 1 << 20), f.fill);
    for (std::uint64_t left = f.fill_count; left > 0;) {
      const std::size_t n = std::min<std::uint64_t>(left, chunk.size());
      write_all(fd, chunk.data(), n, at);
      left -= n;
    }
  }
  write_all(fd, f.tail.data(), f.tail.size(), at);
  ::close(fd);
}

ReaderOptions reader_options(bool strict, bool allow_partial) {
  ReaderOptions ro;
  ro.engine = engine();
  ro.strict = strict;
  ro.allow_partial = allow_partial;
  return ro;
}

// ASan keeps freed blocks in quarantine (256 MiB by default) and pads allocations, so a
// sanitizer build gets twice the bound plus the quarantine.
std::uint64_t memory_bound(const Case& c) {
#if defined(__SANITIZE_ADDRESS__) || defined(STSW_ASAN)
  return 2 * c.memory_bound + (std::uint64_t{256} << 20);
#else
  return c.memory_bound;
#endif
}

// Opens `path`; when it opens: verify, then read_into of (up to 64) tensors, which must
// agree with verify tensor by tensor.
Outcome open_and_read(const std::string& path, const ReaderOptions& ro, std::uint64_t& tried,
                      std::uint64_t& rejected, Tally& t) {
  Outcome out;
  ++tried;
  std::optional<StreamReader> r;
  try {
    r.emplace(StreamReader::open(path, ro));
  } catch (const Error& e) {
    ++rejected;
    out.error = e;
    return out;
  }
  out.opened = true;
  VerifyReport rep;
  try {
    ++t.verify;
    rep = r->verify().get();
  } catch (const Error& e) {
    ADD_FAILURE() << "verify threw on an open file: " << e.what();
    return out;
  }
  out.passed = rep.passed();
  out.mismatched = rep.mismatched;
  if (!rep.passed()) ++t.verify_mismatch;
  EXPECT_EQ(rep.tensors.size(), r->size());
  for (std::size_t i = 0; i < rep.tensors.size() && i < 64; ++i) {
    const TensorCheck& c = rep.tensors[i];
    if (c.nbytes > (std::uint64_t{64} << 20)) continue;
    std::vector<std::byte> dst(c.nbytes);
    std::optional<Errc> failed;
    ++t.reads;
    try {
      r->read_into(c.name, dst).get();
    } catch (const Error& e) {
      failed = e.code();
    }
    const std::optional<Errc> want = c.status == TensorStatus::Mismatch ? Errc::CrcMismatch
                                     : c.status == TensorStatus::Missing
                                         ? std::optional<Errc>(Errc::Io)
                                         : std::nullopt;
    EXPECT_EQ(failed, want) << "read_into of '" << c.name << "' disagrees with verify ("
                            << to_string(c.status) << ")";
  }
  return out;
}

}  // namespace

std::shared_ptr<Engine> engine() {
  // Small staging pool: io_uring pins registered buffers, and fork() (the CLI runs)
  // copies pinned pages eagerly, so a 64 MiB pool would cost every CLI run ~50 ms.
  static const std::shared_ptr<Engine> e =
      Engine::create({.chunk_size = 1 << 20, .queue_depth = 4, .buffer_count = 4});
  return e;
}

bool cli_available() {
#ifdef STSW_HOSTILE_CLI
  return fs::exists(test::stsw_binary());
#else
  return false;
#endif
}

void run_case(const Case& c, const std::string& root, Tally& t, const RunOptions& o) {
  SCOPED_TRACE(c.family + "/" + c.name);
  const auto t0 = std::chrono::steady_clock::now();
  const fs::path dir = fs::path(root) / c.name;
  fs::create_directories(dir);
  for (const FileSpec& f : c.files) write_spec(dir, f);
  const std::string path = (dir / c.open_name()).string();
  const bool sharded = path.ends_with(".json");
  ++t.files;

  const bool measure = c.memory_bound > 0 && reset_peak_rss();
  if (c.memory_bound > 0 && !measure) ++t.memory_unchecked;  // see Hostile.MemoryBoundsAreMeasured
  const std::uint64_t before = measure ? peak_rss() : 0;
  const Outcome strict =
      open_and_read(path, reader_options(true, false), t.open_strict, t.open_strict_rejected, t);
  // 100 MB cases run strictly only (to keep the suite fast): none of them needs a
  // lenient allowance, so the lenient readings would be the same.
  const Outcome lenient = c.big ? strict
                                : open_and_read(path, reader_options(false, false), t.open_lenient,
                                                t.open_lenient_rejected, t);
  const Outcome partial = c.big ? strict
                                : open_and_read(path, reader_options(false, true), t.open_partial,
                                                t.open_partial_rejected, t);
  if (measure) {
    const std::uint64_t growth = peak_rss() - before;
    t.peak_rss_growth_max = std::max(t.peak_rss_growth_max, growth);
    EXPECT_LE(growth, memory_bound(c)) << "peak RSS grew by " << growth << " bytes";
  }
  if (strict.error) ++t.rejected;

  // Every refusal names the file (a sharded set: its directory) and, for a single file,
  // is a format kind, never an I/O error.
  for (const Outcome* out : {&strict, &lenient, &partial}) {
    if (!out->error) continue;
    EXPECT_NE(out->error->message().find(sharded ? dir.string() : path), std::string::npos)
        << out->error->what();
    if (!sharded) {
      EXPECT_NE(out->error->code(), Errc::Io) << out->error->what();
    }
  }
  if (strict.opened) {
    EXPECT_TRUE(lenient.opened) << "strict opened, lenient refused";
  }
  if (lenient.opened) {
    EXPECT_TRUE(partial.opened) << "lenient opened, partial refused";
  }

  switch (c.expect) {
    case Expect::Exact:
      ASSERT_TRUE(strict.error.has_value()) << "accepted";
      EXPECT_EQ(to_string(strict.error->code()), to_string(*c.code)) << strict.error->what();
      if (c.lenient_code) {
        ASSERT_TRUE(lenient.error.has_value()) << "lenient accepted";
        EXPECT_EQ(to_string(lenient.error->code()), to_string(*c.lenient_code))
            << lenient.error->what();
      }
      break;
    case Expect::AnyError: EXPECT_TRUE(strict.error.has_value()) << "accepted"; break;
    case Expect::ErrorOrOpen: break;
    case Expect::Opens:
      ASSERT_TRUE(strict.opened) << (strict.error ? strict.error->what() : "");
      EXPECT_EQ(strict.mismatched, c.mismatches);
      break;
  }

#ifdef STSW_HOSTILE_CLI
  if (o.cli && c.cli && cli_available())
    detail::run_cli(c, path, dir.string(), strict, lenient, partial, t);
#else
  (void)o;
#endif
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (std::getenv("STSW_HOSTILE_VERBOSE") != nullptr) {
    std::printf("  %s/%s: %.3f s, peak RSS growth %llu KiB\n", c.family.c_str(), c.name.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                static_cast<unsigned long long>(measure ? (peak_rss() - before) >> 10 : 0));
  }
}

Tally& Tally::operator+=(const Tally& o) {
  files += o.files;
  rejected += o.rejected;
  open_strict += o.open_strict;
  open_strict_rejected += o.open_strict_rejected;
  open_lenient += o.open_lenient;
  open_lenient_rejected += o.open_lenient_rejected;
  open_partial += o.open_partial;
  open_partial_rejected += o.open_partial_rejected;
  verify += o.verify;
  verify_mismatch += o.verify_mismatch;
  reads += o.reads;
  cli_inspect += o.cli_inspect;
  cli_inspect_rejected += o.cli_inspect_rejected;
  cli_verify += o.cli_verify;
  cli_verify_rejected += o.cli_verify_rejected;
  cli_crashes += o.cli_crashes;
  peak_rss_growth_max = std::max(peak_rss_growth_max, o.peak_rss_growth_max);
  memory_unchecked += o.memory_unchecked;
  return *this;
}

std::string Tally::report(const std::string& what) const {
  std::ostringstream s;
  s << "hostile" << (what.empty() ? "" : "[" + what + "]") << ": files tried " << files
    << ", rejected " << rejected << ", crashes " << cli_crashes << " (open strict "
    << open_strict_rejected << "/" << open_strict << " rejected, lenient " << open_lenient_rejected
    << "/" << open_lenient << ", partial " << open_partial_rejected << "/" << open_partial
    << "; verify runs " << verify << " (" << verify_mismatch << " not passed); read_into " << reads
    << "; cli inspect " << cli_inspect_rejected << "/" << cli_inspect << " exit 2, cli verify "
    << cli_verify_rejected << "/" << cli_verify << " exit 2; max peak RSS growth "
    << (peak_rss_growth_max >> 20) << " MiB";
  if (memory_unchecked > 0) {
    s << "; memory bounds NOT checked in " << memory_unchecked << " cases (clear_refs refused)";
  }
  s << ")";
  return s.str();
}

}  // namespace stsw::hostile
