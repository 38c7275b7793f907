// Runs the real zcipc binary (argv[1], from Bazel's data) as a subprocess and
// checks each command's output and exit code: usage errors exit 2, a missing
// dict or key exits 1, a corrupt dict fails `check` with a report and crashes
// nothing, and dump/load round-trips binary keys and values exactly.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cli/cli_runner.h"
#include "tests/test_util.h"

namespace {

using ::testing::HasSubstr;
using ::zcipc_cli_test::Json;
using ::zcipc_cli_test::ParseJson;
using ::zcipc_cli_test::Result;
using ::zcipc_cli_test::Zcipc;
using ::zcipc_test::ScopedName;
using ::zcipc_test::SegmentPath;

std::string AllBytes() {
  std::string s;
  for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

// ---------------------------------------------------------------- usage ---

const char* const kCommands[] = {"ls",   "stat", "check", "watch",  "get",
                                 "put",  "del",  "add",   "create", "unlink",
                                 "dump", "load", "bench", "version"};

TEST(CliUsage, HelpListsEveryCommand) {
  Result r = Zcipc({"help"});
  EXPECT_EXIT_CODE(r, 0);
  for (const char* c : kCommands) EXPECT_THAT(r.out, HasSubstr(c));
  EXPECT_THAT(r.out, HasSubstr("Exit codes: 0 ok, 1 not found"));
  EXPECT_EXIT_CODE(Zcipc({"--help"}), 0);
}

TEST(CliUsage, EachCommandHasHelp) {
  for (const char* c : kCommands) {
    SCOPED_TRACE(c);
    Result r = Zcipc({c, "--help"});
    EXPECT_EXIT_CODE(r, 0);
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("usage: zcipc ", c)));
    Result h = Zcipc({"help", c});
    EXPECT_EXIT_CODE(h, 0);
    EXPECT_EQ(h.out, r.out);
  }
  Result r = Zcipc({"create", "-h"});
  EXPECT_THAT(r.out, HasSubstr("--max-items=10000"));
  EXPECT_THAT(r.out, HasSubstr("--heap-size=100MiB"));
}

TEST(CliUsage, BadCommandLinesExit2) {
  const std::vector<std::vector<std::string>> cases = {
      {},                                      // no command
      {"frobnicate"},                          // unknown command
      {"help", "frobnicate"},                  // help for an unknown one
      {"ls", "extra"},                         // too many arguments
      {"stat"},                                // missing NAME
      {"get", "d"},                            // missing KEY
      {"put", "d", "k", "v", "extra"},         // too many
      {"get", "d", "k", "--bogus"},            // unknown flag
      {"get", "d", "k", "--max-items=5"},      // another command's flag
      {"create", "d", "--max-items=lots"},     // bad integer
      {"create", "d", "--heap-size=12XB"},     // bad size unit
      {"create", "d", "--heap-size"},          // missing value
      {"watch", "d", "--interval=soon"},       // bad duration
      {"get", "d", "k", "--hex", "--base64"},  // exclusive encodings
      {"get", "d", "zz", "--hex"},             // bad hex
      {"get", "d", "!!", "--base64"},          // bad base64
      {"add", "d", "k", "lots"},               // DELTA not a number
      {"stat", "bad/name"},                    // invalid dict name
      {"create", "..", "--max-items=1"},       // invalid dict name
  };
  for (const auto& args : cases) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    Result r = Zcipc(args);
    EXPECT_EXIT_CODE(r, 2);
    EXPECT_FALSE(r.err.empty());
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  Result r = Zcipc({"create", "d", "--heap-size=12XB"});
  EXPECT_THAT(r.err, HasSubstr("bad value for --heap-size"));
  EXPECT_THAT(r.err, HasSubstr("unknown unit"));
  r = Zcipc({"get", "d", "k", "--max-items=5"});
  EXPECT_THAT(r.err, HasSubstr("unknown flag --max-items=5"));
}

TEST(CliUsage, MissingDictExits1) {
  ScopedName name("cli-missing");
  const std::string& n = name.name();
  const std::vector<std::vector<std::string>> cases = {
      {"stat", n},          {"check", n},    {"get", n, "k"},
      {"put", n, "k", "v"}, {"del", n, "k"}, {"add", n, "k", "1"},
      {"dump", n},          {"unlink", n},   {"watch", n, "--count=1"},
  };
  for (const auto& args : cases) {
    SCOPED_TRACE(args[0]);
    Result r = Zcipc(args);
    EXPECT_EXIT_CODE(r, 1);
    EXPECT_THAT(r.err, HasSubstr(absl::StrCat("no dict \"", n, "\"")));
  }
}

// ---------------------------------------------------------- key commands ---

TEST(CliData, CreatePutGetDelAddUnlink) {
  ScopedName name("cli-data");
  const std::string& n = name.name();
  Result r = Zcipc({"create", n, "--max-items", "500", "--heap-size=1MiB"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("created ", n, ": 500 items max")));
  EXPECT_THAT(r.out, HasSubstr("1.0 MiB heap"));
  r = Zcipc({"create", n});
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr("already exists"));

  EXPECT_EXIT_CODE(Zcipc({"put", n, "greeting", "hello world"}), 0);
  r = Zcipc({"get", n, "greeting"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(r.out, "hello world\n");
  EXPECT_EXIT_CODE(Zcipc({"put", n, "greeting"}, "from stdin"), 0);
  EXPECT_EQ(Zcipc({"get", n, "greeting", "--raw"}).out, "from stdin");

  r = Zcipc({"get", n, "absent"});
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr("no key \"absent\""));
  EXPECT_TRUE(r.out.empty());

  EXPECT_EXIT_CODE(Zcipc({"del", n, "greeting"}), 0);
  EXPECT_EXIT_CODE(Zcipc({"del", n, "greeting"}), 1);
  EXPECT_EXIT_CODE(Zcipc({"get", n, "greeting"}), 1);

  r = Zcipc({"add", n, "hits", "5"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(r.out, "5\n");
  r = Zcipc({"add", n, "hits", "-7"});  // a negative DELTA is not a flag
  EXPECT_EQ(r.out, "-2\n");
  r = Zcipc({"add", n, "hits", "--", "-3"});
  EXPECT_EQ(r.out, "-5\n");
  r = Zcipc({"get", n, "hits", "--int64"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_EQ(r.out, "-5\n");
  EXPECT_EQ(Zcipc({"get", n, "hits", "--raw"}).out,
            std::string("\xfb\xff\xff\xff\xff\xff\xff\xff", 8));

  EXPECT_EXIT_CODE(Zcipc({"put", n, "text", "abc"}), 0);
  r = Zcipc({"add", n, "text", "1"});  // not an 8-byte counter
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr("not an 8-byte counter"));
  EXPECT_EXIT_CODE(Zcipc({"get", n, "text", "--int64"}), 1);

  EXPECT_EXIT_CODE(Zcipc({"unlink", n}), 0);
  EXPECT_EXIT_CODE(Zcipc({"unlink", n}), 1);
  EXPECT_NE(access(SegmentPath(n).c_str(), F_OK), 0);
}

TEST(CliData, BinaryKeysAndValues) {
  ScopedName name("cli-bin");
  const std::string& n = name.name();
  ASSERT_EQ(Zcipc({"create", n, "--heap-size=1MiB"}).exit_code, 0);
  const std::string all = AllBytes();
  const std::string key(std::string("k\0\xff", 3));

  // --hex: key and value on the command line, value in the output.
  Result r = Zcipc({"put", n, "--hex", absl::BytesToHexString(key),
                    absl::BytesToHexString(all)});
  EXPECT_EXIT_CODE(r, 0);
  r = Zcipc({"get", n, absl::BytesToHexString(key), "--hex"});
  EXPECT_EQ(r.out, absl::BytesToHexString(all) + "\n");
  r = Zcipc({"get", n, absl::Base64Escape(key), "--base64"});
  EXPECT_EQ(r.out, absl::Base64Escape(all) + "\n");
  r = Zcipc({"get", n, absl::Base64Escape(key), "--base64", "--raw"});
  EXPECT_EQ(r.out, all);

  // Raw stdin: every byte value, NULs included.
  const std::string value = all + std::string(3, '\0') + all;
  EXPECT_EXIT_CODE(Zcipc({"put", n, "raw"}, value), 0);
  EXPECT_EQ(Zcipc({"get", n, "raw", "--raw"}).out, value);

  // Encoded stdin (whitespace around it ignored). With --base64 the key is
  // base64 too, and only canonical base64 is accepted: "b64" is not.
  EXPECT_EXIT_CODE(
      Zcipc({"put", n, "b64", "--base64"}, absl::Base64Escape(all) + "\n"), 2);
  EXPECT_EXIT_CODE(Zcipc({"put", n, absl::Base64Escape("b64"), "--base64"},
                         absl::Base64Escape(all) + "\n"),
                   0);
  EXPECT_EQ(Zcipc({"get", n, "b64", "--raw"}).out, all);

  // Deleting a binary key.
  EXPECT_EXIT_CODE(Zcipc({"del", n, absl::BytesToHexString(key), "--hex"}), 0);
  EXPECT_EXIT_CODE(Zcipc({"get", n, absl::BytesToHexString(key), "--hex"}), 1);
}

// ------------------------------------------------------ inspection tools ---

TEST(CliInspect, LsListsDictsAndIgnoresForeignFiles) {
  ScopedName a("cli-ls-a"), b("cli-ls-b");
  ASSERT_EQ(Zcipc({"create", a.name(), "--max-items=100", "--heap-size=64KiB"})
                .exit_code,
            0);
  ASSERT_EQ(Zcipc({"create", b.name(), "--heap-size=1MiB"}).exit_code, 0);
  ASSERT_EQ(Zcipc({"put", a.name(), "k1", "v"}).exit_code, 0);
  ASSERT_EQ(Zcipc({"put", a.name(), "k2", "v"}).exit_code, 0);
  // Files in /dev/shm that are not zcipc dicts.
  const std::string foreign =
      absl::StrCat("/dev/shm/foreign-zcipc-cli-", getpid());
  const std::string bad_name =
      absl::StrCat("/dev/shm/zcipc.bad name ", getpid());
  for (const std::string& f : {foreign, bad_name}) {
    int fd = open(f.c_str(), O_CREAT | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    close(fd);
  }

  Result r = Zcipc({"ls"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr("NAME"));
  EXPECT_THAT(r.out, HasSubstr("MAX ITEMS"));
  EXPECT_THAT(r.out, HasSubstr("WRITER"));
  bool found_a = false;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (!absl::StartsWith(line, a.name() + " ")) continue;
    found_a = true;
    std::vector<absl::string_view> cols =
        absl::StrSplit(line, ' ', absl::SkipEmpty());
    // NAME ITEMS MAX HEAP-USED(2) HEAP-SIZE(2) SEGMENT(2) GROWS VERSION
    // WRITER
    ASSERT_EQ(cols.size(), 12u) << line;
    EXPECT_EQ(cols[1], "2");
    EXPECT_EQ(cols[2], "100");
    EXPECT_EQ(cols[9], "0");  // it never grew
    EXPECT_EQ(cols[10], absl::StrCat(zcipc::kFormatVersion));
    EXPECT_EQ(cols[11], "-");
  }
  EXPECT_TRUE(found_a) << r.out;
  EXPECT_THAT(r.out, HasSubstr(b.name()));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("foreign-zcipc-cli")));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("bad name")));

  r = Zcipc({"ls", "--json"});
  EXPECT_EXIT_CODE(r, 0);
  Json j = ParseJson(r.out);
  ASSERT_TRUE(j.is_array());
  std::map<std::string, Json> by_name;
  for (const Json& d : j) by_name[d["name"].get<std::string>()] = d;
  ASSERT_EQ(by_name.count(a.name()), 1u);
  const Json& da = by_name[a.name()];
  EXPECT_EQ(da["items"], 2);
  EXPECT_EQ(da["max_items"], 100);
  EXPECT_EQ(da["heap_size"], 64 * 1024);
  EXPECT_EQ(da["format_version"], zcipc::kFormatVersion);
  EXPECT_EQ(da["lock"]["held"], false);
  EXPECT_GT(da["segment_size"].get<uint64_t>(), 64u * 1024);
  EXPECT_EQ(by_name.count(b.name()), 1u);
  for (const auto& [dict_name, d] : by_name) {
    EXPECT_FALSE(absl::StrContains(dict_name, "foreign"));
  }
  unlink(foreign.c_str());
  unlink(bad_name.c_str());
}

TEST(CliInspect, StatShowsHeaderProbesAllocatorAndLock) {
  ScopedName name("cli-stat");
  const std::string& n = name.name();
  ASSERT_EQ(
      Zcipc({"create", n, "--max-items=1000", "--heap-size=1MiB"}).exit_code,
      0);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(
        Zcipc({"put", n, absl::StrCat("key", i), std::string(i * 10, 'x')})
            .exit_code,
        0);
  }
  ASSERT_EQ(Zcipc({"del", n, "key3"}).exit_code, 0);

  Result r = Zcipc({"stat", n});
  EXPECT_EXIT_CODE(r, 0);
  const std::string format_line = absl::StrCat(
      "format       version ", zcipc::kFormatVersion, ", magic 0x");
  for (const char* s :
       {format_line.c_str(), "(same as this build)", "regions      header @0",
        "items        19 of 1,000 max, 1 tombstones", "probe histogram",
        "free lists", "writes       21 total", "lock         free",
        "intent       none"}) {
    EXPECT_THAT(r.out, HasSubstr(s));
  }

  r = Zcipc({"stat", n, "--json"});
  EXPECT_EXIT_CODE(r, 0);
  Json j = ParseJson(r.out);
  EXPECT_EQ(j["name"], n);
  EXPECT_EQ(j["header"]["format_version"], zcipc::kFormatVersion);
  EXPECT_EQ(j["header"]["fingerprint"], j["header"]["build_fingerprint"]);
  EXPECT_EQ(j["occupancy"]["items"], 19);
  EXPECT_EQ(j["occupancy"]["max_items"], 1000);
  EXPECT_EQ(j["occupancy"]["slot_count"], 2048);
  EXPECT_EQ(j["occupancy"]["tombstones"], 1);
  uint64_t probed = 0;
  for (const Json& c : j["probes"]["histogram"]) probed += c.get<uint64_t>();
  EXPECT_EQ(probed, 19u);
  EXPECT_EQ(j["allocator"]["exact"], true);
  EXPECT_EQ(j["allocator"]["used_blocks"], 19);
  EXPECT_FALSE(j["allocator"]["size_classes"].empty());
  EXPECT_EQ(j["counters"]["writes_total"], 21);
  EXPECT_EQ(j["lock"]["held"], false);
  EXPECT_EQ(j["lock"]["intent"], "");
  EXPECT_GT(j["header"]["heap_offset"].get<uint64_t>(),
            j["header"]["slots_offset"].get<uint64_t>());
}

TEST(CliInspect, CheckPassesOnAHealthyDict) {
  ScopedName name("cli-check");
  const std::string& n = name.name();
  ASSERT_EQ(Zcipc({"create", n, "--heap-size=1MiB"}).exit_code, 0);
  ASSERT_EQ(Zcipc({"put", n, "k", "v"}).exit_code, 0);
  Result r = Zcipc({"check", n});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("check ", n, ": OK")));
  EXPECT_THAT(r.out, HasSubstr("1 items"));
  r = Zcipc({"check", n, "--json"});
  EXPECT_EXIT_CODE(r, 0);
  Json j = ParseJson(r.out);
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["items"], 1);
}

// Overwrites `bytes` at `offset` of the dict's segment file.
void Corrupt(const std::string& name, off_t offset, const std::string& bytes) {
  int fd = open(SegmentPath(name).c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, bytes.data(), bytes.size(), offset),
            static_cast<ssize_t>(bytes.size()));
  close(fd);
}

TEST(CliInspect, CorruptDictFailsCheckAndCrashesNothing) {
  ScopedName name("cli-corrupt");
  const std::string& n = name.name();
  ASSERT_EQ(
      Zcipc({"create", n, "--max-items=100", "--heap-size=64KiB"}).exit_code,
      0);
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(Zcipc({"put", n, absl::StrCat("k", i), "value"}).exit_code, 0);
  }
  Json stat = ParseJson(Zcipc({"stat", n, "--json"}).out);
  const uint64_t heap = stat["header"]["heap_offset"].get<uint64_t>();

  // Damage the heap: the first entry block's tag.
  Corrupt(n, static_cast<off_t>(heap), std::string(16, '\xff'));
  Result r = Zcipc({"check", n});
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("check ", n, ": FAILED")));
  EXPECT_THAT(r.out, HasSubstr("integrity check found a problem"));
  EXPECT_THAT(r.out, HasSubstr("error: data loss"));
  r = Zcipc({"check", n, "--json"});
  EXPECT_EXIT_CODE(r, 1);
  Json j = ParseJson(r.out);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["stage"], "check");
  EXPECT_EQ(j["error"]["code"], "DATA_LOSS");
  // Every other command may fail, but must not crash.
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"ls"},
                                             {"ls", "--json"},
                                             {"stat", n},
                                             {"dump", n},
                                             {"get", n, "k1"},
                                             {"watch", n, "--count=1"},
                                             {"put", n, "k1", "v"}}) {
    SCOPED_TRACE(absl::StrJoin(args, " "));
    Result any = Zcipc(args);
    EXPECT_EQ(any.signal, 0) << any.Describe();
    EXPECT_TRUE(any.exit_code == 0 || any.exit_code == 1) << any.Describe();
  }

  // Damage the magic: the dict no longer attaches.
  Corrupt(n, 0, "NOTADICT");
  r = Zcipc({"check", n});
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.out, HasSubstr("does not attach"));
  EXPECT_THAT(r.out, HasSubstr("bad magic"));
  j = ParseJson(Zcipc({"check", n, "--json"}).out);
  EXPECT_EQ(j["stage"], "attach");
  EXPECT_EQ(j["error"]["code"], "DATA_LOSS");
  EXPECT_EXIT_CODE(Zcipc({"stat", n}), 1);
  EXPECT_EXIT_CODE(Zcipc({"get", n, "k1"}), 1);
  r = Zcipc({"ls"});
  EXPECT_EXIT_CODE(r, 0);
  bool error_row = false;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    error_row |= absl::StartsWith(line, n + " ") &&
                 absl::StrContains(line, "  error: data loss");
  }
  EXPECT_TRUE(error_row) << r.out;
  j = ParseJson(Zcipc({"ls", "--json"}).out);
  bool listed = false;
  for (const Json& d : j) {
    if (d["name"] == n) {
      listed = true;
      EXPECT_EQ(d["error"]["code"], "DATA_LOSS");
    }
  }
  EXPECT_TRUE(listed);
}

TEST(CliInspect, WatchRefreshes) {
  ScopedName name("cli-watch");
  const std::string& n = name.name();
  ASSERT_EQ(Zcipc({"create", n, "--heap-size=1MiB"}).exit_code, 0);
  ASSERT_EQ(Zcipc({"put", n, "k", "v"}).exit_code, 0);
  // Redrawn without a change too, after --idle-refresh.
  Result r = Zcipc(
      {"watch", n, "--count=3", "--interval=20ms", "--idle-refresh=20ms"});
  EXPECT_EXIT_CODE(r, 0);
  // Not a terminal: three frames one after the other, no escape codes.
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\033'), 0);
  size_t frames = 0;
  for (size_t p = 0; (p = r.out.find("writes/s", p)) != std::string::npos;
       ++p) {
    ++frames;
  }
  EXPECT_EQ(frames, 3u) << r.out;
  EXPECT_THAT(r.out, HasSubstr("1 / 10,000"));
  EXPECT_THAT(r.out, HasSubstr("lock       free"));
}

TEST(CliInspect, BenchUsesAScratchDict) {
  ScopedName name("cli-bench");
  const std::string& n = name.name();
  Result r = Zcipc({"bench", n, "--keys=200", "--duration=20ms"});
  EXPECT_EXIT_CODE(r, 0);
  for (const char* op : {"put (insert)", "get (hit, copy)", "get (miss)",
                         "read (hit, zero-copy)", "put (replace in place)",
                         "add (counter)", "erase", "ns/op"}) {
    EXPECT_THAT(r.out, HasSubstr(op));
  }
  EXPECT_NE(access(SegmentPath(n).c_str(), F_OK), 0) << "scratch dict left";
  r = Zcipc({"bench", n, "--keys=100", "--duration=10ms", "--json"});
  EXPECT_EXIT_CODE(r, 0);
  Json j = ParseJson(r.out);
  ASSERT_EQ(j["results"].size(), 7u);
  for (const Json& p : j["results"]) EXPECT_GT(p["ops"].get<uint64_t>(), 0u);
  // An existing dict is never used as the scratch dict.
  ASSERT_EQ(Zcipc({"create", n, "--heap-size=64KiB"}).exit_code, 0);
  r = Zcipc({"bench", n, "--keys=10"});
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr("exists"));
  EXPECT_EQ(access(SegmentPath(n).c_str(), F_OK), 0);
}

// ------------------------------------------------------------ dump/load ---

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST(CliDumpLoad, RoundTripsBinaryData) {
  ScopedName src("cli-dump-src"), dst("cli-dump-dst");
  ASSERT_EQ(
      Zcipc({"create", src.name(), "--max-items=1000", "--heap-size=4MiB"})
          .exit_code,
      0);
  const std::string all = AllBytes();
  std::map<std::string, std::string> expected;
  // Every single-byte key, each with every byte value (rotated).
  for (int i = 0; i < 256; ++i) {
    expected[std::string(1, static_cast<char>(i))] =
        all.substr(i) + all.substr(0, i);
  }
  expected[std::string("a\0b", 3)] = std::string("\0\0\0", 3);
  expected["empty value"] = "";
  expected["h\xc3\xa9llo \xe2\x9c\x93"] = "UTF-8 text \xf0\x9f\x98\x80";
  expected["bad utf8 \xc3\x28"] = "\xed\xa0\x80 (a surrogate)";
  expected["big"] = std::string(100 << 10, 'z');
  // Values through stdin (hex-encoded): 200 KiB of hex is more than one
  // command-line argument may hold (MAX_ARG_STRLEN).
  for (const auto& [k, v] : expected) {
    ASSERT_EQ(Zcipc({"put", src.name(), "--hex", absl::BytesToHexString(k)},
                    absl::BytesToHexString(v))
                  .exit_code,
              0);
  }
  ASSERT_EQ(Zcipc({"add", src.name(), "counter", "-42"}).exit_code, 0);
  expected["counter"] = std::string("\xd6\xff\xff\xff\xff\xff\xff\xff", 8);

  Result dump = Zcipc({"dump", src.name()});
  EXPECT_EXIT_CODE(dump, 0);
  std::vector<std::string> lines = Lines(dump.out);
  ASSERT_EQ(lines.size(), expected.size() + 2);
  Json header = ParseJson(lines[0]);
  // Format 3: the counter is typed (add stores an int).
  EXPECT_EQ(header["zcipc_dump"], 3);
  EXPECT_EQ(header["name"], src.name());
  EXPECT_EQ(header["items"], expected.size());
  EXPECT_EQ(header["max_items"], 1000);
  EXPECT_EQ(header["heap_size"], 4 << 20);
  EXPECT_EQ(ParseJson(lines.back()),
            Json({{"end", true}, {"items", expected.size()}}));
  // Each line is JSON; text stays text, other bytes are base64; sorted.
  std::string previous;
  for (size_t i = 1; i + 1 < lines.size(); ++i) {
    Json e = ParseJson(lines[i]);
    std::string key = e.contains("key") ? e["key"].get<std::string>() : "";
    if (e.contains("key_base64")) {
      ASSERT_TRUE(
          absl::Base64Unescape(e["key_base64"].get<std::string>(), &key));
    }
    if (i > 1) {
      EXPECT_LT(previous, key);
    }
    previous = key;
  }
  EXPECT_THAT(dump.out, HasSubstr("{\"key\":\"empty value\",\"value\":\"\"}"));
  EXPECT_THAT(dump.out, HasSubstr("\"key\":\"h\xc3\xa9llo \xe2\x9c\x93\""));
  EXPECT_THAT(dump.out, HasSubstr("\"key_base64\":\""));
  EXPECT_THAT(dump.out, HasSubstr("\"value_base64\":\""));
  EXPECT_THAT(
      dump.out,
      HasSubstr("{\"key\":\"counter\",\"value\":-42,\"type\":\"int\"}"));

  // Load into a new name: created with the same sizes, identical content.
  Result load = Zcipc({"load", dst.name()}, dump.out);
  EXPECT_EXIT_CODE(load, 0);
  EXPECT_THAT(load.out, HasSubstr(absl::StrCat("loaded ", expected.size(),
                                               " entries into ", dst.name(),
                                               " (created)")));
  Result again = Zcipc({"dump", dst.name()});
  std::vector<std::string> lines2 = Lines(again.out);
  ASSERT_EQ(lines2.size(), lines.size());
  Json header2 = ParseJson(lines2[0]);
  EXPECT_EQ(header2["max_items"], header["max_items"]);
  EXPECT_EQ(header2["heap_size"], header["heap_size"]);
  for (size_t i = 1; i < lines.size(); ++i) EXPECT_EQ(lines2[i], lines[i]);
  // Every multi-byte key and every 8th single-byte key, read back one by one
  // (the dumps above already matched line for line).
  for (const auto& [k, v] : expected) {
    if (k.size() == 1 && static_cast<unsigned char>(k[0]) % 8 != 0) continue;
    Result g =
        Zcipc({"get", dst.name(), "--hex", absl::BytesToHexString(k), "--raw"});
    EXPECT_EXIT_CODE(g, 0);
    EXPECT_TRUE(g.out == v) << "key " << absl::CHexEscape(k);
  }
  EXPECT_EXIT_CODE(Zcipc({"check", dst.name()}), 0);
  EXPECT_EQ(Zcipc({"get", dst.name(), "counter", "--int64"}).out, "-42\n");

  // Loading into an existing dict adds and replaces.
  EXPECT_EXIT_CODE(Zcipc({"load", dst.name()},
                         "{\"key\":\"new\",\"value\":\"1\"}\n{\"key\":\"big\","
                         "\"value\":\"\"}\n"),
                   0);
  EXPECT_EQ(Zcipc({"get", dst.name(), "new"}).out, "1\n");
  EXPECT_EQ(Zcipc({"get", dst.name(), "big"}).out, "\n");
}

TEST(CliDumpLoad, BadInputChangesNothing) {
  ScopedName name("cli-load-bad");
  const std::string& n = name.name();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"key\":\"a\",\"value\":\"1\"}\nnot json\n", "line 2: not valid JSON"},
      {"[1,2]\n", "line 1: not a JSON object"},
      {"{\"key\":\"a\"}\n", "needs exactly one of \"value\""},
      {"{\"key\":\"a\",\"key_base64\":\"YQ==\",\"value\":\"\"}\n",
       "needs exactly one of \"key\""},
      {"{\"key_base64\":\"!!\",\"value\":\"\"}\n", "not valid base64"},
      {"{\"key\":5,\"value\":\"\"}\n", "\"key\" is not a string"},
      {"{\"zcipc_dump\":99}\n", "dump format 99"},
  };
  for (const auto& [input, message] : cases) {
    SCOPED_TRACE(input);
    Result r = Zcipc({"load", n}, input);
    EXPECT_EXIT_CODE(r, 1);
    EXPECT_THAT(r.err, HasSubstr(message));
    EXPECT_NE(access(SegmentPath(n).c_str(), F_OK), 0) << "dict was created";
  }
  // A dict that cannot grow enough for the dump (its segment is bounded):
  // exit 1, says how far it got.
  ASSERT_EQ(Zcipc({"create", n, "--max-items=2", "--heap-size=64KiB",
                   "--change-log-bytes=0", "--max-segment-size=1MiB"})
                .exit_code,
            0);
  std::string three;
  for (int i = 0; i < 2; ++i) {
    absl::StrAppend(&three, "{\"key\":\"k", i, "\",\"value\":\"v\"}\n");
  }
  absl::StrAppend(&three, "{\"key\":\"k2\",\"value\":\"",
                  std::string(4 << 20, 'v'), "\"}\n");
  Result r = Zcipc({"load", n}, three);
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr("2 of 3 entries loaded"));
  EXPECT_THAT(r.err, HasSubstr("resource exhausted"));
}

}  // namespace

int main(int argc, char** argv) {
  return zcipc_cli_test::RunAllTests(argc, argv, {"PATH_TO_ZCIPC"});
}
