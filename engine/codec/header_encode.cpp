// The canonical header builder (FORMAT.md section 4), byte-identical to the official
// serializer for the official inputs.
#include <algorithm>
#include <string>
#include <unordered_set>

#include "codec/size_error.hpp"
#include "codec/text.hpp"
#include "stsw/error.hpp"
#include "stsw/header.hpp"

namespace stsw {

namespace {

// ,"crc32":4294967295 - the widest crc32 field.
constexpr std::size_t kCrcFieldWidth = 19;

std::string tensor_prefix(const TensorMeta& t) { return "tensor " + codec::quote(t.name) + ": "; }

void validate_tensors(const std::vector<TensorMeta>& tensors) {
  std::unordered_set<std::string_view> names;
  names.reserve(tensors.size());
  std::uint64_t end = 0;
  for (const TensorMeta& t : tensors) {
    if (t.name == "__metadata__") {
      throw Error(Errc::InvalidName, "a tensor may not be named '__metadata__'");
    }
    if (codec::find_invalid_utf8(t.name)) {
      throw Error(Errc::InvalidName, "tensor name " + codec::quote(t.name) + " is not valid UTF-8");
    }
    if (!names.insert(t.name).second) {
      throw Error(Errc::DuplicateName, tensor_prefix(t) + "the name is used twice");
    }
    if (t.offset_begin != end || t.offset_end < t.offset_begin) {
      throw Error(Errc::InvalidOffset,
                  tensor_prefix(t) + "data_offsets [" + std::to_string(t.offset_begin) + ", " +
                      std::to_string(t.offset_end) + "] must begin at " + std::to_string(end) +
                      " (offsets contiguous from 0) and not end before they begin");
    }
    const auto size = byte_size(t.dtype, t.shape);
    if (!size) {
      const Errc kind = codec::size_error(t.dtype, t.shape);
      throw Error(kind, tensor_prefix(t) + "shape x " + std::string(to_string(t.dtype)) +
                            (kind == Errc::MisalignedSlice ? " is not a whole number of bytes"
                                                           : " overflows u64"));
    }
    if (*size != t.nbytes()) {
      throw Error(Errc::TensorInvalidInfo,
                  tensor_prefix(t) + "data_offsets span " + std::to_string(t.nbytes()) +
                      " bytes but shape x dtype needs " + std::to_string(*size));
    }
    end = t.offset_end;
  }
}

void validate_metadata(const Metadata& metadata) {
  for (const auto& [key, value] : metadata) {
    if (codec::find_invalid_utf8(key) || codec::find_invalid_utf8(value)) {
      throw Error(Errc::InvalidArgument,
                  "metadata entry " + codec::quote(key) + " is not valid UTF-8");
    }
  }
}

void append_entry(std::string& json, const TensorMeta& t) {
  codec::append_json_string(json, t.name);
  json += ":{\"dtype\":\"";
  json += to_string(t.dtype);
  json += "\",\"shape\":[";
  for (std::size_t i = 0; i < t.shape.size(); ++i) {
    if (i != 0) json += ',';
    json += std::to_string(t.shape[i]);
  }
  json += "],\"data_offsets\":[";
  json += std::to_string(t.offset_begin);
  json += ',';
  json += std::to_string(t.offset_end);
  json += ']';
  if (t.crc32) {
    json += ",\"crc32\":";
    json += std::to_string(*t.crc32);
  }
  json += '}';
}

}  // namespace

std::string encode_header(const std::vector<TensorMeta>& tensors,
                          const std::optional<Metadata>& metadata, const EncodeOptions& options) {
  const std::uint64_t align = options.align;
  if (align < 8 || (align & (align - 1)) != 0) {
    throw Error(Errc::InvalidArgument,
                "align must be a power of two >= 8, got " + std::to_string(align));
  }
  if (align > kMaxHeaderSize + 8) {
    // The data region would start past 8 + kMaxHeaderSize: no readable file has that.
    throw Error(Errc::InvalidArgument, "align " + std::to_string(align) +
                                           " would need a header larger than the limit of " +
                                           std::to_string(kMaxHeaderSize) + " bytes");
  }
  validate_tensors(tensors);
  if (metadata) validate_metadata(*metadata);

  std::size_t estimate = 16;
  for (const TensorMeta& t : tensors) estimate += t.name.size() + 80 + 21 * t.shape.size();
  if (metadata) {
    for (const auto& [key, value] : *metadata) estimate += key.size() + value.size() + 8;
  }
  std::string out;
  out.reserve(estimate + std::min<std::uint64_t>(align, 4096));
  out.assign(8, '\0');  // the length, filled in below
  std::string& json = out;
  json += '{';
  bool first = true;
  if (metadata) {
    // std::map orders keys by their bytes (char_traits<char> compares as unsigned char).
    json += "\"__metadata__\":{";
    bool first_key = true;
    for (const auto& [key, value] : *metadata) {
      if (!first_key) json += ',';
      first_key = false;
      codec::append_json_string(json, key);
      json += ':';
      codec::append_json_string(json, value);
    }
    json += '}';
    first = false;
  }
  std::uint64_t reserve = 0;
  for (const TensorMeta& t : tensors) {
    if (!first) json += ',';
    first = false;
    append_entry(json, t);
    if (options.reserve_crc32) {
      const std::size_t crc_field = t.crc32 ? 9 + std::to_string(*t.crc32).size() : 0;
      reserve += kCrcFieldWidth - crc_field;
    }
  }
  json += '}';

  const std::uint64_t json_size = json.size() - 8;
  std::uint64_t n = 0;
  if (options.exact_header_size) {
    n = *options.exact_header_size;
    if (n < json_size) {
      throw Error(Errc::InvalidArgument, "the header JSON needs " + std::to_string(json_size) +
                                             " bytes, more than the requested header size " +
                                             std::to_string(n));
    }
    if ((8 + n) % align != 0) {
      throw Error(Errc::InvalidArgument, "header size " + std::to_string(n) +
                                             " puts the data region at " + std::to_string(8 + n) +
                                             ", not a multiple of " + std::to_string(align));
    }
  } else {
    const std::uint64_t needed = 8 + json_size + reserve;
    n = (needed + align - 1) / align * align - 8;
  }
  if (n > kMaxHeaderSize) {
    throw Error(Errc::HeaderTooLarge, "the header would take " + std::to_string(n) +
                                          " bytes, more than the limit of " +
                                          std::to_string(kMaxHeaderSize));
  }
  out.append(n - json_size, ' ');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out;
}

}  // namespace stsw
