#include "report.hpp"

#include <cstdio>

#include "stsw/error.hpp"
#include "stsw/utf8.hpp"

namespace stsw::cli {
namespace {

void append_hex_escape(std::string& out, unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "\\x%02x", c);
  out += buf;
}

}  // namespace

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      append_hex_escape(out, c);
    } else if (const std::size_t n = utf8_sequence_length(s, i); n == 0) {
      append_hex_escape(out, c);
    } else {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
  return out;
}

std::string utf8_safe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string error_kind(const std::exception& e) {
  if (const auto* err = dynamic_cast<const Error*>(&e)) return std::string(to_string(err->code()));
  return "Error";
}

std::string error_text(const std::exception& e, std::string_view path) {
  const auto* err = dynamic_cast<const Error*>(&e);
  std::string message = err != nullptr ? err->message() : e.what();
  std::string text = error_kind(e) + ": ";
  if (!path.empty() && message.find(path) == std::string::npos) {
    text += std::string(path) + ": ";
  }
  return text + message;
}

void print_error(std::string_view command, const std::exception& e, std::string_view path) {
  print_error(command, error_text(e, path));
}

void print_error(std::string_view command, std::string_view message) {
  std::string line = "stsw";
  if (!command.empty()) line += " " + std::string(command);
  line += ": " + printable(message) + "\n";
  std::fflush(stdout);
  std::fputs(line.c_str(), stderr);
}

std::string format_rate(std::uint64_t bytes, double seconds) {
  char buf[32];
  if (seconds <= 0) return "- MB/s";
  std::snprintf(buf, sizeof buf, "%.1f MB/s", static_cast<double>(bytes) / seconds / 1e6);
  return buf;
}

std::string format_crc(std::uint32_t crc) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", crc);
  return buf;
}

}  // namespace stsw::cli
