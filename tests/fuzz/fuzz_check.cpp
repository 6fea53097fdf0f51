#include "fuzz_check.hpp"

#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "stsw/error.hpp"
#include "stsw/header.hpp"

namespace stsw::fuzz {

namespace {

struct Outcome {
  std::optional<Header> header;
  std::optional<Error> error;
};

Outcome attempt(std::span<const std::byte> file, const ParseOptions& options) {
  try {
    return {parse_file(file, options), std::nullopt};
  } catch (const Error& e) {
    return {std::nullopt, e};
  }
}

bool official_kind(Errc code) {
  return code <= Errc::MetadataIncompleteBuffer || code == Errc::DuplicateName ||
         code == Errc::InvalidName;
}

std::string describe(const Outcome& o) {
  return o.error ? std::string(o.error->what()) : std::string("success");
}

bool same(const Header& a, const Header& b) {
  return a.tensors == b.tensors && a.metadata == b.metadata && a.header_size == b.header_size;
}

std::string check_file(std::span<const std::byte> file) {
  const Outcome strict = attempt(file, {.strict = true, .source = "fuzz"});
  const Outcome lenient = attempt(file, {.strict = false, .source = "fuzz"});
  const Outcome partial = attempt(file, {.strict = false, .allow_partial = true, .source = "fuzz"});

  if (strict.error && !official_kind(strict.error->code())) {
    return "strict parse threw an unexpected kind: " + describe(strict);
  }
  for (const Outcome* o : {&lenient, &partial}) {
    if (o->error && !official_kind(o->error->code()) && o->error->code() != Errc::IncompleteFile) {
      return "lenient parse threw an unexpected kind: " + describe(*o);
    }
  }
  if (strict.header) {
    if (!strict.header->strict_valid) return "strict success but strict_valid is false";
    if (!lenient.header) return "strict success but lenient failure: " + describe(lenient);
    if (!lenient.header->strict_valid || !same(*strict.header, *lenient.header)) {
      return "lenient reading of a strictly valid file differs";
    }
  }
  if (lenient.header && lenient.header->strict_valid && !strict.header) {
    return "lenient says strict_valid but strict failed: " + describe(strict);
  }
  if (lenient.header && !partial.header) {
    return "allow_partial refused what lenient accepted: " + describe(partial);
  }
  if (lenient.header && partial.header && !same(*lenient.header, *partial.header)) {
    return "allow_partial changed a finished file";
  }
  if (!strict.header) return {};

  // Re-encode the strictly valid header and read it back with the original data.
  const Header& h = *strict.header;
  std::string rebuilt;
  try {
    rebuilt = encode_header(h.tensors, h.metadata);
  } catch (const Error& e) {
    return std::string("re-encoding a valid header failed: ") + e.what();
  }
  const std::uint64_t data_size = file.size() - h.data_offset();
  rebuilt.append(reinterpret_cast<const char*>(file.data()) + h.data_offset(), data_size);
  const Outcome again = attempt(std::as_bytes(std::span(rebuilt.data(), rebuilt.size())),
                                {.strict = true, .source = "fuzz-reencoded"});
  if (!again.header) return "the re-encoded header does not parse: " + describe(again);
  if (again.header->tensors != h.tensors || again.header->metadata != h.metadata) {
    return "the re-encoded header reads differently";
  }
  if (again.header->header_size % 8 != 0) return "re-encoded header not padded to 8";

  // The writer's path: aligned, CRC room reserved, then rewritten in place with the
  // widest CRCs.
  EncodeOptions reserved;
  reserved.align = 64;
  reserved.reserve_crc32 = true;
  std::vector<TensorMeta> with_crcs = h.tensors;
  for (TensorMeta& t : with_crcs) t.crc32.reset();
  std::string first;
  std::string final_header;
  try {
    first = encode_header(with_crcs, h.metadata, reserved);
    for (TensorMeta& t : with_crcs) t.crc32 = 0xFFFFFFFFU;
    reserved.exact_header_size = first.size() - 8;
    final_header = encode_header(with_crcs, h.metadata, reserved);
  } catch (const Error& e) {
    return std::string("encoding with reserved CRC room failed: ") + e.what();
  }
  if (first.size() % 64 != 0 || final_header.size() != first.size()) {
    return "reserved CRC room: wrong sizes";
  }
  final_header.append(reinterpret_cast<const char*>(file.data()) + h.data_offset(), data_size);
  const Outcome rewritten = attempt(
      std::as_bytes(std::span(final_header.data(), final_header.size())), {.source = "fuzz-crc"});
  if (!rewritten.header || rewritten.header->tensors != with_crcs) {
    return "the header rewritten with CRCs reads differently: " + describe(rewritten);
  }
  return {};
}

}  // namespace

std::string check_one_input(const std::uint8_t* data, std::size_t size) {
  const auto file = std::as_bytes(std::span(data, size));
  std::string problem = check_file(file);
  if (!problem.empty() || size < 8) return problem;
  // Most mutations break the length prefix; also try the input with N folded into
  // range so the JSON behind it gets exercised.
  std::uint64_t n = 0;
  std::memcpy(&n, data, 8);
  const std::uint64_t folded = n % (size - 8 + 1);
  if (folded == n) return {};
  std::string copy(reinterpret_cast<const char*>(data), size);
  std::memcpy(copy.data(), &folded, 8);  // little-endian host
  return check_file(std::as_bytes(std::span(copy.data(), copy.size())));
}

}  // namespace stsw::fuzz
