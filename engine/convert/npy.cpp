#include "convert/npy.hpp"

#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <tuple>

#include "stsw/error.hpp"
#include "stsw/tensor_meta.hpp"

namespace stsw::cvt {

namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
constexpr int kMaxDepth = 16;

[[noreturn]] void bad(const std::string& source, const std::string& why) {
  throw Error(Errc::InvalidArgument, source + ": malformed .npy header: " + why);
}

// A value of the Python literal subset used by .npy headers.
struct Lit {
  enum class T { Str, Int, Bool, None, Tuple, List, Dict } t = T::None;
  std::string s;
  std::uint64_t i = 0;
  bool neg = false;
  bool b = false;
  std::vector<Lit> items;                            // Tuple, List
  std::vector<std::pair<std::string, Lit>> entries;  // Dict (string keys only)
};

class LitParser {
 public:
  LitParser(std::string_view text, const std::string& source) : t_(text), src_(source) {}

  Lit parse_top() {
    Lit v = value(0);
    ws();
    if (p_ != t_.size()) bad(src_, "unexpected text after the dict at byte " + std::to_string(p_));
    return v;
  }

 private:
  void ws() {
    while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\t' || t_[p_] == '\n' || t_[p_] == '\r'))
      ++p_;
  }
  bool eat(char c) {
    ws();
    if (p_ < t_.size() && t_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) bad(src_, std::string("expected '") + c + "' at byte " + std::to_string(p_));
  }
  bool word(std::string_view w) {
    ws();
    if (t_.substr(p_, w.size()) == w) {
      p_ += w.size();
      return true;
    }
    return false;
  }
  Lit value(int depth) {
    if (depth > kMaxDepth) bad(src_, "nested too deeply");
    ws();
    if (p_ >= t_.size()) bad(src_, "unexpected end");
    const char c = t_[p_];
    Lit v;
    if (c == '\'' || c == '"') {
      v.t = Lit::T::Str;
      ++p_;
      while (p_ < t_.size() && t_[p_] != c) {
        if (t_[p_] == '\\') {
          ++p_;
          if (p_ >= t_.size()) break;
        }
        v.s += t_[p_++];
      }
      if (p_ >= t_.size()) bad(src_, "unterminated string");
      ++p_;
    } else if (c == '{') {
      v.t = Lit::T::Dict;
      ++p_;
      while (!eat('}')) {
        Lit k = value(depth + 1);
        if (k.t != Lit::T::Str) bad(src_, "dict key is not a string");
        expect(':');
        v.entries.emplace_back(k.s, value(depth + 1));
        if (!eat(',')) {
          expect('}');
          break;
        }
      }
    } else if (c == '(' || c == '[') {
      const char close = c == '(' ? ')' : ']';
      v.t = c == '(' ? Lit::T::Tuple : Lit::T::List;
      ++p_;
      while (!eat(close)) {
        v.items.push_back(value(depth + 1));
        if (!eat(',')) {
          expect(close);
          break;
        }
      }
    } else if (word("True")) {
      v.t = Lit::T::Bool;
      v.b = true;
    } else if (word("False")) {
      v.t = Lit::T::Bool;
    } else if (word("None")) {
      v.t = Lit::T::None;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.t = Lit::T::Int;
      if (c == '-') {
        v.neg = true;
        ++p_;
      }
      const std::size_t start = p_;
      while (p_ < t_.size() && t_[p_] >= '0' && t_[p_] <= '9') {
        const std::uint64_t d = static_cast<std::uint64_t>(t_[p_] - '0');
        if (v.i > (UINT64_MAX - d) / 10) bad(src_, "integer overflows 64 bits");
        v.i = v.i * 10 + d;
        ++p_;
      }
      if (p_ == start) bad(src_, "a lone '-'");
      if (p_ < t_.size() && (t_[p_] == 'L' || t_[p_] == 'l')) ++p_;  // Python 2 longs
    } else {
      bad(src_, std::string("unexpected character '") + c + "' at byte " + std::to_string(p_));
    }
    return v;
  }

  std::string_view t_;
  const std::string& src_;
  std::size_t p_ = 0;
};

}  // namespace

std::pair<DType, unsigned> npy_descr_dtype(std::string_view descr, const std::string& source) {
  auto refuse = [&](const std::string& why) -> std::pair<DType, unsigned> {
    throw Error(Errc::Unsupported, source + ": numpy dtype '" + std::string(descr) + "' " + why);
  };
  if (descr.size() < 2) bad(source, "descr '" + std::string(descr) + "' is too short");
  const char order = descr[0];
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    bad(source, "descr '" + std::string(descr) + "' has no byte-order character");
  }
  const char kind = descr[1];
  const std::string_view size = descr.substr(2);
  std::optional<DType> d;
  switch (kind) {
    case 'b':
    case '?':
      if (size == "1") d = DType::BOOL;
      break;
    case 'i':
      if (size == "1") d = DType::I8;
      if (size == "2") d = DType::I16;
      if (size == "4") d = DType::I32;
      if (size == "8") d = DType::I64;
      break;
    case 'u':
      if (size == "1") d = DType::U8;
      if (size == "2") d = DType::U16;
      if (size == "4") d = DType::U32;
      if (size == "8") d = DType::U64;
      break;
    case 'f':
      if (size == "2") d = DType::F16;
      if (size == "4") d = DType::F32;
      if (size == "8") d = DType::F64;
      if (!d) return refuse("(extended precision float) has no safetensors dtype");
      break;
    case 'c':
      if (size == "8") d = DType::C64;
      if (!d) return refuse("(complex wider than 64 bits) has no safetensors dtype");
      break;
    case 'O': return refuse("is an object array: refused, its pickled data is never read");
    case 'S':
    case 'a':
    case 'U': return refuse("is a string array, which safetensors cannot hold");
    case 'V': return refuse("is a void/raw-bytes dtype, which safetensors cannot hold");
    case 'M':
    case 'm': return refuse("is a datetime/timedelta array, which safetensors cannot hold");
    default: break;
  }
  if (!d) return refuse("is not a dtype safetensors can hold");
  const unsigned esize = bit_size(*d) / 8;
  unsigned swap = 0;
  if (order == '>' && esize > 1) swap = *d == DType::C64 ? 4 : esize;
  return {*d, swap};
}

NpyHeader parse_npy_dict(std::string_view text, const std::string& source) {
  const Lit top = LitParser(text, source).parse_top();
  if (top.t != Lit::T::Dict) bad(source, "the header is not a dict");
  const Lit* descr = nullptr;
  const Lit* fortran = nullptr;
  const Lit* shape = nullptr;
  for (const auto& [k, v] : top.entries) {
    if (k == "descr")
      descr = &v;
    else if (k == "fortran_order")
      fortran = &v;
    else if (k == "shape")
      shape = &v;
    else
      bad(source, "unknown key '" + k + "'");
  }
  if (!descr || !fortran || !shape) bad(source, "needs 'descr', 'fortran_order' and 'shape'");
  if (descr->t == Lit::T::List) {
    throw Error(Errc::Unsupported, source +
                                       ": structured numpy dtype (record array) is refused: "
                                       "safetensors holds plain numeric arrays only");
  }
  if (descr->t != Lit::T::Str) bad(source, "'descr' is not a string");
  if (fortran->t != Lit::T::Bool) bad(source, "'fortran_order' is not True or False");
  if (shape->t != Lit::T::Tuple) bad(source, "'shape' is not a tuple");
  NpyHeader h;
  h.descr = descr->s;
  std::tie(h.dtype, h.swap_unit) = npy_descr_dtype(h.descr, source);
  h.fortran_order = fortran->b;
  for (const Lit& d : shape->items) {
    if (d.t != Lit::T::Int || d.neg) bad(source, "'shape' holds a non-integer or negative value");
    h.shape.push_back(d.i);
  }
  const auto bytes = byte_size(h.dtype, h.shape);
  if (!bytes) {
    throw Error(Errc::InvalidArgument, source + ": shape of the .npy array overflows 64 bits");
  }
  h.data_size = *bytes;
  return h;
}

NpyHeader read_npy_header(const std::function<void(std::span<std::byte>)>& read,
                          const std::string& source) {
  std::array<std::byte, 10> pre{};
  read(pre);
  if (std::memcmp(pre.data(), kMagic.data(), kMagic.size()) != 0) {
    bad(source, "missing the \\x93NUMPY magic");
  }
  const auto major = std::to_integer<unsigned>(pre[6]);
  const auto minor = std::to_integer<unsigned>(pre[7]);
  std::uint64_t len = std::to_integer<unsigned>(pre[8]) | (std::to_integer<unsigned>(pre[9]) << 8);
  std::uint64_t offset = 10;
  if (major == 2 || major == 3) {
    std::array<std::byte, 2> more{};
    read(more);
    len |= (std::to_integer<std::uint64_t>(more[0]) << 16) |
           (std::to_integer<std::uint64_t>(more[1]) << 24);
    offset = 12;
  } else if (major != 1) {
    throw Error(Errc::Unsupported, source + ": .npy format version " + std::to_string(major) + "." +
                                       std::to_string(minor) + " is not supported");
  }
  if (len > kMaxNpyHeader) {
    bad(source,
        "header length " + std::to_string(len) + " exceeds " + std::to_string(kMaxNpyHeader));
  }
  std::string text(len, '\0');
  read(std::as_writable_bytes(std::span<char>(text)));
  NpyHeader h = parse_npy_dict(text, source);
  h.data_offset = offset + len;
  return h;
}

}  // namespace stsw::cvt
