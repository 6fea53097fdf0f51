// A program outside the stsw tree, built against the installed package (CMake's
// find_package or pkg-config): encodes a header, parses it back, checks the CRC-32 check
// value, the version and the logging hook.
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
  try {  // an exception thrown inside the library is caught by its type here
    (void)stsw::parse_file(std::as_bytes(std::span(digits)));
    std::puts("bad header accepted");
    return 1;
  } catch (const stsw::Error&) {
  }
  if (stsw::version() != STSW_VERSION_STRING) {
    std::puts("version wrong");
    return 1;
  }
  int records = 0;
  stsw::set_log_sink([&records](stsw::LogLevel, std::string_view) { ++records; });
  stsw::set_log_level(stsw::LogLevel::info);
  { auto engine = stsw::Engine::create({}); }
  stsw::set_log_sink({});
  if (records == 0) {
    std::puts("no log record reached the sink");
    return 1;
  }
  std::printf("ok %s\n", std::string(stsw::version()).c_str());
  return 0;
}
