// The change feed's sequence number (ZeroCopyDict::ChangeSeq and
// WaitForChange): one change per operation that took effect, numbered
// without gaps; consistent with the dict after a writer is killed at any
// step; waiters in other processes woken by the change, without polling.

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/dict/dict_impl.h"
#include "gtest/gtest.h"
#include "tests/engine/kill_at.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_test::ChildResult;
using ::zcipc_test::ScopedName;
using ::zcipc_test::SharedArray;
using ::zcipc_test::StartChild;
using ::zcipc_test::WaitChild;

Options Small() {
  Options o;
  o.max_items = 4;
  o.heap_size = 4096;
  o.lock_timeout = absl::Seconds(5);
  return o;
}

TEST(ChangeSeqTest, EveryOperationThatTookEffectIsOneChange) {
  ScopedName name("seq");
  Options o = Small();
  o.auto_grow = false;  // the full heap and full table below fail
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), o);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->ChangeSeq(), 0u);
  ASSERT_TRUE(d->Put("a", "1").ok());
  EXPECT_EQ(d->ChangeSeq(), 1u);
  ASSERT_TRUE(d->Put("a", "2").ok());  // in place
  EXPECT_EQ(d->ChangeSeq(), 2u);
  ASSERT_TRUE(d->Put("a", std::string(200, 'r')).ok());  // relocated
  EXPECT_EQ(d->ChangeSeq(), 3u);
  ASSERT_TRUE(d->Erase("a").ok());
  EXPECT_EQ(d->ChangeSeq(), 4u);
  EXPECT_TRUE(absl::IsNotFound(d->Erase("a")));  // no change
  EXPECT_EQ(d->ChangeSeq(), 4u);
  ASSERT_TRUE(d->Add("c", 5).ok());
  EXPECT_EQ(d->ChangeSeq(), 5u);
  ASSERT_TRUE(*d->CompareAndSwap("c", std::nullopt, "x") == false);
  EXPECT_EQ(d->ChangeSeq(), 5u);  // did not store
  ASSERT_TRUE(*d->CompareAndSwap("n", std::nullopt, "x"));
  EXPECT_EQ(d->ChangeSeq(), 6u);
  ASSERT_TRUE(
      d->Update("n", [](std::optional<absl::string_view>, std::string* out) {
         *out = "y";
         return absl::OkStatus();
       }).ok());
  EXPECT_EQ(d->ChangeSeq(), 7u);
  ASSERT_TRUE(d->Write([](Batch& b) {
                 absl::Status s = b.Put("b1", "1");
                 if (s.ok()) s = b.Erase("n");
                 if (s.ok()) s = b.Add("c", 1).status();
                 return s;
               }).ok());
  EXPECT_EQ(d->ChangeSeq(), 10u);
  // Failures change nothing: a full heap, a full table.
  EXPECT_TRUE(absl::IsResourceExhausted(d->Put("big", std::string(8000, 'b'))));
  ASSERT_TRUE(d->Put("t1", "1").ok());
  ASSERT_TRUE(d->Put("t2", "1").ok());  // 4 entries: b1, c, t1, t2
  EXPECT_TRUE(absl::IsResourceExhausted(d->Put("t3", "1")));
  EXPECT_EQ(d->ChangeSeq(), 12u);
  EXPECT_EQ(d->GetStats().change_seq, 12u);
  // Another handle sees the same number.
  absl::StatusOr<ZeroCopyDict> other = ZeroCopyDict::Attach(name.name());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->ChangeSeq(), 12u);
}

TEST(ChangeSeqTest, WaitForChangeReturnsAtOnceOrTimesOut) {
  ScopedName name("wait");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Small());
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_TRUE(d->Put("a", "1").ok());
  absl::StatusOr<uint64_t> r = d->WaitForChange(0, absl::Seconds(10));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 1u);
  absl::Time start = absl::Now();
  r = d->WaitForChange(1, absl::Milliseconds(50));
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.status())) << r.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(45));
  EXPECT_TRUE(absl::StrContains(r.status().message(), name.name()));
}

// Several processes wait; one Put in another process wakes them all.
TEST(ChangeSeqTest, OneChangeWakesEveryWaitingProcess) {
  ScopedName name("wake");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), Small());
  ASSERT_TRUE(d.ok()) << d.status();
  constexpr int kWaiters = 3;
  SharedArray<std::atomic<int>> ready(1);
  pid_t pids[kWaiters];
  for (int i = 0; i < kWaiters; ++i) {
    pids[i] = StartChild(
        [&]() {
          absl::StatusOr<ZeroCopyDict> c = ZeroCopyDict::Attach(name.name());
          if (!c.ok()) return 2;
          ready.get()[0]++;
          absl::StatusOr<uint64_t> r = c->WaitForChange(0, absl::Seconds(30));
          return r.ok() && *r == 1 ? 0 : 3;
        },
        60);
  }
  while (ready.get()[0].load() < kWaiters)
    absl::SleepFor(absl::Milliseconds(1));
  absl::SleepFor(absl::Milliseconds(50));  // let them reach the futex
  ASSERT_TRUE(d->Put("k", "v").ok());
  for (pid_t pid : pids) {
    ChildResult r = WaitChild(pid);
    EXPECT_TRUE(r.ok()) << r.Describe();
  }
}

// A waiter that re-arms in a tight loop against a writer never misses a
// change: every wait returns a newer number, the last one is the end, and
// no sleep ran out its bound with a change already published (a lost
// wake-up that the bound would otherwise hide). 10^6 changes; 10^5 under
// the sanitizers, which make each change ~20x slower.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr uint64_t kRearmChanges = 100000;
#else
constexpr uint64_t kRearmChanges = 1000000;
#endif
TEST(ChangeSeqTest, WaiterRearmingAgainstAWriterLosesNoWakeUp) {
  ScopedName name("rearm");
  Options o = Small();
  o.max_items = 16;
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), o);
  ASSERT_TRUE(d.ok()) << d.status();
  constexpr uint64_t kChanges = kRearmChanges;
  // [0] waits returned, [1] lost wake-ups rescued, [2] the last seq seen.
  SharedArray<std::atomic<uint64_t>> waits(3);
  pid_t waiter = StartChild(
      [&]() {
        absl::StatusOr<ZeroCopyDict> c = ZeroCopyDict::Attach(name.name());
        if (!c.ok()) return 2;
        uint64_t seen = 0;
        while (seen < kChanges) {
          // 10 s is far beyond any wake-up: a timeout is a lost wake-up.
          absl::StatusOr<uint64_t> r =
              c->WaitForChange(seen, absl::Seconds(10));
          if (!r.ok()) return 3;
          if (*r <= seen) return 4;
          seen = *r;
          waits[0].fetch_add(1);
          waits[2].store(seen);
        }
        waits[1].store(c->GetStats().change_wait_rescues);
        return seen == kChanges ? 0 : 5;
      },
      300);
  // Every 64th change, the writer first gives the waiter 100 us to fall
  // asleep, and after the change stops until the waiter has seen it: a
  // wake-up lost for that change leaves the waiter asleep until its 100 ms
  // bound (no later change hides it), which the handle counts.
  uint64_t stalls = 0;
  for (uint64_t i = 1; i <= kChanges; ++i) {
    if (i % 64 == 0) absl::SleepFor(absl::Microseconds(100));
    ASSERT_TRUE(d->Put(absl::StrCat("k", i % 8), absl::StrCat(i)).ok());
    if (i % 64 == 0) {
      const absl::Time deadline = absl::Now() + absl::Seconds(10);
      while (waits[2].load() < i && absl::Now() < deadline) sched_yield();
      if (waits[2].load() < i) ++stalls;
    }
  }
  ChildResult r = WaitChild(waiter);
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(d->ChangeSeq(), kChanges);
  EXPECT_EQ(stalls, 0u) << "the waiter did not see a change within 10 s";
  EXPECT_EQ(waits[1].load(), 0u) << "lost wake-ups rescued by the bound";
  EXPECT_GT(waits[0].load(), 0u);
  std::cout << kChanges << " changes, the waiter returned " << waits[0].load()
            << " times, " << waits[1].load() << " lost wake-ups\n";
}

// Killed at every step of every operation: after the repair, the change
// number moved by one exactly when the operation took effect.
TEST(ChangeSeqTest, KilledAtEveryStepTheNumberMatchesTheDict) {
  struct Case {
    const char* step;
    const char* key;
    std::string value;  // empty: erase
  };
  const std::string small = "v1", big(300, 'R');
  const Case kCases[] = {
      {"insert.begin", "new", "n1"},      {"insert.staged", "new", "n1"},
      {"insert.published", "new", "n1"},  {"update.staged", "old", small},
      {"update.copied", "old", small},    {"update.published", "old", small},
      {"relocate.begin", "old", big},     {"relocate.staged", "old", big},
      {"relocate.published", "old", big}, {"relocate.freed", "old", big},
      {"erase.begin", "old", ""},         {"erase.published", "old", ""},
      {"erase.freed", "old", ""},
  };
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.step);
    ScopedName name("crash");
    Options o = Small();
    o.heap_size = 1 << 16;
    o.max_items = 16;
    absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name.name(), o);
    ASSERT_TRUE(d.ok()) << d.status();
    ASSERT_TRUE(d->Put("old", "v0").ok());
    const uint64_t before = d->ChangeSeq();
    pid_t victim = StartChild([&]() {
      absl::StatusOr<ZeroCopyDict> h = ZeroCopyDict::Attach(name.name());
      if (!h.ok()) return 2;
      zcipc_test::KillAtStep(c.step);
      absl::Status s =
          c.value.empty() ? h->Erase(c.key) : h->Put(c.key, c.value);
      return s.ok() ? 4 : 3;  // killed before this
    });
    ChildResult r = WaitChild(victim);
    ASSERT_EQ(r.signal, SIGKILL) << r.Describe();
    ASSERT_TRUE(d->Check().ok());  // takes the lock: repairs
    std::string v;
    absl::Status g = d->Get(c.key, &v);
    bool took_effect;
    if (c.value.empty()) {
      took_effect = absl::IsNotFound(g);
    } else {
      ASSERT_TRUE(g.ok() || absl::IsNotFound(g)) << g;
      took_effect = g.ok() && v == c.value;
    }
    EXPECT_EQ(d->ChangeSeq(), before + (took_effect ? 1 : 0))
        << "took effect: " << took_effect;
    // The next change gets the next number.
    ASSERT_TRUE(d->Put("after", "x").ok());
    EXPECT_EQ(d->ChangeSeq(), before + (took_effect ? 2 : 1));
  }
}

}  // namespace
}  // namespace zcipc
