// Typed values on the command line (ValueType, include/zcipc/options.h): the
// names of the types, the 8-byte little-endian encodings of int and float
// values, and how a value is shown by its type: for people (get, watch
// --follow text lines) and in JSON (get --json, dump, watch --follow --json).
//
// The JSON convention (a value under `field`, normally "value"):
//   bytes      {"value":"text"} or {"value_base64":"..."} (no "type")
//   text       {"value":"h\u00e9","type":"text"}
//   int        {"value":-42,"type":"int"}        a JSON integer
//   float      {"value":0.1,"type":"float"}      a JSON number
//   pickle     {"value_base64":"gARLAS4=","type":"pickle"}
//   type 5-255 {"value":...,"type":"type-7"}     reserved: kept opaque
// A value whose bytes cannot be that JSON value (an int or float that is not
// 8 bytes, a float that is NaN or infinite, text that is not UTF-8) is
// written as its bytes, as for bytes, with its "type": no value is lost.
//
// Thread safety: every function is thread-safe (no shared state).

#ifndef ZCIPC_TOOLS_ZCIPC_VALUES_H_
#define ZCIPC_TOOLS_ZCIPC_VALUES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "zcipc/options.h"

namespace zcipc {
namespace cli {

// "bytes", "text", "int", "float", "pickle"; a reserved type N as "type-N".
std::string TypeName(ValueType type);
// The inverse of TypeName (exactly its names; "type-5" to "type-255" for
// the reserved types). InvalidArgument naming the known names otherwise.
absl::StatusOr<ValueType> ParseTypeName(absl::string_view name);

// The 8-byte little-endian forms of kInt64 and kFloat64 values (the
// format Add keeps and the Python package writes).
std::string Int64Bytes(int64_t v);
std::string Float64Bytes(double v);
// The number in `bytes`; nullopt unless they are exactly 8 bytes.
std::optional<int64_t> DecodeInt64(absl::string_view bytes);
std::optional<double> DecodeFloat64(absl::string_view bytes);

// A double in its shortest form that reads back exactly, as Python's repr()
// writes it: "0.1", "2.5", "1e+100", "-0.0", "nan", "inf", "-inf".
std::string FormatFloat64(double v);

// The value as `get` prints it for a person (without the newline), if its
// type has such a form: text as itself, an int as a decimal number, a float
// as FormatFloat64. nullopt for bytes, pickles and reserved types, and for
// an int or float that is not 8 bytes.
std::optional<std::string> ValueAsText(absl::string_view bytes, ValueType type);

// The value on one line of watch --follow: a number for an int or float,
// text in double quotes with C escapes (UTF-8 kept), bytes in double quotes
// with C escapes (every byte outside printable ASCII as \xNN); a pickle, a
// reserved type, or an int or float that is not 8 bytes as its quoted bytes
// after the type in parentheses: (pickle) "\x80\x04K\x01.".
std::string ValueForLine(absl::string_view bytes, ValueType type);

// Sets `field` (or field + "_base64") and, unless the type is bytes, "type"
// in `object`, by the JSON convention above.
void SetJsonValue(nlohmann::ordered_json* object, const char* field,
                  absl::string_view bytes, ValueType type);

// Reads exactly one of `field` (a string: its UTF-8 bytes) and field +
// "_base64" (canonical base64), as JsonBytesField (format.h) writes them.
// InvalidArgument saying what is wrong otherwise.
absl::StatusOr<std::string> GetJsonBytes(const nlohmann::ordered_json& object,
                                         const char* field);

// A value and its type, read back from JSON.
struct TypedValue {
  std::string bytes;
  ValueType type = ValueType::kBytes;
};
// Reads what SetJsonValue wrote: exactly one of `field` and field +
// "_base64" (canonical base64), and "type" if present (bytes if absent). A
// JSON number is a value only of type int (an integer in the int64 range)
// or float. InvalidArgument saying what is wrong otherwise.
absl::StatusOr<TypedValue> GetJsonValue(const nlohmann::ordered_json& object,
                                        const char* field);

}  // namespace cli
}  // namespace zcipc

#endif  // ZCIPC_TOOLS_ZCIPC_VALUES_H_
