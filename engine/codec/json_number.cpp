#include "codec/json_number.hpp"

#include <charconv>
#include <string>

namespace stsw::codec {

namespace {

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

// The digits of 2^1024 - 2^970 (halfway between DBL_MAX and 2^1024), trailing zeros
// removed: a decimal 0.D x 10^309 rounds to infinity exactly when D >= this string
// (ties go to the even neighbour, which is 2^1024).
constexpr std::string_view kHalfwayAboveMax =
    "17976931348623158079372897140530341507993413271003782693617377898044496829276475"
    "09466490179775872070963302864166928879109465555478519404026306574886715058206819"
    "08902000708383676273854845817711531764475730270069855571366959622842914819860834"
    "936475292719074168444365510704342711559699508093042880177904174497792";

}  // namespace

std::optional<std::uint64_t> parse_exact_u64(std::string_view literal) noexcept {
  if (literal.empty()) return std::nullopt;
  for (char c : literal) {
    if (!is_digit(c)) return std::nullopt;
  }
  std::uint64_t value = 0;
  const char* end = literal.data() + literal.size();
  const auto [ptr, ec] = std::from_chars(literal.data(), end, value);
  if (ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

bool overflows_double(std::string_view literal) noexcept {
  std::size_t i = 0;
  if (i < literal.size() && literal[i] == '-') ++i;
  const std::size_t int_begin = i;
  while (i < literal.size() && is_digit(literal[i])) ++i;
  const std::string_view int_part = literal.substr(int_begin, i - int_begin);
  std::string_view frac_part;
  if (i < literal.size() && literal[i] == '.') {
    const std::size_t frac_begin = ++i;
    while (i < literal.size() && is_digit(literal[i])) ++i;
    frac_part = literal.substr(frac_begin, i - frac_begin);
  }
  // The exponent, saturated far beyond the range that matters.
  constexpr std::int64_t kSaturate = 1'000'000'000;
  std::int64_t exponent = 0;
  if (i < literal.size() && (literal[i] == 'e' || literal[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < literal.size() && (literal[i] == '+' || literal[i] == '-')) {
      negative = literal[i] == '-';
      ++i;
    }
    for (; i < literal.size() && is_digit(literal[i]); ++i) {
      if (exponent < kSaturate) exponent = exponent * 10 + (literal[i] - '0');
    }
    if (negative) exponent = -exponent;
  }
  // Significant digits D and decimal exponent e10 with value = 0.D x 10^e10.
  std::string digits;
  digits.reserve(int_part.size() + frac_part.size());
  digits.append(int_part);
  digits.append(frac_part);
  const std::size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return false;  // zero
  const std::size_t last = digits.find_last_not_of('0');
  const std::int64_t e10 =
      static_cast<std::int64_t>(int_part.size()) - static_cast<std::int64_t>(first) + exponent;
  if (e10 <= 308) return false;  // below 1e308 < DBL_MAX
  if (e10 >= 310) return true;   // at least 1e309
  const std::string_view significant = std::string_view(digits).substr(first, last - first + 1);
  return significant >= kHalfwayAboveMax;
}

}  // namespace stsw::codec
