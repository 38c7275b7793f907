// Runs the real zcipc binary (argv[1], from Bazel's data) and checks the data
// commands' contracts: a dump ends with an end line and load verifies it
// (a short, long or malformed dump fails and creates nothing), strict header
// fields and base64, honest load summaries, `zcipc --version`, flag ranges in
// messages, and put's stdin (a prompt on a terminal, a size limit).

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/cli_runner.h"
#include "tests/test_util.h"
#include "zcipc/options.h"

namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::zcipc_cli_test::Json;
using ::zcipc_cli_test::Result;
using ::zcipc_cli_test::Stdin;
using ::zcipc_cli_test::Zcipc;
using ::zcipc_test::ScopedName;
using ::zcipc_test::SegmentPath;

bool Exists(const std::string& name) {
  return access(SegmentPath(name).c_str(), F_OK) == 0;
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

std::string JoinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) absl::StrAppend(&out, l, "\n");
  return out;
}

// A dict with three entries (k1, k2, k3); returns its dump's lines.
std::vector<std::string> DumpOfThree(const std::string& name) {
  EXPECT_EQ(
      Zcipc({"create", name, "--max-items=100", "--heap-size=64KiB"}).exit_code,
      0);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(Zcipc({"put", name, absl::StrCat("k", i), absl::StrCat("v", i)})
                  .exit_code,
              0);
  }
  Result dump = Zcipc({"dump", name});
  EXPECT_EXIT_CODE(dump, 0);
  return Lines(dump.out);
}

// ------------------------------------------------------------ dump/load ---

TEST(DumpFormat, HeaderEntriesAndAnEndLine) {
  ScopedName a("cd-fmt");
  std::vector<std::string> lines = DumpOfThree(a.name());
  ASSERT_EQ(lines.size(), 5u);
  Json header = Json::parse(lines[0]);
  EXPECT_EQ(header["zcipc_dump"], 2);
  EXPECT_EQ(header["items"], 3);
  Json end = Json::parse(lines[4]);
  EXPECT_EQ(end, Json::parse("{\"end\":true,\"items\":3}"));
}

TEST(Load, ACompleteDumpLoads) {
  ScopedName a("cd-full-a"), b("cd-full-b");
  std::vector<std::string> lines = DumpOfThree(a.name());
  Result r = Zcipc({"load", b.name()}, JoinLines(lines));
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(r.out,
            absl::StrCat("loaded 3 entries into ", b.name(), " (created)\n"));
  EXPECT_EQ(Zcipc({"get", b.name(), "k3"}).out, "v3\n");
}

TEST(Load, ATruncatedDumpFailsAndCreatesNothing) {
  ScopedName a("cd-trunc-a"), b("cd-trunc-b");
  std::vector<std::string> lines = DumpOfThree(a.name());
  ASSERT_EQ(lines.size(), 5u);
  // `zcipc dump A | head -N | zcipc load B` for every N short of the whole.
  for (size_t keep = 1; keep < lines.size(); ++keep) {
    SCOPED_TRACE(absl::StrCat("first ", keep, " lines"));
    std::vector<std::string> head(lines.begin(), lines.begin() + keep);
    Result r = Zcipc({"load", b.name()}, JoinLines(head));
    EXPECT_EXIT_CODE(r, 1);
    EXPECT_THAT(r.err, HasSubstr("truncated"));
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_FALSE(Exists(b.name())) << "a truncated dump created the dict";
  }
  // A line cut in the middle.
  std::string cut = JoinLines(lines);
  cut.resize(cut.size() - 5);
  Result r = Zcipc({"load", b.name()}, cut);
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_FALSE(Exists(b.name()));
  // An entry missing from the middle.
  std::vector<std::string> gap = lines;
  gap.erase(gap.begin() + 2);
  r = Zcipc({"load", b.name()}, JoinLines(gap));
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr("2 entries"));
  EXPECT_FALSE(Exists(b.name()));
}

TEST(Load, ALongOrMalformedDumpFails) {
  ScopedName a("cd-long-a"), b("cd-long-b");
  std::vector<std::string> lines = DumpOfThree(a.name());
  ASSERT_EQ(lines.size(), 5u);
  const std::string extra = "{\"key\":\"k9\",\"value\":\"v9\"}";
  std::vector<std::vector<std::string>> cases;
  cases.push_back(lines);  // an entry more than the header says
  cases.back().insert(cases.back().begin() + 4, extra);
  cases.push_back(lines);  // a line after the end
  cases.back().push_back(extra);
  cases.push_back(lines);  // two ends
  cases.back().push_back(lines[4]);
  cases.push_back(lines);  // the end line disagrees with the header
  cases.back()[4] = "{\"end\":true,\"items\":4}";
  cases.push_back(lines);  // an end line that is not one
  cases.back()[4] = "{\"end\":false,\"items\":3}";
  cases.push_back(lines);  // an entry with a field too many
  cases.back()[2] = "{\"key\":\"k2\",\"value\":\"v2\",\"end\":true}";
  cases.push_back(lines);  // an end line without a header
  cases.back().erase(cases.back().begin());
  for (const std::vector<std::string>& input : cases) {
    SCOPED_TRACE(JoinLines(input));
    Result r = Zcipc({"load", b.name()}, JoinLines(input));
    EXPECT_EXIT_CODE(r, 1);
    EXPECT_FALSE(r.err.empty());
    EXPECT_FALSE(Exists(b.name()));
  }
  Result r = Zcipc({"load", b.name()}, "");
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr("empty"));
  EXPECT_FALSE(Exists(b.name()));
}

TEST(Load, AnOlderDumpWithoutEndLineIsCheckedByItsCount) {
  ScopedName b("cd-v1");
  const std::string header =
      "{\"zcipc_dump\":1,\"name\":\"x\",\"items\":2,\"max_items\":100,"
      "\"heap_size\":65536}\n";
  const std::string one = "{\"key\":\"a\",\"value\":\"1\"}\n";
  const std::string two = "{\"key\":\"b\",\"value\":\"2\"}\n";
  Result r = Zcipc({"load", b.name()}, header + one);
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr("truncated"));
  EXPECT_FALSE(Exists(b.name()));
  r = Zcipc({"load", b.name()},
            header + one + two + "{\"key\":\"c\",\"value\":\"3\"}\n");
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_FALSE(Exists(b.name()));
  r = Zcipc({"load", b.name()}, header + one + two);
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(Zcipc({"get", b.name(), "b"}).out, "2\n");
}

TEST(Load, BadHeaderFieldsAreErrors) {
  ScopedName b("cd-hdr");
  const std::string entry = "{\"key\":\"a\",\"value\":\"1\"}\n";
  const std::string end = "{\"end\":true,\"items\":1}\n";
  auto header = [](const std::string& max_items, const std::string& heap_size) {
    return absl::StrCat("{\"zcipc_dump\":2,\"name\":\"x\",\"items\":1,",
                        "\"max_items\":", max_items,
                        ",\"heap_size\":", heap_size, "}\n");
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {header("-1", "65536"), "max_items"},
      {header("0", "65536"), "max_items"},
      {header("4294967297", "65536"), "max_items"},
      {header("1.5", "65536"), "max_items"},
      {header("100", "1e30"), "heap_size"},
      {header("100", "\"1MiB\""), "heap_size"},
      {header("100", "100"), "heap_size"},
      {header("100", "null"), "heap_size"},
      {"{\"zcipc_dump\":2,\"items\":1,\"max_items\":100}\n", "heap_size"},
      {"{\"zcipc_dump\":2,\"items\":-1,\"max_items\":100,\"heap_size\":65536}"
       "\n",
       "items"},
      {"{\"zcipc_dump\":2,\"items\":1,\"max_items\":100,\"heap_size\":65536,"
       "\"colour\":1}\n",
       "colour"},
      {"{\"zcipc_dump\":\"2\",\"items\":1,\"max_items\":100,"
       "\"heap_size\":65536}\n",
       "zcipc_dump"},
  };
  for (const auto& [head, field] : cases) {
    SCOPED_TRACE(head);
    Result r = Zcipc({"load", b.name()}, head + entry + end);
    EXPECT_EXIT_CODE(r, 1);
    EXPECT_THAT(r.err, HasSubstr(field));
    EXPECT_FALSE(Exists(b.name()));
  }
  // The same header with good fields loads.
  Result r = Zcipc({"load", b.name()}, header("100", "65536") + entry + end);
  EXPECT_EXIT_CODE(r, 0);
}

TEST(Load, CapacityFlagsForAnExistingDictAreUsageErrors) {
  ScopedName b("cd-exists");
  ASSERT_EQ(Zcipc({"create", b.name(), "--max-items=10", "--heap-size=64KiB"})
                .exit_code,
            0);
  const std::string input = "{\"key\":\"a\",\"value\":\"1\"}\n";
  for (const char* flag :
       {"--max-items=1000", "--heap-size=1MiB", "--change-log-bytes=8KiB",
        "--max-segment-size=1GiB"}) {
    SCOPED_TRACE(flag);
    Result r = Zcipc({"load", b.name(), flag}, input);
    EXPECT_EXIT_CODE(r, 2);
    EXPECT_THAT(r.err, HasSubstr("exists"));
    EXPECT_THAT(r.err, HasSubstr("size a dict that load creates"));
    EXPECT_THAT(r.err, HasSubstr("zcipc grow"));
    EXPECT_EXIT_CODE(Zcipc({"get", b.name(), "a"}), 1);
  }
  EXPECT_EXIT_CODE(Zcipc({"load", b.name()}, input), 0);
  EXPECT_EQ(Zcipc({"get", b.name(), "a"}).out, "1\n");
}

TEST(Load, AnExistingDictIsUnchangedByABadLine) {
  ScopedName b("cd-exists-bad");
  ASSERT_EQ(Zcipc({"create", b.name(), "--heap-size=64KiB"}).exit_code, 0);
  ASSERT_EQ(Zcipc({"put", b.name(), "a", "old"}).exit_code, 0);
  Result r = Zcipc({"load", b.name()},
                   "{\"key\":\"a\",\"value\":\"new\"}\n"
                   "{\"key\":\"b\",\"value_base64\":\"AAH\"}\n");
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_EQ(Zcipc({"get", b.name(), "a"}).out, "old\n");
  EXPECT_EXIT_CODE(Zcipc({"get", b.name(), "b"}), 1);
}

TEST(Load, Base64IsStrict) {
  ScopedName b("cd-b64");
  for (const char* bad :
       {"AAH", "AA H=", "AB==", "AAE=\n", "A===", "AAE=AAE="}) {
    SCOPED_TRACE(bad);
    Json line{{"key", "k"}, {"value_base64", bad}};
    Result r = Zcipc({"load", b.name()}, line.dump() + "\n");
    EXPECT_EXIT_CODE(r, 1);
    EXPECT_THAT(r.err, HasSubstr("not valid base64"));
    EXPECT_FALSE(Exists(b.name()));
  }
  Json good{{"key_base64", "AAH+/w=="}, {"value_base64", ""}};
  EXPECT_EXIT_CODE(Zcipc({"load", b.name()}, good.dump() + "\n"), 0);
  // The command line's --base64 is strict too (surrounding whitespace of a
  // value on stdin is allowed).
  for (const char* bad : {"AAH", "AA H=", "AB=="}) {
    SCOPED_TRACE(bad);
    EXPECT_EXIT_CODE(Zcipc({"get", b.name(), bad, "--base64"}), 2);
    EXPECT_EXIT_CODE(Zcipc({"put", b.name(), "k", bad, "--base64"}), 2);
  }
  EXPECT_EXIT_CODE(Zcipc({"put", b.name(), "aw==", "--base64"}, " AAE=\n"), 0);
  EXPECT_EQ(Zcipc({"get", b.name(), "6b", "--hex"}).out, "0001\n");
}

TEST(Load, SummaryCountsDuplicateKeys) {
  ScopedName b("cd-dup");
  Result r = Zcipc({"load", b.name()},
                   "{\"key\":\"a\",\"value\":\"1\"}\n"
                   "{\"key\":\"b\",\"value\":\"2\"}\n"
                   "{\"key\":\"a\",\"value\":\"3\"}\n");
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(r.out, absl::StrCat("loaded 3 entries into ", b.name(),
                                " (created): 2 keys, 1 duplicate key "
                                "overwritten\n"));
  EXPECT_EQ(Zcipc({"get", b.name(), "a"}).out, "3\n");  // the last line wins
  r = Zcipc({"load", b.name()},
            "{\"key\":\"c\",\"value\":\"1\"}\n{\"key\":\"c\",\"value\":\"2\"}\n"
            "{\"key\":\"c\",\"value\":\"3\"}\n");
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(r.out, absl::StrCat("loaded 3 entries into ", b.name(),
                                ": 1 key, 2 duplicate keys overwritten\n"));
}

TEST(Load, ANewDictGrowsPastTheDumpedSizes) {
  ScopedName b("cd-grow");
  // More distinct keys than the header's max_items, more bytes than its
  // heap: the new dict grows as they go in.
  std::string input =
      "{\"zcipc_dump\":2,\"name\":\"x\",\"items\":3,\"max_items\":2,"
      "\"heap_size\":4096}\n";
  for (int i = 0; i < 3; ++i) {
    Json line{{"key", absl::StrCat("k", i)}, {"value", std::string(1500, 'v')}};
    absl::StrAppend(&input, line.dump(), "\n");
  }
  absl::StrAppend(&input, "{\"end\":true,\"items\":3}\n");
  Result r = Zcipc({"load", b.name()}, input);
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
  EXPECT_THAT(r.out, HasSubstr("loaded 3 entries"));
  Json stat = Json::parse(Zcipc({"stat", b.name(), "--json"}).out);
  EXPECT_EQ(stat["occupancy"]["items"], 3);
  EXPECT_GE(stat["growth"]["grows_total"].get<uint64_t>(), 2u);
  EXPECT_EQ(Zcipc({"get", b.name(), "k2"}).out, std::string(1500, 'v') + "\n");
}

TEST(Load, ANewDictIsAllOrNothing) {
  ScopedName b("cd-atomic");
  // Values that pass the dict's largest segment: the dict is created, the
  // first writes succeed (growing it), a later one fails, and the dict this
  // load created is removed.
  std::string input =
      "{\"zcipc_dump\":2,\"name\":\"x\",\"items\":5,\"max_items\":100,"
      "\"heap_size\":4096}\n";
  for (int i = 0; i < 5; ++i) {
    Json line{{"key", absl::StrCat("k", i)},
              {"value", std::string(1 << 20, 'v')}};
    absl::StrAppend(&input, line.dump(), "\n");
  }
  absl::StrAppend(&input, "{\"end\":true,\"items\":5}\n");
  Result r = Zcipc(
      {"load", b.name(), "--change-log-bytes=0", "--max-segment-size=2MiB"},
      input);
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr("resource exhausted"));
  EXPECT_THAT(r.err, HasSubstr("removed"));
  EXPECT_FALSE(Exists(b.name())) << "a partial load left the new dict";
}

// -------------------------------------------------------------- version ---

TEST(Version, PrintsTheProjectAndFormatVersions) {
  const std::string expected =
      absl::StrCat("zcipc ", zcipc::kProjectVersion, " (format version ",
                   zcipc::kFormatVersion, ")\n");
  for (const char* arg : {"--version", "version"}) {
    SCOPED_TRACE(arg);
    Result r = Zcipc({arg});
    EXPECT_EXIT_CODE(r, 0);
    EXPECT_EQ(r.out, expected);
    EXPECT_TRUE(r.err.empty()) << r.err;
  }
  EXPECT_THAT(Zcipc({"help"}).out, HasSubstr("version"));
  EXPECT_EXIT_CODE(Zcipc({"version", "extra"}), 2);
}

// ------------------------------------------------------------- messages ---

TEST(FlagRanges, OutOfRangeValuesStateTheRange) {
  ScopedName d("cd-range");
  const std::string items_range = absl::StrCat("1 to ", zcipc::kMaxItems);
  const std::string heap_range =
      absl::StrCat(zcipc::kMinHeapSize, " to ", zcipc::kMaxHeapSize);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"create", d.name(), "--max-items=-1"}, items_range},
      {{"create", d.name(), "--max-items=0"}, items_range},
      {{"create", d.name(), "--max-items=4294967297"}, items_range},
      {{"load", d.name(), "--max-items=-1"}, items_range},
      {{"create", d.name(), "--heap-size=1KiB"}, heap_range},
      {{"create", d.name(), "--heap-size=2TiB"}, heap_range},
      {{"create", d.name(), "--heap-size=-5"}, heap_range},
      {{"get", d.name(), "k", "--lock-timeout=-1s"}, "0 or more"},
  };
  for (const auto& [args, range] : cases) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    Result r = Zcipc(args);
    EXPECT_EXIT_CODE(r, 2);
    EXPECT_THAT(r.err, HasSubstr("bad value for --"));
    EXPECT_THAT(r.err, HasSubstr(range));
    EXPECT_FALSE(Exists(d.name()));
  }
  // The limits themselves are valid.
  EXPECT_EXIT_CODE(Zcipc({"create", d.name(), "--max-items=1",
                          absl::StrCat("--heap-size=", zcipc::kMinHeapSize)}),
                   0);
}

TEST(Put, ATerminalOnStdinGetsAPrompt) {
  ScopedName d("cd-tty");
  ASSERT_EQ(Zcipc({"create", d.name(), "--heap-size=64KiB"}).exit_code, 0);
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  ASSERT_GE(master, 0);
  ASSERT_EQ(grantpt(master), 0);
  ASSERT_EQ(unlockpt(master), 0);
  int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
  ASSERT_GE(slave, 0);
  // The terminal's line discipline: a line, then Ctrl-D (end of file).
  const char typed[] = "typed value\n\x04";
  ASSERT_EQ(write(master, typed, sizeof(typed) - 1),
            static_cast<ssize_t>(sizeof(typed) - 1));
  Stdin in;
  in.tty_fd = slave;
  Result r = Zcipc({"put", d.name(), "k"}, in);
  close(slave);
  close(master);
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.err, HasSubstr("reading the value from stdin"));
  EXPECT_THAT(r.err, HasSubstr("Ctrl-D"));
  EXPECT_EQ(Zcipc({"get", d.name(), "k", "--raw"}).out, "typed value\n");
  // Not a terminal: no prompt.
  r = Zcipc({"put", d.name(), "k"}, std::string("piped"));
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(Put, StdinLargerThanTheHeapFailsWithoutReadingItAll) {
  ScopedName d("cd-big");
  ASSERT_EQ(Zcipc({"create", d.name(), "--heap-size=1MiB"}).exit_code, 0);
  constexpr uint64_t kStream = 64ull << 20;  // 64 times the heap
  for (std::vector<std::string> args :
       {std::vector<std::string>{"put", d.name(), "big"},
        std::vector<std::string>{"put", d.name(), "YmlnCg==", "--base64"}}) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    Stdin in;
    in.generate = kStream;
    Result r = Zcipc(args, in);
    EXPECT_EXIT_CODE(r, 1);
    EXPECT_THAT(r.err, HasSubstr("1048576"));  // the heap size, in bytes
    EXPECT_THAT(r.err, HasSubstr(d.name()));
    // It stopped reading soon after the limit (the pipe holds at most 1 MiB).
    EXPECT_LT(r.stdin_written, 8ull << 20) << r.Describe();
  }
  EXPECT_EXIT_CODE(Zcipc({"get", d.name(), "big"}), 1);
}

}  // namespace

int main(int argc, char** argv) {
  return zcipc_cli_test::RunAllTests(argc, argv, {"PATH_TO_ZCIPC"});
}
