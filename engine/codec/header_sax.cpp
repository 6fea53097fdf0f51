#include "codec/header_sax.hpp"

#include <utility>

#include "codec/json_number.hpp"
#include "codec/text.hpp"
#include "stsw/header.hpp"

namespace stsw::codec {

std::string HeaderSax::where() const {
  if (!have_root_key_) return {};
  if (root_key_ == "__metadata__") return "__metadata__: ";
  return (in_entry_ ? "tensor " : "after tensor ") + quote(root_key_) + ": ";
}

bool HeaderSax::on_key(string_view s, std::size_t, error_code& ec) {
  append(s);
  const bool ok = key(ec);
  text_.clear();
  return ok;
}

bool HeaderSax::scalar(string_view last, Value v, error_code& ec) {
  append(last);
  const bool ok = value(v, ec);
  text_.clear();
  return ok;
}

bool HeaderSax::fail(error_code& ec, std::string why) {
  error = std::move(why);
  ec = boost::json::error::syntax;
  return false;
}

std::string HeaderSax::describe(Value v) const {
  switch (v) {
    case Value::Object: return "an object";
    case Value::Array: return "an array";
    case Value::String: return "the string " + quote(text_, 60);
    case Value::Number: return "the number " + quote(text_, 60);
    case Value::Bool: return bool_ ? "true" : "false";
    case Value::Null: return "null";
  }
  return "?";
}

bool HeaderSax::push(Kind kind, error_code& ec) {
  // serde_json counts open containers from 128 down and fails on reaching 0.
  if (stack_.size() + 1 >= kMaxJsonDepth) {
    return fail(ec, "JSON nested deeper than " + std::to_string(kMaxJsonDepth - 1) +
                        " levels (the official loader's recursion limit)");
  }
  stack_.push_back(Frame{kind});
  return true;
}

bool HeaderSax::value(Value v, error_code& ec) {
  if (stack_.empty()) {
    if (v != Value::Object) return fail(ec, "the header is " + describe(v) + ", not a JSON object");
    return push(Kind::Root, ec);
  }
  Frame& top = stack_.back();
  switch (top.kind) {
    case Kind::Root: return root_value(v, ec);
    case Kind::Metadata: return metadata_value(v, ec);
    case Kind::TensorMap: return tensor_field(field_, v, ec);
    case Kind::TensorSeq: {
      static constexpr Field kOrder[] = {Field::Dtype, Field::Shape, Field::Offsets};
      if (top.count >= 3) {
        return fail(ec, "a tensor entry given as an array must have 3 elements, found more");
      }
      const Field f = kOrder[top.count++];
      seen_ |= bit(f);
      return tensor_field(f, v, ec);
    }
    case Kind::DtypeMap:
      if (v == Value::Null) return true;
      // serde's unit variant accepts only null: {"F16":{}} is "invalid type: map, expected
      // unit" to the official loader. Lenient parses (Python stsw files) still take it.
      if (v == Value::Object && !lenient_) {
        return fail(ec,
                    "dtype given as an object must map the dtype name to null (invalid type: "
                    "map, expected unit)");
      }
      if (v == Value::Object) {
        result.dtype_as_map = true;
        return push(Kind::DtypeUnit, ec);
      }
      return fail(ec, "dtype given as an object must map the dtype name to null or {}, found " +
                          describe(v));
    case Kind::DtypeUnit: return fail(ec, "unexpected value in dtype");
    case Kind::Shape: {
      const auto dim = v == Value::Number ? parse_exact_u64(text_) : std::nullopt;
      if (!dim) {
        return fail(ec, "shape must hold integers in [0, 2^64), found " + describe(v));
      }
      cur_.shape.push_back(*dim);
      ++top.count;
      return true;
    }
    case Kind::Offsets: {
      if (top.count >= 2) return fail(ec, "data_offsets must hold exactly 2 integers, found more");
      const auto offset = v == Value::Number ? parse_exact_u64(text_) : std::nullopt;
      if (!offset) {
        return fail(ec, "data_offsets must hold integers in [0, 2^64), found " + describe(v));
      }
      (top.count == 0 ? cur_.offset_begin : cur_.offset_end) = *offset;
      ++top.count;
      return true;
    }
    case Kind::Ignored: return ignored_value(v, ec);
  }
  return fail(ec, "internal parser state error");
}

bool HeaderSax::ignored_value(Value v, error_code& ec) {
  if (v == Value::Object || v == Value::Array) return push(Kind::Ignored, ec);
  if (v == Value::Number && overflows_double(text_)) {
    return fail(ec, "number out of range: " + quote(text_, 60));
  }
  return true;
}

bool HeaderSax::root_value(Value v, error_code& ec) {
  in_entry_ = true;
  if (root_key_ == "__metadata__") {
    if (metadata_seen_) return fail(ec, "duplicate key __metadata__");
    metadata_seen_ = true;
    if (v == Value::Object) {
      result.metadata.emplace();
      return push(Kind::Metadata, ec);
    }
    in_entry_ = false;
    if (v == Value::Null) return true;
    return fail(ec, "must be an object of strings or null, found " + describe(v));
  }
  if (lenient_ && root_key_ == "__version__" && v == Value::String) {
    if (result.version) return fail(ec, "duplicate key __version__");
    result.version = text_;
    in_entry_ = false;
    return true;
  }
  if (lenient_ && root_key_ == "__incomplete__" && v == Value::Bool) {
    if (result.incomplete) return fail(ec, "duplicate key __incomplete__");
    result.incomplete = bool_;
    in_entry_ = false;
    return true;
  }
  if (v == Value::Object || v == Value::Array) {
    cur_ = TensorMeta{};
    cur_.name = root_key_;
    seen_ = 0;
    return push(v == Value::Object ? Kind::TensorMap : Kind::TensorSeq, ec);
  }
  return fail(
      ec, "expected a tensor entry {\"dtype\", \"shape\", \"data_offsets\"}, found " + describe(v));
}

bool HeaderSax::metadata_value(Value v, error_code& ec) {
  if (v == Value::String) {
    (*result.metadata)[meta_key_] = text_;
    return true;
  }
  if (meta_key_ == "dtype" || meta_key_ == "shape" || meta_key_ == "data_offsets") {
    // A tensor named "__metadata__": finish the JSON (its errors come first), then
    // the caller reports InvalidName.
    result.metadata_tensor_field = meta_key_;
    stack_.back().kind = Kind::Ignored;
    return ignored_value(v, ec);
  }
  return fail(ec, "the value of " + quote(meta_key_) + " must be a string, found " + describe(v));
}

bool HeaderSax::tensor_field(Field f, Value v, error_code& ec) {
  switch (f) {
    case Field::Dtype:
      if (v == Value::String) {
        const auto dtype = parse_dtype(text_);
        if (!dtype) return fail(ec, "unknown dtype " + quote(text_, 60));
        cur_.dtype = *dtype;
        return true;
      }
      if (v == Value::Object) return push(Kind::DtypeMap, ec);
      return fail(ec, "dtype must be a string, found " + describe(v));
    case Field::Shape:
      if (v == Value::Array) return push(Kind::Shape, ec);
      return fail(ec, "shape must be an array, found " + describe(v));
    case Field::Offsets:
      if (v == Value::Array) return push(Kind::Offsets, ec);
      return fail(ec, "data_offsets must be an array [begin, end], found " + describe(v));
    case Field::Crc32: {
      const auto crc = v == Value::Number ? parse_exact_u64(text_) : std::nullopt;
      if (!crc || *crc > 0xFFFFFFFFULL) {
        return fail(ec, "crc32 must be an unsigned 32-bit integer, found " + describe(v));
      }
      cur_.crc32 = static_cast<std::uint32_t>(*crc);
      return true;
    }
    case Field::Ignored: return ignored_value(v, ec);
  }
  return fail(ec, "internal parser state error");
}

bool HeaderSax::key(error_code& ec) {
  Frame& top = stack_.back();
  switch (top.kind) {
    case Kind::Root:
      root_key_ = text_;
      have_root_key_ = true;
      in_entry_ = true;
      return true;
    case Kind::Metadata: meta_key_ = text_; return true;
    case Kind::TensorMap: {
      Field f = Field::Ignored;
      if (text_ == "dtype") f = Field::Dtype;
      if (text_ == "shape") f = Field::Shape;
      if (text_ == "data_offsets") f = Field::Offsets;
      if (text_ == "crc32") f = Field::Crc32;
      if (f != Field::Ignored) {
        if ((seen_ & bit(f)) != 0) return fail(ec, "duplicate field " + quote(text_));
        seen_ |= bit(f);
      }
      field_ = f;
      return true;
    }
    case Kind::DtypeMap: {
      if (top.count++ > 0) return fail(ec, "dtype given as an object must have exactly one key");
      const auto dtype = parse_dtype(text_);
      if (!dtype) return fail(ec, "unknown dtype " + quote(text_, 60));
      cur_.dtype = *dtype;
      return true;
    }
    case Kind::DtypeUnit:
      return fail(ec, "dtype given as an object must map the dtype name to null or {}");
    case Kind::Ignored: return true;
    default: return fail(ec, "internal parser state error");
  }
}

bool HeaderSax::close(error_code& ec) {
  const Frame top = stack_.back();
  stack_.pop_back();
  switch (top.kind) {
    case Kind::TensorMap:
      for (const auto& [f, name] :
           {std::pair{Field::Dtype, "dtype"}, std::pair{Field::Shape, "shape"},
            std::pair{Field::Offsets, "data_offsets"}}) {
        if ((seen_ & bit(f)) == 0) return fail(ec, std::string("missing field ") + name);
      }
      result.tensors.push_back(std::move(cur_));
      break;
    case Kind::TensorSeq:
      if (top.count != 3) {
        return fail(ec, "a tensor entry given as an array must have 3 elements, found " +
                            std::to_string(top.count));
      }
      result.tensors.push_back(std::move(cur_));
      break;
    case Kind::DtypeMap:
      if (top.count != 1) return fail(ec, "dtype given as an object must have exactly one key");
      break;
    case Kind::Offsets:
      if (top.count != 2) {
        return fail(
            ec, "data_offsets must hold exactly 2 integers, found " + std::to_string(top.count));
      }
      break;
    default: break;
  }
  if (stack_.size() == 1) in_entry_ = false;
  return true;
}

}  // namespace stsw::codec
