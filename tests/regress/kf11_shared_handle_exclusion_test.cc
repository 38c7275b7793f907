// docs/KNOWN-FAILURES.md, item 11 (the original Python package): Threads and
// forked children are not excluded.
//
// Each writer runs a critical section through one handle: inside the writer
// lock it marks a witness counter (in memory shared by every thread and
// process: two writers inside at once is an overlap), reads a counter, gives
// up the CPU, and writes the counter + 1. With exclusion, no overlap is ever
// seen and no increment is lost. Three set-ups: threads sharing one handle;
// forked children using the parent's handle (no Attach) while the parent's
// threads use it too; and children forked while the parent's threads are in
// the middle of writes.

#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/regress/regress_util.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_regress::MakeOptions;
using ::zcipc_regress::SharedArray;
using ::zcipc_test::ChildFailure;
using ::zcipc_test::ChildResult;
using ::zcipc_test::ScopedName;
using ::zcipc_test::StartChild;
using ::zcipc_test::WaitChild;

struct Witness {
  std::atomic<int64_t> inside{0};
  std::atomic<uint64_t> overlaps{0};
  std::atomic<uint64_t> sections{0};  // completed critical sections
  std::atomic<int> stop{0};
};

// One critical section under the writer lock: an unlocked-style
// read-modify-write of "counter" (Get, yield, Put) plus the witness.
absl::Status Section(ZeroCopyDict& dict, Witness* w) {
  absl::Status s = dict.Write([&](Batch& batch) -> absl::Status {
    if (w->inside.fetch_add(1) != 0) w->overlaps.fetch_add(1);
    std::string counter;
    absl::Status st = batch.Get("counter", &counter);
    int64_t n = 0;
    if (st.ok() && !absl::SimpleAtoi(counter, &n)) {
      st = absl::DataLossError(absl::StrCat("counter is '", counter, "'"));
    }
    if (st.ok()) {
      sched_yield();  // let another writer run in the window, if it can
      st = batch.Put("counter", absl::StrCat(n + 1));
    }
    w->inside.fetch_sub(1);
    return st;
  });
  if (s.ok()) w->sections.fetch_add(1);
  return s;
}

// Runs `threads` threads of `count` sections each on `dict`; returns the
// number of failed sections.
int RunThreads(ZeroCopyDict& dict, Witness* w, int threads, int count) {
  std::atomic<int> failures{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&]() {
      for (int i = 0; i < count; ++i) {
        if (!Section(dict, w).ok()) failures.fetch_add(1);
      }
    });
  }
  for (std::thread& t : pool) t.join();
  return failures.load();
}

void ExpectCounter(const ZeroCopyDict& dict, uint64_t expected) {
  absl::StatusOr<std::string> counter = dict.Get("counter");
  ASSERT_OK(counter.status());
  EXPECT_EQ(*counter, absl::StrCat(expected)) << "increments were lost";
}

TEST(Kf11SharedHandleExclusionTest, ThreadsSharingOneHandle) {
  ScopedName name("kf11a");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeOptions(100, 1 << 20)));
  ASSERT_OK(dict.Put("counter", "0"));
  SharedArray<Witness> w(1);
  ASSERT_TRUE(w.valid());
  EXPECT_EQ(RunThreads(dict, w.get(), 4, 1000), 0);
  EXPECT_EQ(w->overlaps.load(), 0u) << "two threads were inside at once";
  EXPECT_EQ(w->sections.load(), 4000u);
  ExpectCounter(dict, 4000);
  EXPECT_OK(dict.Check());
}

TEST(Kf11SharedHandleExclusionTest, ForkedChildrenUsingTheParentsHandle) {
  constexpr int kChildren = 2;
  constexpr int kThreads = 2;
  constexpr int kCount = 400;
  ScopedName name("kf11b");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeOptions(100, 1 << 20)));
  ASSERT_OK(dict.Put("counter", "0"));  // the handle has taken the lock
  SharedArray<Witness> w(1);
  ASSERT_TRUE(w.valid());
  std::vector<pid_t> pids;
  for (int c = 0; c < kChildren; ++c) {
    pids.push_back(StartChild(
        [&]() {
          // The inherited handle, used by two threads of the child.
          const int failures = RunThreads(dict, w.get(), kThreads, kCount);
          if (failures != 0) {
            return ChildFailure(10, "sections failed", absl::UnknownError(
                                                           absl::StrCat(failures)));
          }
          return 0;
        },
        /*alarm_seconds=*/30));
    ASSERT_GT(pids.back(), 0);
  }
  EXPECT_EQ(RunThreads(dict, w.get(), kThreads, kCount), 0);
  for (pid_t pid : pids) {
    const ChildResult r = WaitChild(pid);
    EXPECT_TRUE(r.ok()) << "child " << r.Describe() << " (10 section failed)";
  }
  const uint64_t total = (kChildren + 1) * kThreads * kCount;
  EXPECT_EQ(w->overlaps.load(), 0u)
      << "a child and its parent were inside at once";
  EXPECT_EQ(w->sections.load(), total);
  ExpectCounter(dict, total);
  EXPECT_OK(dict.Check());
}

// Children forked while the parent's threads are writing through the same
// handle (so a fork may land while one of them holds the lock): each child
// uses the inherited handle at once, and must neither hang nor overlap.
TEST(Kf11SharedHandleExclusionTest, ChildrenForkedWhileParentThreadsWrite) {
  constexpr int kChildren = 6;
  constexpr int kChildSections = 150;
  ScopedName name("kf11c");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeOptions(100, 1 << 20)));
  ASSERT_OK(dict.Put("counter", "0"));
  SharedArray<Witness> w(1);
  ASSERT_TRUE(w.valid());
  std::atomic<int> parent_failures{0};
  std::vector<std::thread> parent_threads;
  for (int t = 0; t < 2; ++t) {
    parent_threads.emplace_back([&]() {
      while (w->stop.load() == 0) {
        if (!Section(dict, w.get()).ok()) parent_failures.fetch_add(1);
      }
    });
  }
  std::vector<pid_t> pids;
  for (int c = 0; c < kChildren; ++c) {
    // Let the parent's threads get going between forks.
    const uint64_t seen = w->sections.load();
    while (w->sections.load() < seen + 20) sched_yield();
    pids.push_back(StartChild(
        [&]() {
          for (int i = 0; i < kChildSections; ++i) {
            absl::Status s = Section(dict, w.get());
            if (!s.ok()) return ChildFailure(10, "section", s);
          }
          return 0;
        },
        /*alarm_seconds=*/20));
    ASSERT_GT(pids.back(), 0);
  }
  for (pid_t pid : pids) {
    const ChildResult r = WaitChild(pid);
    EXPECT_TRUE(r.ok()) << "child " << r.Describe()
                        << " (10 section failed; SIGALRM: hung)";
  }
  w->stop.store(1);
  for (std::thread& t : parent_threads) t.join();
  EXPECT_EQ(parent_failures.load(), 0);
  EXPECT_EQ(w->overlaps.load(), 0u);
  ExpectCounter(dict, w->sections.load());
  EXPECT_GE(w->sections.load(),
            static_cast<uint64_t>(kChildren * kChildSections));
  EXPECT_OK(dict.Check());
}

}  // namespace
}  // namespace zcipc
