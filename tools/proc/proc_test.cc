// Tests of the shared process helpers and self-checking values
// (tools/proc/proc.h, tools/proc/self_check.h).

#include "tools/proc/proc.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"
#include "tools/proc/self_check.h"

namespace zcipc_proc {
namespace {

TEST(UniqueNameTest, NamesTheTagAndPidAndNeverRepeats) {
  std::set<std::string> names;
  for (int i = 0; i < 100; ++i) names.insert(UniqueName("t"));
  EXPECT_EQ(names.size(), 100u);
  const std::string name = UniqueName("tag");
  EXPECT_TRUE(absl::StartsWith(
      name, absl::StrCat("zt-tag-", static_cast<int64_t>(getpid()), "-")))
      << name;
}

TEST(ForkTest, ReportsExitCodes) {
  ChildResult r = WaitChild(Fork([] { return 7; }));
  EXPECT_TRUE(r.exited);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.code(), 7);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.Describe(), "exited with code 7");
  EXPECT_TRUE(WaitChild(Fork([] { return 0; })).ok());
  EXPECT_EQ(WaitExit(Fork([] { return 3; })), 3);
}

TEST(ForkTest, ReportsTheSignalThatKilledTheChild) {
  ChildResult r = WaitChild(Fork([] {
    raise(SIGKILL);
    return 0;
  }));
  EXPECT_TRUE(r.killed_by(SIGKILL)) << r.Describe();
  EXPECT_EQ(r.code(), 128 + SIGKILL);
  EXPECT_TRUE(absl::StrContains(r.Describe(), "signal 9")) << r.Describe();
}

TEST(ForkTest, AChildThatCrashesDiesOfItsSignalAfterItsBacktrace) {
  ChildResult r = WaitChild(Fork([] {
    raise(SIGABRT);
    return 0;
  }));
  EXPECT_TRUE(r.killed_by(SIGABRT)) << r.Describe();
}

TEST(ForkTest, TheAlarmEndsAHungChild) {
  ChildResult r = WaitChild(Fork(
      [] {
        pause();
        return 0;
      },
      /*alarm_seconds=*/1));
  EXPECT_TRUE(r.killed_by(SIGALRM)) << r.Describe();
}

TEST(SharedArrayTest, ChildrenWriteWhatTheParentReads) {
  SharedArray<std::atomic<uint64_t>> counters(4);
  ASSERT_TRUE(counters.valid());
  for (size_t i = 0; i < counters.size(); ++i)
    EXPECT_EQ(counters[i].load(), 0u);
  pid_t pids[4];
  for (int c = 0; c < 4; ++c) {
    pids[c] = Fork([&, c] {
      for (int i = 0; i < 1000; ++i) counters[c].fetch_add(1);
      counters[0].fetch_add(1);
      return 0;
    });
  }
  for (pid_t pid : pids) EXPECT_TRUE(WaitChild(pid).ok());
  EXPECT_EQ(counters[0].load(), 1004u);
  for (int c = 1; c < 4; ++c) EXPECT_EQ(counters[c].load(), 1000u);
}

TEST(PipeSignalTest, WaitSeesAFireOrEveryWriterGone) {
  PipeSignal fired;
  PipeSignal closed;
  ASSERT_TRUE(fired.valid() && closed.valid());
  pid_t pid = Fork([&] {
    fired.Fire();
    return 0;  // exiting closes the child's end of `closed`
  });
  closed.CloseWrite();
  EXPECT_TRUE(fired.Wait());
  EXPECT_FALSE(closed.Wait());
  EXPECT_TRUE(WaitChild(pid).ok());
}

TEST(SelfCheckTest, ValuesHaveTheAskedSizeAndCheckThemselves) {
  const std::string v = MakeValue("k1", 42, 300);
  EXPECT_EQ(v.size(), 300u);
  uint64_t g = 0;
  ASSERT_TRUE(ParseValue("k1", v, &g));
  EXPECT_EQ(g, 42u);
  EXPECT_TRUE(ParseValue("k1", v, nullptr));
  EXPECT_FALSE(ParseValue("k2", v, &g));   // another key's value
  EXPECT_FALSE(ParseValue("k", v, &g));    // a key that is a prefix
  EXPECT_FALSE(ParseValue("k1", "", &g));  // empty
  for (size_t i = 0; i < v.size(); ++i) {
    std::string torn = v;
    torn[i] ^= 0x20;
    EXPECT_FALSE(ParseValue("k1", torn, &g)) << "flip at " << i;
  }
  for (size_t n = 0; n < v.size(); n += 13) {
    EXPECT_FALSE(ParseValue("k1", v.substr(0, n), &g)) << "first " << n;
  }
  std::string mixed = MakeValue("k1", 43, 300);
  mixed.replace(0, 150, v.substr(0, 150));  // half of each generation
  EXPECT_FALSE(ParseValue("k1", mixed, &g));
}

TEST(SelfCheckTest, ASizeBelowTheMinimumGivesTheMinimum) {
  EXPECT_EQ(MinValueSize("key", 7), 3 + 1 + 1 + 2 + 16u);
  const std::string v = MakeValue("key", 7, 0);
  EXPECT_EQ(
      v, absl::StrCat("key|7||", absl::StrFormat("%016x", Fnv1a("key|7||"))));
  uint64_t g = 0;
  EXPECT_TRUE(ParseValue("key", v, &g));
  EXPECT_EQ(g, 7u);
  EXPECT_EQ(MakeValue("", 0, 0).size(), MinValueSize("", 0));
  EXPECT_TRUE(ParseValue("", MakeValue("", 0, 0), &g));
}

TEST(SelfCheckTest, AValueWithARecomputedChecksumButWrongPaddingFails) {
  // A forged value whose checksum matches but whose padding is not the
  // generation's: the padding is checked, not only the checksum.
  std::string body = "k|5|zzzz|";
  std::string forged = body + absl::StrFormat("%016x", Fnv1a(body));
  EXPECT_FALSE(ParseValue("k", forged, nullptr));
  body = "k|05||";  // a generation not written the way MakeValue writes it
  forged = body + absl::StrFormat("%016x", Fnv1a(body));
  EXPECT_FALSE(ParseValue("k", forged, nullptr));
}

TEST(SelfCheckTest, Fnv1aIsTheStandardHash) {
  EXPECT_EQ(Fnv1a(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(Fnv1a("a"), 0xaf63dc4c8601ec8cull);
}

}  // namespace
}  // namespace zcipc_proc
