// Unit tests of the zcipc tool's typed-value helpers (tools/zcipc/values.h):
// type names, the 8-byte encodings, float formatting, and the JSON form of
// every type read back to the same bytes and type.

#include "tools/zcipc/values.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "zcipc/options.h"

namespace zcipc {
namespace cli {
namespace {

using Json = nlohmann::ordered_json;

TEST(TypeName, EveryTypeRoundTrips) {
  for (int t = 0; t <= 255; ++t) {
    const ValueType type = static_cast<ValueType>(t);
    absl::StatusOr<ValueType> parsed = ParseTypeName(TypeName(type));
    ASSERT_TRUE(parsed.ok()) << TypeName(type) << ": " << parsed.status();
    EXPECT_EQ(*parsed, type);
  }
  EXPECT_EQ(TypeName(ValueType::kInt64), "int");
  EXPECT_EQ(TypeName(static_cast<ValueType>(7)), "type-7");
}

TEST(TypeName, OnlyTheExactNamesParse) {
  for (const char* bad :
       {"", "Text", "int64", "str", "type-", "type-0", "type-4", "type-05",
        "type-+5", "type-256", "type--5", "type-5 ", " text"}) {
    absl::StatusOr<ValueType> parsed = ParseTypeName(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << "\"" << bad << "\"";
  }
}

TEST(Encodings, LittleEndianEightBytes) {
  EXPECT_EQ(Int64Bytes(1), std::string("\x01\0\0\0\0\0\0\0", 8));
  EXPECT_EQ(Int64Bytes(-2), std::string("\xfe\xff\xff\xff\xff\xff\xff\xff", 8));
  EXPECT_EQ(*DecodeInt64(Int64Bytes(INT64_MIN)), INT64_MIN);
  EXPECT_EQ(Float64Bytes(1.0), std::string("\0\0\0\0\0\0\xf0\x3f", 8));
  EXPECT_EQ(*DecodeFloat64(Float64Bytes(-2.5)), -2.5);
  EXPECT_FALSE(DecodeInt64("1234567").has_value());
  EXPECT_FALSE(DecodeFloat64("123456789").has_value());
}

TEST(FormatFloat64, ShortestFormThatReadsBack) {
  EXPECT_EQ(FormatFloat64(0.1), "0.1");
  EXPECT_EQ(FormatFloat64(2.5), "2.5");
  EXPECT_EQ(FormatFloat64(1.0), "1.0");
  EXPECT_EQ(FormatFloat64(1e100), "1e+100");
  EXPECT_EQ(FormatFloat64(1e-5), "1e-05");
  EXPECT_EQ(FormatFloat64(-0.0), "-0.0");
  EXPECT_EQ(FormatFloat64(std::numeric_limits<double>::quiet_NaN()), "nan");
  EXPECT_EQ(FormatFloat64(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(FormatFloat64(-std::numeric_limits<double>::infinity()), "-inf");
  for (double d : {0.1 + 0.2, 1.0 / 3, 5e-324, 1.7976931348623157e308,
                   123456789.123456789}) {
    EXPECT_EQ(std::strtod(FormatFloat64(d).c_str(), nullptr), d)
        << FormatFloat64(d);
  }
}

TEST(ValueForLine, ByType) {
  EXPECT_EQ(ValueForLine("a\x01", ValueType::kBytes), "\"a\\x01\"");
  EXPECT_EQ(ValueForLine("\xc3\xa9\n", ValueType::kText), "\"\xc3\xa9\\n\"");
  EXPECT_EQ(ValueForLine("\xc3", ValueType::kText), "\"\\xc3\"");
  EXPECT_EQ(ValueForLine(Int64Bytes(-3), ValueType::kInt64), "-3");
  EXPECT_EQ(ValueForLine(Float64Bytes(0.5), ValueType::kFloat64), "0.5");
  EXPECT_EQ(ValueForLine("abc", ValueType::kInt64), "(int) \"abc\"");
  EXPECT_EQ(ValueForLine("x", ValueType::kPickle), "(pickle) \"x\"");
  EXPECT_EQ(ValueForLine("x", static_cast<ValueType>(200)), "(type-200) \"x\"");
}

TEST(JsonValue, EveryTypeRoundTrips) {
  struct Case {
    std::string bytes;
    ValueType type;
    const char* json;
  };
  const Case cases[] = {
      {"v", ValueType::kBytes, R"({"value":"v"})"},
      {std::string("\xff", 1), ValueType::kBytes, R"({"value_base64":"/w=="})"},
      {"h\xc3\xa9", ValueType::kText,
       "{\"value\":\"h\xc3\xa9\",\"type\":\"text\"}"},
      {std::string("\xff", 1), ValueType::kText,
       R"({"value_base64":"/w==","type":"text"})"},
      {Int64Bytes(INT64_MIN), ValueType::kInt64,
       R"({"value":-9223372036854775808,"type":"int"})"},
      {Int64Bytes(INT64_MAX), ValueType::kInt64,
       R"({"value":9223372036854775807,"type":"int"})"},
      {"abc", ValueType::kInt64, R"({"value":"abc","type":"int"})"},
      {Float64Bytes(0.1), ValueType::kFloat64,
       R"({"value":0.1,"type":"float"})"},
      {Float64Bytes(-0.0), ValueType::kFloat64,
       R"({"value":-0.0,"type":"float"})"},
      {Float64Bytes(std::numeric_limits<double>::infinity()),
       ValueType::kFloat64,
       R"({"value_base64":"AAAAAAAA8H8=","type":"float"})"},
      {"p", ValueType::kPickle, R"({"value":"p","type":"pickle"})"},
      {"r", static_cast<ValueType>(255), R"({"value":"r","type":"type-255"})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    Json j = Json::object();
    SetJsonValue(&j, "value", c.bytes, c.type);
    EXPECT_EQ(j.dump(), c.json);
    absl::StatusOr<TypedValue> back =
        GetJsonValue(Json::parse(j.dump()), "value");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->bytes, c.bytes);
    EXPECT_EQ(back->type, c.type);
  }
}

TEST(JsonValue, NumbersOnlyForIntAndFloat) {
  for (const char* bad :
       {R"({"value":1})", R"({"value":1,"type":"text"})",
        R"({"value":1,"type":"pickle"})", R"({"value":1.5,"type":"int"})",
        R"({"value":1e30,"type":"int"})",
        R"({"value":18446744073709551615,"type":"int"})",
        R"({"value":true,"type":"int"})", R"({"value":"v","type":5})",
        R"({"value":"v","type":"nope"})", R"({"type":"int"})",
        R"({"value":1,"value_base64":"AA==","type":"int"})"}) {
    absl::StatusOr<TypedValue> v = GetJsonValue(Json::parse(bad), "value");
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  absl::StatusOr<TypedValue> f =
      GetJsonValue(Json::parse(R"({"value":3,"type":"float"})"), "value");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->bytes, Float64Bytes(3.0));
}

}  // namespace
}  // namespace cli
}  // namespace zcipc
