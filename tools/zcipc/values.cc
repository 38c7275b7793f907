#include "tools/zcipc/values.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tools/zcipc/format.h"

namespace zcipc {
namespace cli {

namespace {

using Json = nlohmann::ordered_json;

constexpr char kReservedPrefix[] = "type-";
// The first reserved type (the ones after kPickle).
constexpr int kFirstReserved = static_cast<int>(ValueType::kPickle) + 1;

std::string Quoted(absl::string_view bytes, bool utf8) {
  return absl::StrCat(
      "\"", utf8 ? absl::Utf8SafeCHexEscape(bytes) : absl::CHexEscape(bytes),
      "\"");
}

}  // namespace

std::string TypeName(ValueType type) {
  switch (type) {
    case ValueType::kBytes:
      return "bytes";
    case ValueType::kText:
      return "text";
    case ValueType::kInt64:
      return "int";
    case ValueType::kFloat64:
      return "float";
    case ValueType::kPickle:
      return "pickle";
  }
  return absl::StrCat(kReservedPrefix, static_cast<int>(type));
}

absl::StatusOr<ValueType> ParseTypeName(absl::string_view name) {
  for (int t = 0; t < kFirstReserved; ++t) {
    if (name == TypeName(static_cast<ValueType>(t))) {
      return static_cast<ValueType>(t);
    }
  }
  absl::string_view number = name;
  int t = 0;
  // Exactly "type-N" as TypeName writes it (no sign, no leading zero).
  if (absl::ConsumePrefix(&number, kReservedPrefix) && !number.empty() &&
      number[0] != '0' && number[0] != '+' && absl::SimpleAtoi(number, &t) &&
      t >= kFirstReserved && t <= 255 &&
      name == TypeName(static_cast<ValueType>(t))) {
    return static_cast<ValueType>(t);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown value type \"", Quote(name),
      "\" (the types are bytes, text, int, float, pickle, and type-",
      kFirstReserved, " to type-255 for reserved ones)"));
}

std::string Int64Bytes(int64_t v) {
  std::string bytes(8, '\0');
  const uint64_t u = static_cast<uint64_t>(v);
  for (size_t i = 0; i < 8; ++i) bytes[i] = static_cast<char>(u >> (8 * i));
  return bytes;
}

std::string Float64Bytes(double v) {
  uint64_t u;
  std::memcpy(&u, &v, sizeof(u));
  return Int64Bytes(static_cast<int64_t>(u));
}

std::optional<int64_t> DecodeInt64(absl::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  uint64_t u = 0;
  for (size_t i = 8; i-- > 0;) {
    u = (u << 8) | static_cast<unsigned char>(bytes[i]);
  }
  return static_cast<int64_t>(u);
}

std::optional<double> DecodeFloat64(absl::string_view bytes) {
  std::optional<int64_t> i = DecodeInt64(bytes);
  if (!i.has_value()) return std::nullopt;
  const uint64_t u = static_cast<uint64_t>(*i);
  double v;
  std::memcpy(&v, &u, sizeof(v));
  return v;
}

std::string FormatFloat64(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  // nlohmann-json writes the shortest digits that read back exactly, in
  // the same layout as Python's repr() ("1.0", "1e+100", "1e-05").
  return Json(v).dump();
}

std::optional<std::string> ValueAsText(absl::string_view bytes,
                                       ValueType type) {
  switch (type) {
    case ValueType::kText:
      return std::string(bytes);
    case ValueType::kInt64:
      if (std::optional<int64_t> v = DecodeInt64(bytes)) {
        return absl::StrCat(*v);
      }
      return std::nullopt;
    case ValueType::kFloat64:
      if (std::optional<double> v = DecodeFloat64(bytes)) {
        return FormatFloat64(*v);
      }
      return std::nullopt;
    default:
      return std::nullopt;
  }
}

std::string ValueForLine(absl::string_view bytes, ValueType type) {
  if (type == ValueType::kBytes) return Quoted(bytes, /*utf8=*/false);
  if (type == ValueType::kText) return Quoted(bytes, IsValidUtf8(bytes));
  if (type == ValueType::kInt64 || type == ValueType::kFloat64) {
    if (std::optional<std::string> text = ValueAsText(bytes, type)) {
      return *text;
    }
  }
  return absl::StrCat("(", TypeName(type), ") ", Quoted(bytes, /*utf8=*/false));
}

void SetJsonValue(Json* object, const char* field, absl::string_view bytes,
                  ValueType type) {
  bool done = false;
  if (type == ValueType::kInt64) {
    if (std::optional<int64_t> v = DecodeInt64(bytes)) {
      (*object)[field] = *v;
      done = true;
    }
  } else if (type == ValueType::kFloat64) {
    std::optional<double> v = DecodeFloat64(bytes);
    if (v.has_value() && std::isfinite(*v)) {
      (*object)[field] = *v;
      done = true;
    }
  }
  if (!done) {
    std::pair<std::string, std::string> f = JsonBytesField(field, bytes);
    (*object)[f.first] = std::move(f.second);
  }
  if (type != ValueType::kBytes) (*object)["type"] = TypeName(type);
}

absl::StatusOr<std::string> GetJsonBytes(const Json& object,
                                         const char* field) {
  const std::string b64 = absl::StrCat(field, "_base64");
  const bool plain = object.contains(field), encoded = object.contains(b64);
  if (plain == encoded) {
    return absl::InvalidArgumentError(
        absl::StrCat("needs exactly one of \"", field, "\" and \"", b64, "\""));
  }
  const Json& v = plain ? object[field] : object[b64];
  if (!v.is_string()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", plain ? field : b64, "\" is not a string"));
  }
  std::string text = v.get<std::string>();
  if (plain) return text;
  std::string bytes;
  if (!StrictBase64Unescape(text, &bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", b64, "\" is not valid base64 (canonical, padded, no spaces)"));
  }
  return bytes;
}

absl::StatusOr<TypedValue> GetJsonValue(const Json& object, const char* field) {
  TypedValue out;
  if (object.contains("type")) {
    const Json& t = object["type"];
    if (!t.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"type\" is ", t.dump(), ", not a type name"));
    }
    absl::StatusOr<ValueType> type = ParseTypeName(t.get<std::string>());
    if (!type.ok()) return type.status();
    out.type = *type;
  }
  const bool number = object.contains(field) && object[field].is_number();
  if (!number) {
    absl::StatusOr<std::string> bytes = GetJsonBytes(object, field);
    if (!bytes.ok()) return bytes.status();
    out.bytes = std::move(*bytes);
    return out;
  }
  if (object.contains(absl::StrCat(field, "_base64"))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "needs exactly one of \"", field, "\" and \"", field, "_base64\""));
  }
  const Json& v = object[field];
  switch (out.type) {
    case ValueType::kInt64:
      if (v.is_number_integer() &&
          (v.is_number_unsigned()
               ? v.get<uint64_t>() <=
                     static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
               : true)) {
        out.bytes = Int64Bytes(v.get<int64_t>());
        return out;
      }
      return absl::InvalidArgumentError(
          absl::StrCat("\"", field, "\" is ", v.dump(),
                       ", not a value of type int (an integer from -2^63 to "
                       "2^63 - 1)"));
    case ValueType::kFloat64:
      out.bytes = Float64Bytes(v.get<double>());
      return out;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", field, "\" is the number ", v.dump(), ", but a value of type ",
          TypeName(out.type),
          " is a string (a number is a value of type int or float)"));
  }
}

}  // namespace cli
}  // namespace zcipc
