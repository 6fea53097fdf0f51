// The SAX handler behind parse_header_json (private to the codec). It gives each
// Boost.JSON event the meaning serde_json gives it while deserializing the official
// HashMetadata, keeping an explicit stack of open containers (never recursion).
#pragma once

#include <boost/json/basic_parser.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "codec/header_json.hpp"

namespace stsw::codec {

class HeaderSax {
 public:
  using error_code = boost::json::error_code;
  using string_view = boost::json::string_view;

  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  explicit HeaderSax(bool lenient) : lenient_(lenient) {}

  RawHeader result;   // complete once the parse succeeded
  std::string error;  // why the handler stopped the parse; empty: a JSON syntax error

  // The tensor (or key) being parsed, for messages; empty before the first key.
  [[nodiscard]] std::string where() const;

  // The basic_parser handler interface. Each returns false (with `ec` set and
  // `error` saying why) to stop the parse.
  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }
  bool on_object_begin(error_code& ec) { return value(Value::Object, ec); }
  bool on_object_end(std::size_t, error_code& ec) { return close(ec); }
  bool on_array_begin(error_code& ec) { return value(Value::Array, ec); }
  bool on_array_end(std::size_t, error_code& ec) { return close(ec); }
  bool on_key_part(string_view s, std::size_t, error_code&) { return append(s); }
  bool on_key(string_view s, std::size_t, error_code& ec);
  bool on_string_part(string_view s, std::size_t, error_code&) { return append(s); }
  bool on_string(string_view s, std::size_t, error_code& ec) {
    return scalar(s, Value::String, ec);
  }
  bool on_number_part(string_view s, error_code&) { return append(s); }
  bool on_int64(std::int64_t, string_view s, error_code& ec) {
    return scalar(s, Value::Number, ec);
  }
  bool on_uint64(std::uint64_t, string_view s, error_code& ec) {
    return scalar(s, Value::Number, ec);
  }
  bool on_double(double, string_view s, error_code& ec) { return scalar(s, Value::Number, ec); }
  bool on_bool(bool b, error_code& ec) {
    bool_ = b;
    return value(Value::Bool, ec);
  }
  bool on_null(error_code& ec) { return value(Value::Null, ec); }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }

 private:
  // What an open container means.
  enum class Kind : std::uint8_t {
    Root,       // the header object
    Metadata,   // "__metadata__": {...}
    TensorMap,  // a tensor entry {"dtype": ..., ...}
    TensorSeq,  // a tensor entry [dtype, shape, data_offsets] (serde accepts it)
    DtypeMap,   // dtype as {"F32": null} (serde's externally tagged enum)
    DtypeUnit,  // the {} in {"F32": {}}
    Shape,
    Offsets,
    Ignored,  // anything serde only parses and drops
  };
  enum class Field : std::uint8_t { Dtype, Shape, Offsets, Crc32, Ignored };
  enum class Value : std::uint8_t { Object, Array, String, Number, Bool, Null };
  struct Frame {
    Kind kind;
    std::uint64_t count = 0;  // keys or elements seen so far
  };
  static constexpr unsigned bit(Field f) { return 1U << static_cast<unsigned>(f); }

  bool append(string_view s) {
    text_.append(s.data(), s.size());
    return true;
  }
  bool scalar(string_view last, Value v, error_code& ec);
  bool fail(error_code& ec, std::string why);
  [[nodiscard]] std::string describe(Value v) const;
  bool push(Kind kind, error_code& ec);
  bool value(Value v, error_code& ec);
  bool ignored_value(Value v, error_code& ec);
  bool root_value(Value v, error_code& ec);
  bool metadata_value(Value v, error_code& ec);
  bool tensor_field(Field f, Value v, error_code& ec);
  bool key(error_code& ec);
  bool close(error_code& ec);

  const bool lenient_;
  std::vector<Frame> stack_;
  std::string text_;  // the key, string or number literal being received
  std::string root_key_;
  std::string meta_key_;
  bool have_root_key_ = false;
  bool in_entry_ = false;  // inside the value of root_key_
  bool metadata_seen_ = false;
  bool bool_ = false;
  TensorMeta cur_;     // the tensor entry being read
  unsigned seen_ = 0;  // bit(Field) of the fields cur_ got
  Field field_ = Field::Ignored;
};

}  // namespace stsw::codec
