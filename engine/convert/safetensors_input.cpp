// safetensors files and sharded sets as a SourcePlan: StreamReader parses and validates
// (lenient: Python stsw 1.0 files too). Each tensor comes as a reader range (the driver's
// asynchronous copy, range_copy.hpp) and as a producer (pread through the writer's
// windows, for steps that rewrite the bytes: casts); both check the stored crc32 with one
// check (crc_check below).
#include <fcntl.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <utility>
#include <vector>

#include "convert/source.hpp"
#include "stsw/crc32.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"

namespace stsw::cvt {

namespace {

// Checks the CRC of everything the sink receives against the stored value.
class CrcSink : public ByteSink {
 public:
  explicit CrcSink(ByteSink& inner) : inner_(inner) {}
  std::span<std::byte> window(std::size_t max) override {
    last_ = inner_.window(max);
    return last_;
  }
  void commit(std::size_t n) override {
    crc_ = crc32(last_.first(n), crc_);
    inner_.commit(n);
  }
  [[nodiscard]] std::uint32_t value() const noexcept { return crc_; }

 private:
  ByteSink& inner_;
  std::span<std::byte> last_;
  std::uint32_t crc_ = 0;
};

// Asks the kernel to start reading [offset, offset + len) into the page cache now
// (asynchronous: posix_fadvise(WILLNEED) submits the reads and returns). A hint: errors
// only cost speed.
void prefetch(const InputFile& file, std::uint64_t offset, std::uint64_t len) noexcept {
  if (len == 0) return;
  (void)::posix_fadvise(file.fd(), static_cast<off_t>(offset), static_cast<off_t>(len),
                        POSIX_FADV_WILLNEED);
}

// The stored-CRC check of one tensor: CrcMismatch naming the file and tensor, with the
// xxhash hint for Python stsw files.
std::function<void(std::uint32_t)> crc_check(std::optional<std::uint32_t> expected,
                                             std::string file, std::string name, bool python_stsw) {
  if (!expected) return {};
  return [expected = *expected, file = std::move(file), name = std::move(name),
          python_stsw](std::uint32_t got) {
    if (expected == got) return;
    char buf[64];
    std::snprintf(buf, sizeof buf, " (expected 0x%08x, got 0x%08x)", expected, got);
    throw Error(Errc::CrcMismatch, file + ": tensor '" + name + "'" + buf +
                                       (python_stsw ? "; a Python stsw file written with the "
                                                      "xxhash package installed stores xxh32 "
                                                      "values in crc32"
                                                    : ""));
  };
}

// How much of the next tensor is prefetched while the current one is copied.
constexpr std::uint64_t kPrefetchNext = std::uint64_t{64} << 20;

}  // namespace

SourcePlan open_safetensors(const std::string& path, const SourceOptions& options) {
  ReaderOptions ro;
  ro.strict = false;            // also Python stsw 1.0 files
  ro.verify_crc = false;        // checked here, while copying
  ro.io_mode = ReadMode::Auto;  // read_range: O_DIRECT into congruent buffers when cold
  ro.engine = options.engine;
  auto reader = std::make_shared<StreamReader>(StreamReader::open(path, ro));
  SourcePlan plan;
  plan.format = ConvertFormat::Safetensors;
  if (!reader->metadata().empty()) plan.metadata = reader->metadata();
  std::map<std::string, std::pair<std::shared_ptr<InputFile>, std::uint64_t>> files;
  for (std::size_t i = 0; i < reader->shards().size(); ++i) {
    const ShardInfo info = reader->shards()[i];
    auto f = std::make_shared<InputFile>(InputFile::open(info.path));
    plan.keep_alive.push_back(f);
    files[info.path] = {f, info.data_offset};
  }
  // Reads overlap the writes: each tensor's bytes (and the head of the next tensor's) are
  // prefetched when its copy starts, so the kernel reads while the writer writes. Without
  // it the copy alternated: a cold pread, then the write of the same bytes.
  const std::vector<std::string> names = reader->keys();
  std::vector<ByteRange> ranges;
  for (const std::string& name : names) {
    const TensorMeta& m = reader->meta(name);
    const auto& [file, data_offset] = files.at(reader->file_of(name));
    ranges.push_back(ByteRange{file.get(), data_offset + m.offset_begin, m.nbytes(), file->path()});
  }
  for (std::size_t k = 0; k < names.size(); ++k) {
    const std::string& name = names[k];
    const TensorMeta& m = reader->meta(name);
    const auto& [file, data_offset] = files.at(reader->file_of(name));
    const ByteRange next = k + 1 < ranges.size() ? ranges[k + 1] : ByteRange{};
    bool python_stsw = false;  // the shard holding it was written by Python stsw 1.0
    for (std::size_t i = 0; i < reader->shards().size(); ++i) {
      if (reader->shards()[i].path == file->path()) {
        python_stsw = reader->header(i).version.has_value();
        break;
      }
    }
    SourceTensor t;
    t.name = name;
    t.dtype = m.dtype;
    t.shape = m.shape;
    auto check = crc_check(m.crc32, file->path(), name, python_stsw);
    t.range = ReaderRange{reader, name, data_offset + m.offset_begin, check};
    t.produce = [range =
                     ByteRange{file.get(), data_offset + m.offset_begin, m.nbytes(), file->path()},
                 check, next](ByteSink& sink) {
      prefetch(*range.file, range.offset, range.size);
      if (next.file != nullptr) {
        prefetch(*next.file, next.offset, std::min(next.size, kPrefetchNext));
      }
      CrcSink crc(sink);
      gather(range, StridedView{0, {range.size}, {1}, 1}, 0, crc);
      if (check) check(crc.value());
    };
    plan.tensors.push_back(std::move(t));
  }
  plan.keep_alive.push_back(reader);
  return plan;
}

}  // namespace stsw::cvt
