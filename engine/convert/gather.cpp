#include "convert/gather.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <tuple>

#include "stsw/error.hpp"

namespace stsw::cvt {

namespace {

struct Dim {
  std::uint64_t size;
  std::uint64_t stride;
};

[[noreturn]] void overflow(const ByteRange& src) {
  throw Error(Errc::InvalidArgument, src.name + ": tensor view offsets overflow 64 bits");
}

std::uint64_t mul(std::uint64_t a, std::uint64_t b, const ByteRange& src) {
  std::uint64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r)) overflow(src);
  return r;
}

std::uint64_t add(std::uint64_t a, std::uint64_t b, const ByteRange& src) {
  std::uint64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) overflow(src);
  return r;
}

// Output staging: whole elements accumulate in `buf` and leave, swapped, when it is full.
class ChunkOut {
 public:
  ChunkOut(std::size_t cap, unsigned swap, ByteSink& sink) : buf_(cap), swap_(swap), sink_(sink) {}
  std::span<std::byte> room() { return std::span(buf_).subspan(fill_); }
  void advance(std::size_t n) {
    fill_ += n;
    if (fill_ == buf_.size()) flush();
  }
  void put(const std::byte* p, std::size_t n) {
    while (n > 0) {
      const std::size_t c = std::min(n, buf_.size() - fill_);
      std::memcpy(buf_.data() + fill_, p, c);
      p += c;
      n -= c;
      advance(c);
    }
  }
  void flush() {
    if (fill_ == 0) return;
    auto data = std::span(buf_).first(fill_);
    if (swap_ > 1) byte_swap(data, swap_);
    sink_.write(data);
    fill_ = 0;
  }
  std::byte* data() { return buf_.data(); }

 private:
  std::vector<std::byte> buf_;
  std::size_t fill_ = 0;
  unsigned swap_;
  ByteSink& sink_;
};

// Copies n elements of `es` bytes between strided positions (steps in bytes); the common
// element sizes get fixed-size copies the compiler turns into single moves.
template <unsigned ES>
void copy_strided(std::byte* dst, std::size_t dst_step, const std::byte* src, std::size_t src_step,
                  std::uint64_t n) {
  for (std::uint64_t i = 0; i < n; ++i) std::memcpy(dst + i * dst_step, src + i * src_step, ES);
}

void copy_elements(unsigned es, std::byte* dst, std::size_t dst_step, const std::byte* src,
                   std::size_t src_step, std::uint64_t n) {
  switch (es) {
    case 1: copy_strided<1>(dst, dst_step, src, src_step, n); return;
    case 2: copy_strided<2>(dst, dst_step, src, src_step, n); return;
    case 4: copy_strided<4>(dst, dst_step, src, src_step, n); return;
    case 8: copy_strided<8>(dst, dst_step, src, src_step, n); return;
    default:
      for (std::uint64_t i = 0; i < n; ++i) std::memcpy(dst + i * dst_step, src + i * src_step, es);
  }
}

// Advances a row-major odometer over `ext` (skipping dimension `skip`); false at the end.
bool next_index(std::vector<std::uint64_t>& idx, const std::vector<std::uint64_t>& ext,
                std::size_t skip) {
  for (std::size_t j = idx.size(); j-- > 0;) {
    if (j == skip) continue;
    if (++idx[j] < ext[j]) return true;
    idx[j] = 0;
  }
  return false;
}

void copy_contiguous(const ByteRange& src, std::uint64_t begin, std::uint64_t bytes, unsigned swap,
                     ByteSink& sink, std::size_t chunk) {
  if (swap <= 1) {
    std::uint64_t done = 0;
    while (done < bytes) {
      auto w =
          sink.window(static_cast<std::size_t>(std::min<std::uint64_t>(bytes - done, SIZE_MAX)));
      src.read(begin + done, w);
      sink.commit(w.size());
      done += w.size();
    }
    return;
  }
  ChunkOut out(chunk, swap, sink);
  std::uint64_t done = 0;
  while (done < bytes) {
    auto r = out.room();
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(r.size(), bytes - done));
    src.read(begin + done, r.first(n));
    out.advance(n);
    done += n;
  }
  out.flush();
}

// The whole touched span fits the window: one read, then an in-memory gather.
void gather_in_window(const ByteRange& src, const std::vector<Dim>& d, std::uint64_t offset,
                      std::uint64_t first, std::uint64_t last, unsigned es, ChunkOut& out) {
  std::vector<std::byte> win(last - first);
  src.read(first, win);
  const std::size_t n = d.size();
  std::vector<std::uint64_t> ext(n), idx(n, 0);
  for (std::size_t j = 0; j < n; ++j) ext[j] = d[j].size;
  const Dim inner = d[n - 1];
  do {
    std::uint64_t el = offset;
    for (std::size_t j = 0; j + 1 < n; ++j) el += idx[j] * d[j].stride;
    const std::byte* base = win.data() + (el * es - first);
    if (inner.stride == 1) {
      out.put(base, inner.size * es);
    } else {
      // Whole elements, as many as fit the output buffer at a time.
      std::uint64_t t = 0;
      while (t < inner.size) {
        auto room = out.room();
        const std::uint64_t n = std::min<std::uint64_t>(inner.size - t, room.size() / es);
        copy_elements(es, room.data(), es, base + t * inner.stride * es, inner.stride * es, n);
        out.advance(n * es);
        t += n;
      }
    }
  } while (next_index(idx, ext, n - 1));
}

// Large spans: the output is cut into boxes of at most `chunk` bytes; inside a box the
// source is read in runs along the dimension with the smallest stride.
void gather_boxes(const ByteRange& src, const std::vector<Dim>& d, std::uint64_t offset,
                  unsigned es, unsigned swap, ByteSink& sink, const GatherOptions& opt) {
  const std::size_t n = d.size();
  std::vector<std::uint64_t> inner(n, 1);  // elements in one step of dimension j
  for (std::size_t j = n - 1; j-- > 0;) inner[j] = inner[j + 1] * d[j + 1].size;
  // The box is the in-memory window: larger boxes mean longer runs and fewer reads.
  const std::uint64_t chunk_elems =
      std::max<std::uint64_t>(1, std::max(opt.chunk_bytes, opt.window_bytes) / es);
  std::size_t k = 0;
  while (inner[k] > chunk_elems) ++k;
  const std::uint64_t K = std::min<std::uint64_t>(d[k].size, chunk_elems / inner[k]);
  std::vector<std::byte> box(K * inner[k] * es);
  std::vector<std::byte> run;

  std::vector<std::uint64_t> outer(k, 0), outer_ext(k);
  for (std::size_t j = 0; j < k; ++j) outer_ext[j] = d[j].size;
  for (;;) {
    std::uint64_t base = offset;
    for (std::size_t j = 0; j < k; ++j) base += outer[j] * d[j].stride;
    for (std::uint64_t a = 0; a < d[k].size; a += K) {
      const std::uint64_t kb = std::min(K, d[k].size - a);
      // The box: dimension k over [a, a + kb), dimensions after k whole.
      std::vector<std::uint64_t> ext(n, 1);
      ext[k] = kb;
      for (std::size_t j = k + 1; j < n; ++j) ext[j] = d[j].size;
      std::size_t q = k;
      for (std::size_t j = k; j < n; ++j) {
        if (ext[j] > 1 && (ext[q] <= 1 || d[j].stride < d[q].stride)) q = j;
      }
      const std::uint64_t rq = ext[q];
      const std::uint64_t sq = d[q].stride;
      const std::uint64_t run_span = ((rq - 1) * sq + 1) * es;
      const bool span_read = sq == 1 || run_span <= opt.window_bytes;
      if (span_read && !(inner[q] == 1 && sq == 1) && run.size() < run_span) run.resize(run_span);
      // Runs along q; when q is not the innermost dimension, runs of neighbouring columns
      // are read in groups so that each output row gets whole cache lines.
      const std::size_t last = n - 1;
      const bool grouped = span_read && sq == 1 && q != last && ext[last] > 1;
      const std::uint64_t group =
          grouped ? std::clamp<std::uint64_t>(opt.window_bytes / (rq * es), 1, 16) : 1;
      if (grouped && run.size() < group * rq * es) run.resize(group * rq * es);
      std::vector<std::uint64_t> odo = ext;  // the odometer skips q (and `last` if grouped)
      odo[q] = 1;
      if (grouped) odo[last] = 1;
      std::vector<std::uint64_t> idx(n, 0);
      do {
        std::uint64_t el = base + a * d[k].stride;
        std::uint64_t o = 0;
        for (std::size_t j = k; j < n; ++j) {
          el += idx[j] * d[j].stride;
          o += idx[j] * inner[j];
        }
        std::byte* dst = box.data() + o * es;
        if (grouped) {
          for (std::uint64_t c0 = 0; c0 < ext[last]; c0 += group) {
            const std::uint64_t nb = std::min(group, ext[last] - c0);
            for (std::uint64_t b = 0; b < nb; ++b) {
              src.read((el + (c0 + b) * d[last].stride) * es,
                       std::span(run).subspan(b * rq * es, rq * es));
            }
            for (std::uint64_t t = 0; t < rq; ++t) {
              copy_elements(es, dst + (t * inner[q] + c0) * es, es, run.data() + t * es, rq * es,
                            nb);
            }
          }
        } else if (span_read && inner[q] == 1 && sq == 1) {
          src.read(el * es, std::span(dst, rq * es));  // a run that is contiguous in both
        } else if (span_read) {
          src.read(el * es, std::span(run).first(run_span));
          copy_elements(es, dst, inner[q] * es, run.data(), sq * es, rq);
        } else {
          for (std::uint64_t t = 0; t < rq; ++t) {
            src.read((el + t * sq) * es, std::span(dst + t * inner[q] * es, es));
          }
        }
      } while (next_index(idx, odo, SIZE_MAX));
      auto out = std::span(box).first(kb * inner[k] * es);
      if (swap > 1) byte_swap(out, swap);
      sink.write(out);
    }
    if (k == 0 || !next_index(outer, outer_ext, SIZE_MAX)) break;
  }
}

}  // namespace

void ByteSink::write(std::span<const std::byte> data) {
  while (!data.empty()) {
    auto w = window(data.size());
    const std::size_t n = std::min(w.size(), data.size());
    std::memcpy(w.data(), data.data(), n);
    commit(n);
    data = data.subspan(n);
  }
}

std::vector<std::uint64_t> c_strides(const std::vector<std::uint64_t>& shape) {
  std::vector<std::uint64_t> s(shape.size(), 1);
  for (std::size_t j = shape.size(); j-- > 1;)
    s[j - 1] = s[j] * std::max<std::uint64_t>(shape[j], 1);
  return s;
}

std::vector<std::uint64_t> f_strides(const std::vector<std::uint64_t>& shape) {
  std::vector<std::uint64_t> s(shape.size(), 1);
  for (std::size_t j = 1; j < shape.size(); ++j)
    s[j] = s[j - 1] * std::max<std::uint64_t>(shape[j - 1], 1);
  return s;
}

std::pair<std::uint64_t, std::uint64_t> view_extent(const StridedView& v) {
  const ByteRange none{nullptr, 0, 0, "tensor view"};
  std::uint64_t last = v.offset;
  for (std::size_t j = 0; j < v.shape.size(); ++j) {
    if (v.shape[j] == 0) return {0, 0};
    last = add(last, mul(v.shape[j] - 1, v.stride[j], none), none);
  }
  return {mul(v.offset, v.element_size, none), mul(add(last, 1, none), v.element_size, none)};
}

void byte_swap(std::span<std::byte> data, unsigned unit) noexcept {
  auto* p = data.data();
  const std::size_t n = data.size() / unit;
  for (std::size_t i = 0; i < n; ++i, p += unit) std::reverse(p, p + unit);
}

void gather(const ByteRange& src, const StridedView& view, unsigned swap, ByteSink& sink,
            const GatherOptions& opt) {
  const unsigned es = view.element_size;
  if (view.shape.size() != view.stride.size() || es == 0) {
    throw Error(Errc::InvalidArgument, src.name + ": tensor view has " +
                                           std::to_string(view.shape.size()) + " sizes and " +
                                           std::to_string(view.stride.size()) + " strides");
  }
  std::uint64_t first = 0, last = 0;
  try {
    std::tie(first, last) = view_extent(view);
  } catch (const Error&) {
    overflow(src);
  }
  if (last == 0) return;  // no elements
  std::uint64_t bytes = es;
  for (std::uint64_t dim : view.shape) bytes = mul(bytes, dim, src);  // output size fits u64
  if (last > src.size) {
    throw Error(Errc::InvalidArgument, src.name + ": tensor view needs bytes [" +
                                           std::to_string(first) + ", " + std::to_string(last) +
                                           ") but the storage holds " + std::to_string(src.size));
  }
  // Drop size-1 dimensions and merge dimensions that are contiguous with each other.
  std::vector<Dim> d;
  for (std::size_t j = view.shape.size(); j-- > 0;) {
    if (view.shape[j] == 1) continue;
    if (!d.empty() && view.stride[j] == d.back().stride * d.back().size) {
      d.back().size *= view.shape[j];
    } else {
      d.push_back({view.shape[j], view.stride[j]});
    }
  }
  std::reverse(d.begin(), d.end());
  const std::size_t chunk = std::max<std::size_t>(es, opt.chunk_bytes / es * es);
  if (d.empty() || (d.size() == 1 && d[0].stride == 1)) {
    copy_contiguous(src, first, last - first, swap, sink, chunk);
    return;
  }
  if (last - first <= opt.window_bytes) {
    ChunkOut out(chunk, swap, sink);
    gather_in_window(src, d, view.offset, first, last, es, out);
    out.flush();
    return;
  }
  gather_boxes(src, d, view.offset, es, swap, sink, opt);
}

}  // namespace stsw::cvt
