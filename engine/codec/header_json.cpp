#include "codec/header_json.hpp"

#include <boost/json/basic_parser_impl.hpp>

#include "codec/header_sax.hpp"
#include "codec/text.hpp"
#include "stsw/error.hpp"

namespace stsw::codec {

RawHeader parse_header_json(std::string_view json, bool lenient, std::string_view source) {
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepth + 8;  // the handler enforces the official limit first
  boost::json::basic_parser<HeaderSax> parser(options, lenient);
  boost::json::error_code ec;
  const std::size_t used = parser.write_some(false, json.data(), json.size(), ec);
  HeaderSax& sax = parser.handler();
  const auto failure = [&](const std::string& why, bool in_entry = true) {
    return Error(Errc::InvalidHeaderDeserialization,
                 std::string(source) + ": header byte " + std::to_string(used) + ": " +
                     (in_entry ? sax.where() : std::string()) + why);
  };
  if (ec || !parser.done()) {
    if (!sax.error.empty()) throw failure(sax.error);
    throw failure(json.empty() ? std::string("the header is empty (N = 0)")
                               : "invalid JSON (" + ec.message() + ")");
  }
  if (used != json.size()) {
    throw failure("unexpected byte " + quote(json.substr(used, 1)) +
                      " after the JSON object (only spaces, tabs, CR and LF may follow it)",
                  false);
  }
  return std::move(sax.result);
}

}  // namespace stsw::codec
