// Runs the real zcipc binary (argv[1]) and checks the change feed on the
// command line: `watch --follow` printing the changes this test process
// makes (text and --json, --since, a key gone since its change, binary
// keys), missing changes in a tiny change log and resyncing so that its
// output still reproduces the dict, SIGINT/SIGTERM, a dict without a change
// log, an unlinked dict; the view redrawn on a change; create/load
// --change-log-bytes and the change feed in stat.

#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
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
using ::testing::Not;
using ::zcipc_cli_test::Child;
using ::zcipc_cli_test::Json;
using ::zcipc_cli_test::kPatience;
using ::zcipc_cli_test::ParseJson;
using ::zcipc_cli_test::Result;
using ::zcipc_cli_test::Zcipc;
using ::zcipc_cli_test::ZcipcPath;
using ::zcipc_test::ScopedName;

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// Waits until the child's stdout has a whole line that starts with one of
// `prefixes`; false after kPatience.
bool WaitForLine(const Child& child, const std::vector<std::string>& prefixes) {
  const absl::Time deadline = absl::Now() + kPatience;
  while (absl::Now() < deadline) {
    std::string out = child.Out();
    // Only whole lines (the last one may still be being written).
    out.resize(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
    for (const std::string& line : Lines(out)) {
      for (const std::string& prefix : prefixes) {
        if (absl::StartsWith(line, prefix)) return true;
      }
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}
bool WaitForLine(const Child& child, const std::string& prefix) {
  return WaitForLine(child, std::vector<std::string>{prefix});
}

void Create(const std::string& name, const std::string& change_log_bytes) {
  Result r = Zcipc({"create", name, "--max-items=1000", "--heap-size=1MiB",
                    "--change-log-bytes=" + change_log_bytes});
  ASSERT_EQ(r.exit_code, 0) << r.Describe();
}

zcipc::ZeroCopyDict AttachOrDie(const std::string& name) {
  absl::StatusOr<zcipc::ZeroCopyDict> dict = zcipc::ZeroCopyDict::Attach(name);
  EXPECT_TRUE(dict.ok()) << dict.status();
  return std::move(dict).value();
}

// Ends the follower with `signo` and returns its result (exit 0 expected).
Result Stop(Child& follow, int signo = SIGTERM) {
  EXPECT_EQ(kill(follow.pid(), signo), 0);
  return follow.Wait();
}

std::map<std::string, std::string> Contents(const zcipc::ZeroCopyDict& dict) {
  std::map<std::string, std::string> all;
  EXPECT_TRUE(dict.ForEach([&](absl::string_view k, absl::string_view v) {
                    all[std::string(k)] = std::string(v);
                  })
                  .ok());
  return all;
}

// ------------------------------------------------------------- --follow ---

TEST(Follow, PrintsEachChangeOfAnotherProcessInOrder) {
  ScopedName name("wf-order");
  const std::string& n = name.name();
  Create(n, "1MiB");
  zcipc::ZeroCopyDict dict = AttachOrDie(n);
  // --since=0: from the dict's first change, whenever the follower starts.
  Child follow(ZcipcPath(), {"watch", n, "--follow", "--since=0"});
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(dict.Put(absl::StrCat("k", i), absl::StrCat("v", i)).ok());
  }
  ASSERT_TRUE(dict.Add("counter", 7).ok());
  ASSERT_TRUE(dict.Put(std::string("\x01\xff", 2), "a \"b\"\n").ok());
  ASSERT_TRUE(WaitForLine(follow, "7 ")) << follow.Out() << follow.Err();
  ASSERT_TRUE(dict.Erase("k2").ok());
  ASSERT_TRUE(dict.Put("k4", "new").ok());
  ASSERT_TRUE(WaitForLine(follow, "9 ")) << follow.Out() << follow.Err();
  // A key put and erased while the follower does not run: both its lines
  // say it is gone.
  ASSERT_EQ(kill(follow.pid(), SIGSTOP), 0);
  ASSERT_TRUE(follow.WaitUntilStopped());
  ASSERT_TRUE(dict.Put("tmp", "x").ok());
  ASSERT_TRUE(dict.Erase("tmp").ok());
  ASSERT_EQ(kill(follow.pid(), SIGCONT), 0);
  ASSERT_TRUE(WaitForLine(follow, "11 ")) << follow.Out() << follow.Err();
  Result r = Stop(follow);
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(Lines(r.out),
              ElementsAre("1 put \"k1\" = \"v1\"", "2 put \"k2\" = \"v2\"",
                          "3 put \"k3\" = \"v3\"", "4 put \"k4\" = \"v4\"",
                          "5 put \"k5\" = \"v5\"",
                          "6 put \"counter\" = 7",  // Add stores an int
                          "7 put \"\\x01\\xff\" = \"a \\\"b\\\"\\n\"",
                          "8 erase \"k2\" (gone)", "9 put \"k4\" = \"new\"",
                          "10 put \"tmp\" (gone)", "11 erase \"tmp\" (gone)"))
      << r.out;
}

TEST(Follow, JsonLinesCarrySeqKindKeyAndValue) {
  ScopedName name("wf-json");
  const std::string& n = name.name();
  Create(n, "1MiB");
  zcipc::ZeroCopyDict dict = AttachOrDie(n);
  ASSERT_TRUE(dict.Put("greeting", "hello").ok());
  ASSERT_TRUE(
      dict.Put(std::string("\xff\x00", 2), std::string("\x80", 1)).ok());
  ASSERT_TRUE(dict.Put("gone", "soon").ok());
  ASSERT_TRUE(dict.Erase("gone").ok());
  // Started after the changes (it replays them from --since=0), so that
  // each line shows the values after all four.
  Child follow(ZcipcPath(), {"watch", n, "--follow", "--since=0", "--json"});
  ASSERT_TRUE(WaitForLine(follow, "{\"seq\":4,")) << follow.Out();
  Result r = Stop(follow);
  EXPECT_EXIT_CODE(r, 0);
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  std::vector<Json> j;
  for (const std::string& line : lines) j.push_back(ParseJson(line));
  for (size_t i = 0; i < j.size(); ++i) EXPECT_EQ(j[i]["seq"], i + 1);
  EXPECT_EQ(j[0]["kind"], "put");
  EXPECT_EQ(j[0]["key"], "greeting");
  EXPECT_EQ(j[0]["value"], "hello");
  // Bytes that are not UTF-8 go as base64, as dump writes them.
  EXPECT_EQ(j[1]["key_base64"], absl::Base64Escape(std::string("\xff\x00", 2)));
  EXPECT_EQ(j[1]["value_base64"], absl::Base64Escape("\x80"));
  EXPECT_FALSE(j[1].contains("key"));
  EXPECT_EQ(j[2]["kind"], "put");
  EXPECT_EQ(j[2]["gone"], true);
  EXPECT_FALSE(j[2].contains("value"));
  EXPECT_EQ(j[3]["kind"], "erase");
  EXPECT_EQ(j[3]["key"], "gone");
  EXPECT_EQ(j[3]["gone"], true);
}

TEST(Follow, SinceReplaysRetainedChanges) {
  ScopedName name("wf-since");
  const std::string& n = name.name();
  Create(n, "1MiB");
  zcipc::ZeroCopyDict dict = AttachOrDie(n);
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(dict.Put(absl::StrCat("k", i), "v").ok());
  }
  Child follow(ZcipcPath(), {"watch", n, "--follow", "--since=2", "--hex"});
  ASSERT_TRUE(WaitForLine(follow, "5 ")) << follow.Out() << follow.Err();
  Result r = Stop(follow, SIGINT);
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(Lines(r.out), ElementsAre("3 put 6b33 = 76", "4 put 6b34 = 76",
                                        "5 put 6b35 = 76"));
}

TEST(Follow, StartsAfterTheCurrentChangeByDefault) {
  ScopedName name("wf-default");
  const std::string& n = name.name();
  Create(n, "1MiB");
  zcipc::ZeroCopyDict dict = AttachOrDie(n);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(dict.Put("old", "v").ok());
  Child follow(ZcipcPath(), {"watch", n, "--follow"});
  // Changes until the follower prints one: it has started by then.
  const absl::Time deadline = absl::Now() + kPatience;
  while (follow.Out().empty() && absl::Now() < deadline) {
    ASSERT_TRUE(dict.Put("new", "v").ok());
    absl::SleepFor(absl::Milliseconds(20));
  }
  Result r = Stop(follow);
  EXPECT_EXIT_CODE(r, 0);
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_FALSE(lines.empty()) << r.Describe();
  uint64_t first = 0;
  ASSERT_TRUE(absl::SimpleAtoi(lines[0].substr(0, lines[0].find(' ')), &first));
  EXPECT_GT(first, 5u) << r.out;
  EXPECT_THAT(r.out, Not(HasSubstr("\"old\""))) << r.out;
}

// Applies --json lines to `model`: a put or resync sets the key (or erases
// it if gone), an erase erases it, a missed line starts from nothing (the
// resync lines that follow hold every key).
void Apply(const Json& line, std::map<std::string, std::string>* model) {
  const std::string kind = line["kind"];
  if (kind == "missed") {
    model->clear();
    return;
  }
  if (kind == "resynced") return;
  const std::string key = line["key"];  // the test's keys are text
  if (kind == "erase" || line.contains("gone")) {
    model->erase(key);
  } else {
    (*model)[key] = line["value"];
  }
}

TEST(Follow, ReportsMissedChangesAndResyncsFromATinyChangeLog) {
  ScopedName name("wf-resync");
  const std::string& n = name.name();
  Create(n, "4096");
  zcipc::ZeroCopyDict dict = AttachOrDie(n);
  Child follow(ZcipcPath(), {"watch", n, "--follow", "--since=0", "--json"});
  ASSERT_TRUE(dict.Put("first", "1").ok());
  ASSERT_TRUE(WaitForLine(follow, "{\"seq\":1,")) << follow.Out();
  // 1000 changes while the follower does not read: far more than 4 KiB of
  // change log holds.
  ASSERT_EQ(kill(follow.pid(), SIGSTOP), 0);
  ASSERT_TRUE(follow.WaitUntilStopped());
  for (int i = 0; i < 1000; ++i) {
    const std::string key = absl::StrCat("key-", i % 150);
    if (i % 7 == 3) {
      dict.Erase(key).IgnoreError();  // NotFound if not there yet
    } else {
      ASSERT_TRUE(dict.Put(key, absl::StrCat("value-", i)).ok());
    }
  }
  ASSERT_EQ(kill(follow.pid(), SIGCONT), 0);
  // And a few more, during or after the resync.
  ASSERT_TRUE(dict.Put("after", "resync").ok());
  ASSERT_TRUE(dict.Erase("first").ok());
  const uint64_t last = dict.ChangeSeq();
  // Its last line: the last change, or the end of a resync at it.
  const std::string at_last = absl::StrCat("{\"seq\":", last, ",\"kind\":");
  ASSERT_TRUE(WaitForLine(follow, {at_last + "\"put\"", at_last + "\"erase\"",
                                   at_last + "\"resynced\""}))
      << follow.Out();
  Result r = Stop(follow);
  EXPECT_EXIT_CODE(r, 0);

  std::map<std::string, std::string> model;
  uint64_t reached = 0;
  int missed_lines = 0;
  bool resynced = false;
  for (const std::string& text : Lines(r.out)) {
    Json line = ParseJson(text);
    const std::string kind = line["kind"];
    const uint64_t seq = line["seq"];
    if (kind == "missed") {
      ++missed_lines;
      // How many changes it skipped: from the last one it printed to the
      // change number it resyncs at.
      EXPECT_EQ(line["after"], reached) << text;
      EXPECT_EQ(line["missed"], seq - reached) << text;
      EXPECT_GT(seq, reached);
    } else if (kind == "resynced") {
      resynced = true;
      reached = seq;
    } else if (kind == "put" || kind == "erase") {
      EXPECT_GT(seq, reached) << text;  // in order, each once
      reached = seq;
    }
    Apply(line, &model);
  }
  EXPECT_GE(missed_lines, 1) << r.out;
  EXPECT_TRUE(resynced) << r.out;
  EXPECT_EQ(reached, last);
  // The output, applied in order, reproduces the dict.
  EXPECT_EQ(model, Contents(dict));
  EXPECT_EQ(model.count("after"), 1u);
  EXPECT_EQ(model.count("first"), 0u);
}

TEST(Follow, SigintAndSigtermExitZero) {
  for (int signo : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(strsignal(signo));
    ScopedName name("wf-signal");
    Create(name.name(), "1MiB");
    zcipc::ZeroCopyDict dict = AttachOrDie(name.name());
    Child follow(ZcipcPath(), {"watch", name.name(), "--follow", "--since=0"});
    ASSERT_TRUE(dict.Put("k", "v").ok());
    ASSERT_TRUE(WaitForLine(follow, "1 put")) << follow.Err();
    // Waiting for the next change now.
    Result r = Stop(follow, signo);
    EXPECT_EXIT_CODE(r, 0);
    EXPECT_EQ(r.err, "");
  }
}

TEST(Follow, ExitsOneWhenTheDictIsUnlinked) {
  ScopedName name("wf-unlink");
  const std::string& n = name.name();
  Create(n, "1MiB");
  zcipc::ZeroCopyDict dict = AttachOrDie(n);
  Child follow(ZcipcPath(), {"watch", n, "--follow", "--since=0"});
  ASSERT_TRUE(dict.Put("k", "v").ok());
  ASSERT_TRUE(WaitForLine(follow, "1 put")) << follow.Err();
  ASSERT_EQ(Zcipc({"unlink", n}).exit_code, 0);
  Result r = follow.Wait();
  EXPECT_EXIT_CODE(r, 1);
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("dict \"", n, "\" was unlinked")));
}

TEST(Follow, ADictWithoutAChangeLogIsAnErrorThatSaysSo) {
  ScopedName name("wf-nolog");
  const std::string& n = name.name();
  Create(n, "0");
  Result r = Zcipc({"watch", n, "--follow"});
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("has no change log"));
  EXPECT_EQ(r.out, "");
  // The view still works.
  r = Zcipc({"watch", n, "--count=1", "--interval=10ms"});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out, HasSubstr("no change log"));
}

TEST(Follow, FlagsOfTheOtherModeAreUsageErrors) {
  ScopedName name("wf-flags");
  const std::string& n = name.name();
  Create(n, "1MiB");
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"watch", n, "--since=1"},
           {"watch", n, "--json"},
           {"watch", n, "--hex"},
           {"watch", n, "--follow", "--interval=1s"},
           {"watch", n, "--follow", "--count=3"},
           {"watch", n, "--follow", "--json", "--base64"},
           {"watch", n, "--follow", "--since=99"},  // past its last change
           {"watch", n, "--idle-refresh=0s"},
       }) {
    Result r = Zcipc(args);
    EXPECT_EXIT_CODE(r, 2) << absl::StrJoin(args, " ");
  }
}

// ---------------------------------------------------------------- view ---

TEST(View, RedrawsWhenTheDictChanges) {
  ScopedName name("wf-view");
  const std::string& n = name.name();
  Create(n, "1MiB");
  // Without a change it would not redraw for an hour: the second frame
  // comes from the put.
  Child watch(ZcipcPath(), {"watch", n, "--count=2", "--interval=10ms",
                            "--idle-refresh=1h"});
  ASSERT_TRUE(watch.WaitForOutput("intent")) << watch.Err();
  EXPECT_THAT(watch.Out(), HasSubstr("0 / 1,000"));
  ASSERT_EQ(Zcipc({"put", n, "k", "v"}).exit_code, 0);
  Result r = watch.Wait();
  EXPECT_EXIT_CODE(r, 0);
  const size_t second = r.out.rfind("writes/s");
  ASSERT_NE(second, r.out.find("writes/s")) << r.out;
  EXPECT_THAT(r.out.substr(second), HasSubstr("changes    last 1,"));
  EXPECT_THAT(r.out, HasSubstr("1 / 1,000"));
}

// ----------------------------------------------- create, load and stat ---

TEST(ChangeLogBytes, CreateTakesItAndStatShowsTheChangeFeed) {
  ScopedName name("wf-stat");
  const std::string& n = name.name();
  Create(n, "5000");  // rounded up to a multiple of 4096
  zcipc::ZeroCopyDict dict = AttachOrDie(n);
  ASSERT_TRUE(dict.Put("a", "1").ok());
  ASSERT_TRUE(dict.Put("b", "2").ok());
  Json j = ParseJson(Zcipc({"stat", n, "--json"}).out);
  EXPECT_EQ(j["changes"]["change_seq"], 2);
  EXPECT_EQ(j["changes"]["oldest_retained_change"], 1);
  EXPECT_EQ(j["changes"]["change_log_bytes"], 8192);
  Result r = Zcipc({"stat", n});
  EXPECT_EXIT_CODE(r, 0);
  EXPECT_THAT(r.out,
              HasSubstr("changes      last 2, oldest retained 1; change log "
                        "8.0 KiB"));
}

TEST(ChangeLogBytes, OutOfRangeValuesAreUsageErrors) {
  ScopedName name("wf-range");
  const std::string& n = name.name();
  for (const char* bad : {"1", "4095", "5GiB", "-1", "lots"}) {
    Result r = Zcipc({"create", n, absl::StrCat("--change-log-bytes=", bad)});
    EXPECT_EXIT_CODE(r, 2) << bad;
    EXPECT_THAT(r.err, HasSubstr("--change-log-bytes")) << bad;
  }
  EXPECT_EQ(access(zcipc_test::SegmentPath(n).c_str(), F_OK), -1);
}

TEST(ChangeLogBytes, LoadCreatesWithItAndRefusesItForAnExistingDict) {
  ScopedName from("wf-load-from"), to("wf-load-to");
  Create(from.name(), "1MiB");
  ASSERT_EQ(Zcipc({"put", from.name(), "k", "v"}).exit_code, 0);
  const std::string dump = Zcipc({"dump", from.name()}).out;
  Result r = Zcipc({"load", to.name(), "--change-log-bytes=0"}, dump);
  EXPECT_EXIT_CODE(r, 0);
  Json j = ParseJson(Zcipc({"stat", to.name(), "--json"}).out);
  EXPECT_EQ(j["changes"]["change_log_bytes"], 0);
  r = Zcipc({"load", from.name(), "--change-log-bytes=8KiB"}, dump);
  EXPECT_EXIT_CODE(r, 2);
  EXPECT_THAT(r.err, HasSubstr("--change-log-bytes"));
}

}  // namespace

int main(int argc, char** argv) {
  return zcipc_cli_test::RunAllTests(argc, argv, {"PATH_TO_ZCIPC"});
}
