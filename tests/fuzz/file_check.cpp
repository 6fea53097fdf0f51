#include "file_check.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "stsw/crc32.hpp"
#include "stsw/engine.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"

namespace stsw::fuzz {

namespace {

using Bytes = std::span<const std::byte>;

// The in-memory scratch file every input is written to, reopened by path.
class Scratch {
 public:
  Scratch() {
    fd_ = ::memfd_create("stsw-fuzz-file", MFD_CLOEXEC);
    if (fd_ < 0) throw errno_error(errno, "memfd_create");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() { ::close(fd_); }

  void fill(Bytes data) {
    if (::ftruncate(fd_, 0) != 0) throw errno_error(errno, "ftruncate " + path_);
    std::size_t done = 0;
    while (done < data.size()) {
      const ssize_t n =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw errno_error(errno, "pwrite " + path_);
      done += static_cast<std::size_t>(n);
    }
  }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

// Small chunks so that a few kilobytes take several requests; the threads backend so
// that every input costs microseconds, not a ring setup.
std::shared_ptr<Engine> engine() {
  static const std::shared_ptr<Engine> e = Engine::create({.backend = BackendKind::Threads,
                                                           .chunk_size = 16 * 1024,
                                                           .queue_depth = 4,
                                                           .buffer_count = 4,
                                                           .worker_threads = 1,
                                                           .io_threads = 2});
  return e;
}

bool format_kind(Errc c) {
  return c <= Errc::MetadataIncompleteBuffer || c == Errc::DuplicateName ||
         c == Errc::InvalidName || c == Errc::IncompleteFile;
}

std::string in_tensor(const std::string& what, const std::string& name) {
  return what + " (tensor '" + name + "')";
}

// What the file says about one tensor: its bytes when they are all in the file.
struct Expected {
  std::optional<Bytes> bytes;  // nullopt: beyond the end (partial files only)
  bool mismatch = false;       // stored crc32 differs from the bytes
};

Expected expected_of(const StreamReader& r, const TensorMeta& m, Bytes file) {
  const std::uint64_t base = r.header().data_offset();
  Expected e;
  if (m.offset_end >= m.offset_begin && base + m.offset_end <= file.size()) {
    e.bytes = file.subspan(base + m.offset_begin, m.offset_end - m.offset_begin);
    e.mismatch = m.crc32.has_value() && *m.crc32 != crc32(*e.bytes);
  }
  return e;
}

std::string check_verify(const StreamReader& r, Bytes file) {
  VerifyReport rep;
  try {
    rep = r.verify().get();
  } catch (const Error& e) {
    return std::string("verify threw: ") + e.what();
  }
  if (rep.tensors.size() != r.size()) return "verify reported a different tensor count";
  if (rep.ok + rep.mismatched + rep.unchecked + rep.missing != r.size()) {
    return "verify's totals do not add up";
  }
  const auto keys = r.keys();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const TensorCheck& c = rep.tensors[i];
    if (c.name != keys[i]) return "verify's order differs from keys()";
    const TensorMeta& m = r.meta(c.name);
    const Expected e = expected_of(r, m, file);
    TensorStatus want = TensorStatus::Missing;
    if (e.bytes) {
      want = !m.crc32 ? TensorStatus::NoChecksum
                      : (e.mismatch ? TensorStatus::Mismatch : TensorStatus::Ok);
      if (c.actual != crc32(*e.bytes)) return in_tensor("verify computed a wrong CRC", c.name);
    }
    if (c.status != want) {
      return in_tensor("verify says " + std::string(to_string(c.status)) + ", expected " +
                           std::string(to_string(want)),
                       c.name);
    }
  }
  return {};
}

std::string check_reads(const StreamReader& r, Bytes file) {
  for (const std::string& name : r.keys()) {
    const TensorMeta& m = r.meta(name);
    const Expected e = expected_of(r, m, file);
    const std::uint64_t nbytes = m.nbytes();
    // A partial file may claim any size for a tensor beyond its end: never allocate it.
    std::vector<std::byte> dst(nbytes <= file.size() + 4096 ? nbytes : 1);
    std::optional<Errc> failed;
    try {
      r.read_into(name, dst).get();
    } catch (const Error& err) {
      failed = err.code();
    }
    if (dst.size() != nbytes) {
      if (failed != Errc::LengthMismatch) return in_tensor("wrong dst size not refused", name);
      continue;
    }
    if (e.bytes && !e.mismatch) {
      if (failed) return in_tensor("read_into failed on a good tensor", name);
      if (!std::equal(dst.begin(), dst.end(), e.bytes->begin(), e.bytes->end())) {
        return in_tensor("read_into delivered other bytes than the file's", name);
      }
    } else if (e.bytes && failed != Errc::CrcMismatch) {
      return in_tensor("read_into did not report the CRC mismatch", name);
    } else if (!e.bytes && nbytes == 0) {
      // A zero-size tensor placed past the end of a partial file: verify calls it
      // missing, a read of nothing may succeed or fail with Io.
      if (failed && failed != Errc::Io) return in_tensor("empty read failed oddly", name);
    } else if (!e.bytes && failed != Errc::Io) {
      return in_tensor("read_into of a tensor beyond the end did not fail with Io", name);
    }

    std::optional<Errc> slice_failed;
    Bytes view;
    try {
      view = r.get_slice(name);
    } catch (const Error& err) {
      slice_failed = err.code();
    }
    if (e.bytes && !e.mismatch) {
      if (slice_failed) return in_tensor("get_slice failed on a good tensor", name);
      if (!std::equal(view.begin(), view.end(), e.bytes->begin(), e.bytes->end())) {
        return in_tensor("get_slice shows other bytes than the file's", name);
      }
    } else if (!slice_failed && !(nbytes == 0 && !e.bytes)) {
      return in_tensor("get_slice handed out a bad or missing tensor", name);
    }
  }
  return {};
}

std::string check_for_each(const StreamReader& r, Bytes file) {
  bool all_good = true;
  for (const std::string& name : r.keys()) {
    const Expected e = expected_of(r, r.meta(name), file);
    all_good = all_good && e.bytes && !e.mismatch;
  }
  std::string problem;
  std::map<std::string, std::vector<std::byte>> got;
  std::optional<Errc> failed;
  try {
    r.for_each([&](const TensorMeta& m, std::uint64_t offset, Bytes piece) {
      std::vector<std::byte>& g = got[m.name];
      if (offset != g.size() && problem.empty()) {
        problem = in_tensor("for_each pieces out of order", m.name);
      }
      g.insert(g.end(), piece.begin(), piece.end());
    });
  } catch (const Error& err) {
    failed = err.code();
  }
  if (!problem.empty()) return problem;
  for (const auto& [name, bytes] : got) {
    const TensorMeta& m = r.meta(name);
    if (bytes.size() > m.nbytes()) return in_tensor("for_each delivered too many bytes", name);
    if (bytes.size() < m.nbytes()) continue;  // cut short by the error
    const Expected e = expected_of(r, m, file);
    if (!e.bytes && m.nbytes() == 0) continue;  // empty, past the end of a partial file
    if (!e.bytes || !std::equal(bytes.begin(), bytes.end(), e.bytes->begin(), e.bytes->end())) {
      return in_tensor("for_each delivered other bytes than the file's", name);
    }
  }
  if (all_good && failed) return "for_each failed on a good file";
  if (!all_good && !failed) return "for_each did not report a bad or missing tensor";
  if (!failed && got.size() != r.size()) return "for_each skipped a tensor";
  return {};
}

std::string check_mode(const std::string& path, Bytes file, ReaderOptions options) {
  options.engine = engine();
  std::optional<StreamReader> r;
  try {
    r.emplace(StreamReader::open(path, options));
  } catch (const Error& e) {
    if (!format_kind(e.code())) return std::string("open threw an unexpected kind: ") + e.what();
    if (e.message().find(path) == std::string::npos) {
      return std::string("open's message does not name the file: ") + e.what();
    }
    return {};
  }
  if (r->header().incomplete && !options.allow_partial) return "opened an incomplete file";
  std::string problem = check_verify(*r, file);
  if (problem.empty()) problem = check_reads(*r, file);
  if (problem.empty()) problem = check_for_each(*r, file);
  return problem;
}

}  // namespace

std::string check_file_input(const std::uint8_t* data, std::size_t size) {
  static Scratch scratch;
  const Bytes file = std::as_bytes(std::span(data, size));
  scratch.fill(file);
  struct Mode {
    const char* name;
    bool strict;
    bool allow_partial;
    ReadMode io_mode;
  };
  const Mode modes[] = {
      {"strict", true, false, ReadMode::Buffered},
      {"lenient", false, false, ReadMode::Mmap},
      {"partial", false, true, ReadMode::Direct},
  };
  for (const Mode& m : modes) {
    ReaderOptions options;
    options.strict = m.strict;
    options.allow_partial = m.allow_partial;
    options.io_mode = m.io_mode;
    std::string problem = check_mode(scratch.path(), file, options);
    if (!problem.empty()) return std::string(m.name) + ": " + problem;
  }
  return {};
}

}  // namespace stsw::fuzz
