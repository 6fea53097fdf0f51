#include "json_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace stsw::bench {
namespace {

bool number_char(char c) {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

// One JSON number token, rewritten when it has an exponent.
std::string rewrite(std::string_view token) {
  if (token.find_first_of("eE") == std::string_view::npos) return std::string(token);
  const std::string text(token);
  const double v = std::strtod(text.c_str(), nullptr);
  const double mag = std::fabs(v);
  char buf[400];
  std::to_chars_result r{};
  if (v == 0 || (mag >= 1e-9 && mag < 1e15)) {
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  } else {
    r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  }
  if (r.ec != std::errc()) return text;
  std::string plain(buf, r.ptr);
  // Still a floating-point number to a JSON reader: 2 would come back as an integer.
  if (plain.find_first_of(".e") == std::string::npos) plain += ".0";
  return plain;
}

}  // namespace

std::string plain_json_numbers(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  bool in_string = false;
  for (std::size_t i = 0; i < json.size();) {
    const char c = json[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < json.size()) {
        out += json[i + 1];
        i += 2;
        continue;
      }
      if (c == '"') in_string = false;
      ++i;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out += c;
      ++i;
      continue;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t j = i;
      while (j < json.size() && number_char(json[j])) ++j;
      out += rewrite(json.substr(i, j - i));
      i = j;
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

}  // namespace stsw::bench
