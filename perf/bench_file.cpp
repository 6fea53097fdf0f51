#include "bench_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "stsw/error.hpp"

namespace stsw::bench {

BenchFile make_bench_file(const std::vector<TensorSpec>& specs) {
  const Metadata md = {{"format", "pt"}};
  Layout layout = plan_layout(specs, LayoutOrder::Canonical, 8, md, false);
  BenchFile f;
  f.official_header = encode_header(layout.tensors, md, EncodeOptions{});
  f.data_size = layout.data_size;
  for (const auto& t : layout.tensors) f.largest = std::max(f.largest, t.nbytes());
  f.tensors = std::move(layout.tensors);
  return f;
}

TensorSource::TensorSource(const BenchFile& file, std::uint64_t pool_limit)
    : buf_(static_cast<std::size_t>(
               std::max<std::uint64_t>({file.largest, std::min(file.data_size, pool_limit), 4096})),
           0x5EEDBEEFULL) {}

std::span<const std::byte> TensorSource::bytes(const TensorMeta& t) const noexcept {
  const std::uint64_t n = t.nbytes();
  const std::uint64_t room = buf_.size() - n + 1;  // valid start offsets: [0, room)
  const std::uint64_t start = (t.offset_begin % room) & ~std::uint64_t{63};
  return {buf_.data() + start, static_cast<std::size_t>(n)};
}

std::uint64_t read_header_length(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw errno_error(errno, "open " + path);
  unsigned char b[8];
  ssize_t n = ::pread(fd, b, 8, 0);
  int err = errno;
  ::close(fd);
  if (n != 8) throw errno_error(n < 0 ? err : EIO, "read the header length of " + path);
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

}  // namespace stsw::bench
