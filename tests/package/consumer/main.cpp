// A program outside the stsw tree, built against the installed package: encodes a
// header, parses it back, and checks the CRC-32 check value.
#include <stsw/stsw.hpp>

#include <cstdio>
#include <string>
#include <vector>

int main() {
  const std::string digits = "123456789";
  if (stsw::crc32(std::as_bytes(std::span(digits))) != 0xCBF43926U) {
    std::puts("crc32 check value wrong");
    return 1;
  }
  stsw::Layout layout =
      stsw::plan_layout({{"w", stsw::DType::F32, {2, 2}}}, stsw::LayoutOrder::Canonical);
  std::string bytes = stsw::encode_header(layout.tensors, std::nullopt);
  bytes.resize(bytes.size() + layout.data_size);
  stsw::Header h = stsw::parse_file(std::as_bytes(std::span(bytes)));
  if (h.tensors.size() != 1 || h.tensors[0].name != "w" || h.tensors[0].nbytes() != 16) {
    std::puts("round trip wrong");
    return 1;
  }
  std::puts("ok");
  return 0;
}
