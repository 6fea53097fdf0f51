#include "convert/cast.hpp"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <vector>

namespace stsw::cvt {

namespace {

double load(const std::byte* p, DType from) {
  switch (from) {
    case DType::F64: {
      double d;
      std::memcpy(&d, p, 8);
      return d;
    }
    case DType::F32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case DType::F16: {
      _Float16 h;
      std::memcpy(&h, p, 2);
      return static_cast<double>(h);
    }
    default: {  // BF16: the upper half of an F32
      std::uint16_t b;
      std::memcpy(&b, p, 2);
      return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
    }
  }
}

std::uint16_t to_bf16(float f) {
  const auto bits = std::bit_cast<std::uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it a (quiet) NaN
    return static_cast<std::uint16_t>((bits >> 16) | 0x0040u);
  }
  const std::uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(rounded >> 16);
}

void store(double v, std::byte* p, DType to) {
  switch (to) {
    case DType::F32: {
      const auto f = static_cast<float>(v);
      std::memcpy(p, &f, 4);
      return;
    }
    case DType::F16: {
      const auto h = static_cast<_Float16>(v);
      std::memcpy(p, &h, 2);
      return;
    }
    default: {
      const std::uint16_t b = to_bf16(static_cast<float>(v));
      std::memcpy(p, &b, 2);
      return;
    }
  }
}

// Receives `from` bytes in its own buffer and passes them on to `out` as `to` bytes; an
// element split across two commits is carried over.
class CastSink : public ByteSink {
 public:
  CastSink(ByteSink& out, DType from, DType to)
      : out_(out),
        from_(from),
        to_(to),
        in_size_(bit_size(from) / 8),
        out_size_(bit_size(to) / 8),
        in_(kChunk + 8) {}

  std::span<std::byte> window(std::size_t max) override {
    return std::span(in_).subspan(carry_, std::min(max, kChunk));
  }

  void commit(std::size_t n) override {
    const std::size_t have = carry_ + n;
    const std::size_t count = have / in_size_;
    converted_.resize(count * out_size_);
    for (std::size_t i = 0; i < count; ++i) {
      store(load(in_.data() + i * in_size_, from_), converted_.data() + i * out_size_, to_);
    }
    out_.write(converted_);
    carry_ = have - count * in_size_;
    std::memmove(in_.data(), in_.data() + count * in_size_, carry_);
  }

 private:
  static constexpr std::size_t kChunk = std::size_t{1} << 20;
  ByteSink& out_;
  const DType from_;
  const DType to_;
  const std::size_t in_size_;
  const std::size_t out_size_;
  std::vector<std::byte> in_;  // carry_ leftover bytes, then the current window
  std::vector<std::byte> converted_;
  std::size_t carry_ = 0;
};

}  // namespace

bool is_cast_source(DType dtype) noexcept { return dtype == DType::F64 || is_cast_target(dtype); }

bool is_cast_target(DType dtype) noexcept {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16;
}

std::function<void(ByteSink&)> cast_producer(std::function<void(ByteSink&)> inner, DType from,
                                             DType to) {
  return [inner = std::move(inner), from, to](ByteSink& out) {
    CastSink cast(out, from, to);
    inner(cast);
  };
}

}  // namespace stsw::cvt
