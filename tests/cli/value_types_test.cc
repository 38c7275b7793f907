// Runs the real zcipc binary (argv[1]) on typed values (ValueType,
// include/zcipc/options.h): the test process writes values of every type
// through the C++ API and checks what get, watch --follow and dump print;
// put --type stores the type (read back with Get(key, &value, &type)); add
// counts on an int that put --type=int stored; dump and load keep every
// value's bytes and type; load refuses an unknown type name.

#include <signal.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/cli_runner.h"
#include "tests/test_util.h"
#include "zcipc/options.h"
#include "zcipc/zero_copy_dict.h"

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::zcipc::ValueType;
using ::zcipc_cli_test::Child;
using ::zcipc_cli_test::Json;
using ::zcipc_cli_test::kPatience;
using ::zcipc_cli_test::ParseJson;
using ::zcipc_cli_test::Result;
using ::zcipc_cli_test::Zcipc;
using ::zcipc_cli_test::ZcipcPath;
using ::zcipc_test::ScopedName;

#define ASSERT_EXIT_CODE(result, code) \
  ASSERT_EQ((result).exit_code, code) << (result).Describe()

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

std::string Int64Bytes(int64_t v) {
  std::string bytes(8, '\0');
  const uint64_t u = static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(u >> (8 * i));
  return bytes;
}

std::string Float64Bytes(double d) {
  uint64_t u;
  std::memcpy(&u, &d, sizeof(u));
  return Int64Bytes(static_cast<int64_t>(u));
}

// A Python pickle of the int 1 (protocol 4): binary, not UTF-8.
const std::string& PickleBytes() {
  static const std::string* bytes = new std::string("\x80\x04K\x01.", 5);
  return *bytes;
}

void Create(const std::string& name) {
  Result r = Zcipc({"create", name, "--max-items=1000", "--heap-size=1MiB"});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
}

zcipc::ZeroCopyDict AttachOrDie(const std::string& name) {
  absl::StatusOr<zcipc::ZeroCopyDict> dict = zcipc::ZeroCopyDict::Attach(name);
  EXPECT_TRUE(dict.ok()) << dict.status();
  return std::move(dict).value();
}

struct Typed {
  std::string value;
  ValueType type;
  bool operator==(const Typed& o) const {
    return value == o.value && type == o.type;
  }
};

std::ostream& operator<<(std::ostream& os, const Typed& t) {
  return os << "{" << absl::CHexEscape(t.value) << ", type "
            << static_cast<int>(t.type) << "}";
}

// Get(key, &value, &type) through the C++ API.
Typed GetTyped(const zcipc::ZeroCopyDict& dict, const std::string& key) {
  Typed t{"", ValueType::kBytes};
  absl::Status s = dict.Get(key, &t.value, &t.type);
  EXPECT_TRUE(s.ok()) << key << ": " << s;
  return t;
}

std::map<std::string, Typed> Contents(const zcipc::ZeroCopyDict& dict) {
  std::map<std::string, Typed> all;
  EXPECT_TRUE(dict.ForEachTyped([&](absl::string_view k, absl::string_view v,
                                    ValueType type) {
                    all[std::string(k)] = Typed{std::string(v), type};
                  })
                  .ok());
  return all;
}

// One value of every kind, as the Python package and C++ programs store
// them: key -> (bytes, type).
std::map<std::string, Typed> EveryKind() {
  return {
      {"bytes", {std::string("\x00\x01\xfe\xff", 4), ValueType::kBytes}},
      {"bytes-text", {"plain", ValueType::kBytes}},
      {"text", {"h\xc3\xa9llo \"w\"\n", ValueType::kText}},
      {"int", {Int64Bytes(-42), ValueType::kInt64}},
      {"int-max",
       {Int64Bytes(std::numeric_limits<int64_t>::max()), ValueType::kInt64}},
      {"float", {Float64Bytes(0.1), ValueType::kFloat64}},
      {"float-big", {Float64Bytes(1e100), ValueType::kFloat64}},
      {"float-neg-zero", {Float64Bytes(-0.0), ValueType::kFloat64}},
      {"float-nan",
       {Float64Bytes(std::numeric_limits<double>::quiet_NaN()),
        ValueType::kFloat64}},
      {"pickle", {PickleBytes(), ValueType::kPickle}},
      {"reserved", {"r", static_cast<ValueType>(9)}},
      {"int-short", {"abc", ValueType::kInt64}},  // not 8 bytes: kept as is
  };
}

void PutAll(zcipc::ZeroCopyDict& dict, const std::map<std::string, Typed>& m) {
  for (const auto& [key, t] : m) {
    ASSERT_TRUE(dict.Put(key, t.value, t.type).ok()) << key;
  }
}

// ------------------------------------------------------------------ get ---

TEST(Get, PrintsEachTypeAsItsValue) {
  ScopedName name("vt-get");
  const std::string& n = name.name();
  Create(n);
  zcipc::ZeroCopyDict dict = AttachOrDie(n);
  PutAll(dict, EveryKind());
  struct Case {
    const char* key;
    std::string out;
  };
  const std::vector<Case> cases = {
      {"bytes", std::string("\x00\x01\xfe\xff\n", 5)},
      {"text", "h\xc3\xa9llo \"w\"\n\n"},
      {"int", "-42\n"},
      {"int-max", "9223372036854775807\n"},
      {"float", "0.1\n"},
      {"float-big", "1e+100\n"},
      {"float-neg-zero", "-0.0\n"},
      {"float-nan", "nan\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.key);
    Result r = Zcipc({"get", n, c.key});
    EXPECT_EXIT_CODE(r, 0);
    EXPECT_EQ(r.out, c.out);
    EXPECT_EQ(r.err, "");
  }
  // A pickle is printed as base64, with a note on stderr.
  Result r = Zcipc({"get", n, "pickle"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(r.out, absl::StrCat(absl::Base64Escape(PickleBytes()), "\n"));
  EXPECT_THAT(r.err, HasSubstr("pickle"));
  // A reserved type (a newer writer's): its bytes, with a note.
  r = Zcipc({"get", n, "reserved"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(r.out, "r\n");
  EXPECT_THAT(r.err, HasSubstr("type-9"));
  // --raw, --hex and --base64 show any value's bytes.
  r = Zcipc({"get", n, "int", "--raw"});
  EXPECT_EQ(r.out, Int64Bytes(-42));
  r = Zcipc({"get", n, "pickle", "--raw"});
  EXPECT_EQ(r.out, PickleBytes());
  EXPECT_EQ(r.err, "");
  r = Zcipc({"get", n, absl::BytesToHexString("float"), "--hex"});
  EXPECT_EQ(r.out,
            absl::StrCat(absl::BytesToHexString(Float64Bytes(0.1)), "\n"));
  // A value typed int that is not 8 bytes is not a number: an error that
  // points to --raw.
  r = Zcipc({"get", n, "int-short"});
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr("--raw"));
  // --int64 reads an int, or 8 untyped bytes; not a float.
  EXPECT_EQ(Zcipc({"get", n, "int", "--int64"}).out, "-42\n");
  r = Zcipc({"get", n, "float", "--int64"});
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr("float"));
}

TEST(Get, JsonCarriesTheType) {
  ScopedName name("vt-getjson");
  const std::string& n = name.name();
  Create(n);
  zcipc::ZeroCopyDict dict = AttachOrDie(n);
  PutAll(dict, EveryKind());
  auto get = [&](const char* key) {
    Result r = Zcipc({"get", n, key, "--json"});
    EXPECT_EXIT_CODE(r, 0);
    return ParseJson(r.out);
  };
  EXPECT_EQ(get("int"),
            Json::parse(R"({"key":"int","value":-42,"type":"int"})"));
  Json f = get("float");
  EXPECT_EQ(f["type"], "float");
  EXPECT_TRUE(f["value"].is_number_float());
  EXPECT_EQ(f["value"].get<double>(), 0.1);
  EXPECT_EQ(get("text"), Json({{"key", "text"},
                               {"value", "h\xc3\xa9llo \"w\"\n"},
                               {"type", "text"}}));
  // Bytes have no "type" (as in a dump).
  EXPECT_EQ(get("bytes-text"),
            Json::parse(R"({"key":"bytes-text","value":"plain"})"));
  EXPECT_EQ(get("bytes"),
            Json::parse(R"({"key":"bytes","value_base64":"AAH+/w=="})"));
  EXPECT_EQ(get("pickle"),
            Json({{"key", "pickle"},
                  {"value_base64", absl::Base64Escape(PickleBytes())},
                  {"type", "pickle"}}));
  EXPECT_EQ(get("reserved")["type"], "type-9");
}

// ------------------------------------------------------------------ put ---

TEST(Put, TypeStoresTheValueAndItsType) {
  ScopedName name("vt-put");
  const std::string& n = name.name();
  Create(n);
  struct Case {
    std::vector<std::string> args;
    Typed stored;
  };
  const std::vector<Case> cases = {
      {{"k", "v"}, {"v", ValueType::kBytes}},
      {{"k", "v", "--type=bytes"}, {"v", ValueType::kBytes}},
      {{"k", "h\xc3\xa9", "--type=text"}, {"h\xc3\xa9", ValueType::kText}},
      {{"k", "-5", "--type=int"}, {Int64Bytes(-5), ValueType::kInt64}},
      {{"k", "-9223372036854775808", "--type=int"},
       {Int64Bytes(std::numeric_limits<int64_t>::min()), ValueType::kInt64}},
      {{"k", "2.5", "--type=float"}, {Float64Bytes(2.5), ValueType::kFloat64}},
      {{"k", "-1e-300", "--type", "float"},
       {Float64Bytes(-1e-300), ValueType::kFloat64}},
      // --hex is for the key (and a text value); a number stays decimal.
      {{"6b", "7", "--type=int", "--hex"}, {Int64Bytes(7), ValueType::kInt64}},
      {{"6b", "c3a9", "--type=text", "--hex"}, {"\xc3\xa9", ValueType::kText}},
  };
  zcipc::ZeroCopyDict dict = AttachOrDie(n);
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    std::vector<std::string> args = {"put", n};
    args.insert(args.end(), c.args.begin(), c.args.end());
    Result r = Zcipc(args);
    EXPECT_EXIT_CODE(r, 0);
    EXPECT_EQ(GetTyped(dict, "k"), c.stored);
  }
  // The value on stdin (a trailing newline is allowed around a number).
  Result r = Zcipc({"put", n, "k", "--type=int"}, "12\n");
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(GetTyped(dict, "k"), (Typed{Int64Bytes(12), ValueType::kInt64}));
}

TEST(Put, BadTypedValuesAreUsageErrorsAndStoreNothing) {
  ScopedName name("vt-putbad");
  const std::string& n = name.name();
  Create(n);
  const std::vector<std::vector<std::string>> cases = {
      {"put", n, "k", "--type=text", "--hex", "ff"},  // not UTF-8
      {"put", n, "k", "--type=text", "\xc3"},         // cut short
      {"put", n, "k", "--type=int", "12x"},
      {"put", n, "k", "--type=int", "9223372036854775808"},
      {"put", n, "k", "--type=int", "1.5"},
      {"put", n, "k", "--type=float", "one"},
      {"put", n, "k", "--type=pickle", "x"},  // not a type put writes
      {"put", n, "k", "--type=str", "x"},
  };
  for (const auto& args : cases) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    Result r = Zcipc(args);
    EXPECT_EXIT_CODE(r, 2);
    EXPECT_THAT(r.err, HasSubstr("zcipc put: "));
  }
  Result r = Zcipc({"put", n, "k", "--type=text"}, std::string("\xff\n", 2));
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("UTF-8"));
  zcipc::ZeroCopyDict dict = AttachOrDie(n);
  EXPECT_EQ(dict.Size(), 0u);
}

// ------------------------------------------------------------------ add ---

TEST(Add, CountsOnAnIntThatPutOrPythonStored) {
  ScopedName name("vt-add");
  const std::string& n = name.name();
  Create(n);
  ASSERT_EQ(Zcipc({"put", n, "hits", "40", "--type=int"}).exit_code, 0);
  Result r = Zcipc({"add", n, "hits", "2"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(r.out, "42\n");
  zcipc::ZeroCopyDict dict = AttachOrDie(n);
  EXPECT_EQ(GetTyped(dict, "hits"), (Typed{Int64Bytes(42), ValueType::kInt64}));
  EXPECT_EQ(Zcipc({"get", n, "hits"}).out, "42\n");
  // An int stored through the API as the Python package stores one.
  ASSERT_TRUE(dict.Put("py", Int64Bytes(-7), ValueType::kInt64).ok());
  EXPECT_EQ(Zcipc({"add", n, "py", "10"}).out, "3\n");
  // A new counter is an int too.
  EXPECT_EQ(Zcipc({"add", n, "fresh", "5"}).out, "5\n");
  EXPECT_EQ(GetTyped(dict, "fresh").type, ValueType::kInt64);
  EXPECT_EQ(Zcipc({"get", n, "fresh"}).out, "5\n");
  // Text and floats are not counters, whatever their size.
  ASSERT_EQ(Zcipc({"put", n, "t", "12345678", "--type=text"}).exit_code, 0);
  ASSERT_EQ(Zcipc({"put", n, "f", "1.5", "--type=float"}).exit_code, 0);
  for (const char* key : {"t", "f"}) {
    r = Zcipc({"add", n, key, "1"});
    EXPECT_EXIT_CODE(r, 1);
  }
}

// ------------------------------------------------------------ dump/load ---

TEST(DumpLoad, RoundTripKeepsEveryValueAndType) {
  ScopedName a("vt-dump-a"), b("vt-dump-b");
  Create(a.name());
  zcipc::ZeroCopyDict da = AttachOrDie(a.name());
  const std::map<std::string, Typed> every = EveryKind();
  PutAll(da, every);
  Result dump = Zcipc({"dump", a.name()});
  ASSERT_EXIT_CODE(dump, 0);
  std::vector<std::string> lines = Lines(dump.out);
  ASSERT_EQ(lines.size(), every.size() + 2);
  EXPECT_EQ(ParseJson(lines[0])["zcipc_dump"], 3);
  std::map<std::string, Json> by_key;
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    Json j = ParseJson(lines[i]);
    by_key[j["key"].get<std::string>()] = j;
  }
  // Numbers as JSON numbers; bytes without a type; the rest by name.
  EXPECT_EQ(by_key["int"],
            Json::parse(R"({"key":"int","value":-42,"type":"int"})"));
  EXPECT_EQ(by_key["float"]["value"].get<double>(), 0.1);
  EXPECT_EQ(by_key["text"]["type"], "text");
  EXPECT_EQ(by_key["text"]["value"], "h\xc3\xa9llo \"w\"\n");
  EXPECT_FALSE(by_key["bytes"].contains("type"));
  EXPECT_FALSE(by_key["bytes-text"].contains("type"));
  EXPECT_EQ(by_key["pickle"]["type"], "pickle");
  EXPECT_EQ(by_key["reserved"]["type"], "type-9");
  // Values that are no JSON number keep their bytes.
  EXPECT_EQ(by_key["float-nan"]["type"], "float");
  EXPECT_TRUE(by_key["float-nan"].contains("value_base64"));
  EXPECT_EQ(by_key["int-short"],
            Json::parse(R"({"key":"int-short","value":"abc","type":"int"})"));

  Result load = Zcipc({"load", b.name()}, dump.out);
  ASSERT_EXIT_CODE(load, 0);
  zcipc::ZeroCopyDict db = AttachOrDie(b.name());
  EXPECT_EQ(Contents(db), every);
  // And into an existing dict (the Write batch path, replacing values).
  ASSERT_TRUE(db.Put("int", "untyped").ok());
  load = Zcipc({"load", b.name()}, dump.out);
  ASSERT_EXIT_CODE(load, 0);
  EXPECT_EQ(Contents(db), every);
}

TEST(DumpLoad, AnUntypedDictStillDumpsFormat2) {
  ScopedName a("vt-dump2");
  Create(a.name());
  ASSERT_EQ(Zcipc({"put", a.name(), "k", "v"}).exit_code, 0);
  Result dump = Zcipc({"dump", a.name()});
  std::vector<std::string> lines = Lines(dump.out);
  ASSERT_EQ(lines.size(), 3u) << dump.out;
  EXPECT_EQ(ParseJson(lines[0])["zcipc_dump"], 2);
  EXPECT_EQ(lines[1], R"({"key":"k","value":"v"})");
}

TEST(DumpLoad, LoadRefusesUnknownTypesAndMistypedValues) {
  ScopedName b("vt-load-bad");
  const std::string header =
      R"({"zcipc_dump":3,"name":"x","items":1,"max_items":10,"heap_size":65536})";
  const std::string end = R"({"end":true,"items":1})";
  struct Case {
    std::string entry;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"({"key":"k","value":"v","type":"decimal"})", "decimal"},
      {R"({"key":"k","value":"v","type":"type-3"})", "type-3"},
      {R"({"key":"k","value":"v","type":"type-256"})", "type-256"},
      {R"({"key":"k","value":"v","type":7})", "type"},
      {R"({"key":"k","value":1})", "number"},
      {R"({"key":"k","value":1,"type":"text"})", "number"},
      {R"({"key":"k","value":1.5,"type":"int"})", "int"},
      {R"({"key":"k","value":9223372036854775808,"type":"int"})", "int"},
      {R"({"key":"k","value_base64":"AA==","value":1,"type":"int"})",
       "exactly one"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.entry);
    Result r = Zcipc({"load", b.name()},
                     absl::StrCat(header, "\n", c.entry, "\n", end, "\n"));
    EXPECT_EXIT_CODE(r, 1);
    EXPECT_THAT(r.err, HasSubstr("line 2: "));
    EXPECT_THAT(r.err, HasSubstr(c.message));
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(zcipc::ZeroCopyDict::Attach(b.name()).status().code(),
              absl::StatusCode::kNotFound);
  }
  // A number for an int or a float, and "type":"bytes", load.
  Result r =
      Zcipc({"load", b.name()},
            absl::StrCat(R"({"key":"i","value":5,"type":"int"})", "\n",
                         R"({"key":"f","value":5,"type":"float"})", "\n",
                         R"({"key":"b","value":"x","type":"bytes"})", "\n"));
  ASSERT_EXIT_CODE(r, 0);
  zcipc::ZeroCopyDict db = AttachOrDie(b.name());
  EXPECT_EQ(GetTyped(db, "i"), (Typed{Int64Bytes(5), ValueType::kInt64}));
  EXPECT_EQ(GetTyped(db, "f"), (Typed{Float64Bytes(5), ValueType::kFloat64}));
  EXPECT_EQ(GetTyped(db, "b"), (Typed{"x", ValueType::kBytes}));
}

// --------------------------------------------------------------- follow ---

// Waits until the child's stdout holds `lines` whole lines.
bool WaitForLines(const Child& child, size_t lines) {
  const absl::Time deadline = absl::Now() + kPatience;
  while (absl::Now() < deadline) {
    std::string out = child.Out();
    if (static_cast<size_t>(std::count(out.begin(), out.end(), '\n')) >=
        lines) {
      return true;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

TEST(Follow, PrintsValuesByType) {
  ScopedName name("vt-follow");
  const std::string& n = name.name();
  Create(n);
  zcipc::ZeroCopyDict dict = AttachOrDie(n);
  ASSERT_TRUE(dict.Put("b", std::string("\x00\xff", 2)).ok());
  ASSERT_TRUE(dict.Put("t", "h\xc3\xa9 \"x\"", ValueType::kText).ok());
  ASSERT_TRUE(dict.Put("i", Int64Bytes(-42), ValueType::kInt64).ok());
  ASSERT_TRUE(dict.Put("f", Float64Bytes(2.5), ValueType::kFloat64).ok());
  ASSERT_TRUE(dict.Put("p", PickleBytes(), ValueType::kPickle).ok());
  ASSERT_TRUE(dict.Add("c", 3).ok());

  Child text(ZcipcPath(), {"watch", n, "--follow", "--since=0"});
  ASSERT_TRUE(WaitForLines(text, 6)) << text.Out() << text.Err();
  EXPECT_EQ(kill(text.pid(), SIGTERM), 0);
  Result r = text.Wait();
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(Lines(r.out),
              ElementsAre("1 put \"b\" = \"\\x00\\xff\"",
                          "2 put \"t\" = \"h\xc3\xa9 \\\"x\\\"\"",
                          "3 put \"i\" = -42", "4 put \"f\" = 2.5",
                          "5 put \"p\" = (pickle) \"\\x80\\x04K\\x01.\"",
                          "6 put \"c\" = 3"));

  Child json(ZcipcPath(), {"watch", n, "--follow", "--since=0", "--json"});
  ASSERT_TRUE(WaitForLines(json, 6)) << json.Out() << json.Err();
  EXPECT_EQ(kill(json.pid(), SIGTERM), 0);
  r = json.Wait();
  EXPECT_EXIT_CODE(r, 0);
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 6u) << r.out;
  EXPECT_EQ(
      ParseJson(lines[0]),
      Json::parse(R"({"seq":1,"kind":"put","key":"b","value_base64":"AP8="})"));
  EXPECT_EQ(ParseJson(lines[1]), Json({{"seq", 2},
                                       {"kind", "put"},
                                       {"key", "t"},
                                       {"value", "h\xc3\xa9 \"x\""},
                                       {"type", "text"}}));
  EXPECT_EQ(
      ParseJson(lines[2]),
      Json::parse(
          R"({"seq":3,"kind":"put","key":"i","value":-42,"type":"int"})"));
  EXPECT_EQ(
      ParseJson(lines[3]),
      Json::parse(
          R"({"seq":4,"kind":"put","key":"f","value":2.5,"type":"float"})"));
  EXPECT_EQ(ParseJson(lines[4])["type"], "pickle");
  EXPECT_EQ(ParseJson(lines[5]),
            Json::parse(
                R"({"seq":6,"kind":"put","key":"c","value":3,"type":"int"})"));
}

}  // namespace

int main(int argc, char** argv) {
  return zcipc_cli_test::RunAllTests(argc, argv, {"PATH_TO_ZCIPC"});
}
