// Planning a file: canonical order, contiguous offsets and the header size.
#include <algorithm>
#include <unordered_set>

#include "codec/size_error.hpp"
#include "codec/text.hpp"
#include "stsw/error.hpp"
#include "stsw/header.hpp"

namespace stsw {

void sort_canonical(std::vector<TensorSpec>& tensors) {
  std::stable_sort(tensors.begin(), tensors.end(), [](const TensorSpec& a, const TensorSpec& b) {
    if (a.dtype != b.dtype) return dtype_rank(a.dtype) > dtype_rank(b.dtype);
    return a.name < b.name;  // std::string compares bytes as unsigned char
  });
}

Layout plan_layout(const std::vector<TensorSpec>& tensors, LayoutOrder order, std::uint64_t align,
                   const std::optional<Metadata>& metadata, bool reserve_crc32) {
  if (align < 8 || (align & (align - 1)) != 0) {
    throw Error(Errc::InvalidArgument,
                "align must be a power of two >= 8, got " + std::to_string(align));
  }
  std::unordered_set<std::string_view> names;
  names.reserve(tensors.size());
  for (const TensorSpec& t : tensors) {
    if (t.name == "__metadata__") {
      throw Error(Errc::InvalidName, "a tensor may not be named '__metadata__'");
    }
    if (!names.insert(t.name).second) {
      throw Error(Errc::DuplicateName, "tensor " + codec::quote(t.name) + " is listed twice");
    }
  }
  std::vector<TensorSpec> ordered = tensors;
  if (order == LayoutOrder::Canonical) sort_canonical(ordered);

  Layout layout;
  layout.tensors.reserve(ordered.size());
  std::uint64_t offset = 0;
  for (TensorSpec& spec : ordered) {
    TensorMeta t;
    t.name = std::move(spec.name);
    t.dtype = spec.dtype;
    t.shape = std::move(spec.shape);
    const auto size = byte_size(t.dtype, t.shape);
    if (!size) {
      const Errc kind = codec::size_error(t.dtype, t.shape);
      throw Error(kind, "tensor " + codec::quote(t.name) + ": shape x " +
                            std::string(to_string(t.dtype)) +
                            (kind == Errc::MisalignedSlice ? " is not a whole number of bytes"
                                                           : " overflows u64"));
    }
    t.offset_begin = offset;
    if (__builtin_add_overflow(offset, *size, &t.offset_end)) {
      throw Error(Errc::ValidationOverflow,
                  "tensor " + codec::quote(t.name) + ": the data region would exceed 2^64 bytes");
    }
    offset = t.offset_end;
    layout.tensors.push_back(std::move(t));
  }
  layout.data_size = offset;
  EncodeOptions options;
  options.align = align;
  options.reserve_crc32 = reserve_crc32;
  layout.header_size = encode_header(layout.tensors, metadata, options).size() - 8;
  return layout;
}

}  // namespace stsw
