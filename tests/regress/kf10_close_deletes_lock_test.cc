// docs/KNOWN-FAILURES.md, item 10 (the original Python package): Closing any
// handle deletes the lock file.
//
// The same workload: 8 processes write one dict at once; half of them keep
// attaching a new handle and destroying it every few writes, and two more
// processes do nothing but attach and destroy handles. Exclusion must hold
// throughout: a witness counter in memory shared by all processes shows
// that no two writers were ever inside the lock at once, a read-modify-write
// of a counter done by hand (Get, then Put, inside the lock) loses no
// increment, no reader sees a torn
// value, the segment file is the same inode from start to end, and Check()
// passes.

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
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
using ::zcipc_regress::StatSegment;
using ::zcipc_test::ChildFailure;
using ::zcipc_test::ChildResult;
using ::zcipc_test::MakeValue;
using ::zcipc_test::ParseValue;
using ::zcipc_test::ScopedName;
using ::zcipc_test::StartChild;
using ::zcipc_test::ToString;
using ::zcipc_test::WaitChild;

constexpr int kWriters = 8;
constexpr int kClosers = 2;
constexpr int kWritesPerWriter = 400;
constexpr int kSharedKeys = 16;
constexpr size_t kPadding = 600;

struct Witness {
  std::atomic<int64_t> inside{0};      // writers inside the lock right now
  std::atomic<uint64_t> overlaps{0};   // times a writer found another inside
  std::atomic<uint64_t> torn{0};       // reads that failed ParseValue
  std::atomic<uint64_t> handles{0};    // handles attached and destroyed
};

std::string SharedKey(int i) { return absl::StrCat("shared-", i); }

// One locked write: witness, a read-modify-write of "counter" done by hand
// (Get then Put, so only the lock makes it atomic), and a self-checking
// value under a shared key.
absl::Status LockedWrite(ZeroCopyDict& dict, Witness* w, int key,
                         uint64_t generation) {
  return dict.Write([&](Batch& batch) -> absl::Status {
    if (w->inside.fetch_add(1) != 0) w->overlaps.fetch_add(1);
    std::string counter;
    absl::Status s = batch.Get("counter", &counter);
    int64_t n = 0;
    if (s.ok() && !absl::SimpleAtoi(counter, &n)) {
      s = absl::DataLossError(absl::StrCat("counter is '", counter, "'"));
    }
    if (s.ok()) {
      usleep(0);  // widen the window between the read and the write
      s = batch.Put("counter", absl::StrCat(n + 1));
    }
    if (s.ok()) {
      const std::string k = SharedKey(key);
      s = batch.Put(k, MakeValue(k, generation, kPadding));
    }
    w->inside.fetch_sub(1);
    return s;
  });
}

void CheckRead(const ZeroCopyDict& dict, Witness* w, int key) {
  const std::string k = SharedKey(key);
  absl::StatusOr<std::string> v = dict.Get(k);
  if (v.ok() && !ParseValue(k, *v, nullptr, kPadding)) w->torn.fetch_add(1);
}

TEST(Kf10CloseDeletesLockTest, DestroyedHandlesNeverBreakExclusion) {
  ScopedName name("kf10");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeOptions(1000, 8 << 20)));
  ASSERT_OK(dict.Put("counter", "0"));
  for (int i = 0; i < kSharedKeys; ++i) {
    ASSERT_OK(dict.Put(SharedKey(i), MakeValue(SharedKey(i), 0, kPadding)));
  }
  struct stat before;
  ASSERT_TRUE(StatSegment(name.name(), &before));
  SharedArray<Witness> w(1);
  ASSERT_TRUE(w.valid());
  SharedArray<std::atomic<int>> closers_stop(1);

  std::vector<pid_t> writers, closers;
  for (int c = 0; c < kWriters; ++c) {
    const bool churns = c % 2 == 0;
    writers.push_back(StartChild([&, c, churns]() {
      std::mt19937_64 rng(c + 1);
      absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name.name());
      if (!d.ok()) return ChildFailure(10, "Attach", d.status());
      for (int i = 0; i < kWritesPerWriter; ++i) {
        if (churns && i % 5 == 0) {
          // Destroy this handle and take a new one (the seed's close()).
          d = absl::UnknownError("closed");
          d = ZeroCopyDict::Attach(name.name());
          if (!d.ok()) return ChildFailure(11, "re-Attach", d.status());
          w->handles.fetch_add(1);
        }
        absl::Status s =
            LockedWrite(*d, w.get(), static_cast<int>(rng() % kSharedKeys),
                        static_cast<uint64_t>(c) * 100000 + i + 1);
        if (!s.ok()) return ChildFailure(12, "Write", s);
        CheckRead(*d, w.get(), static_cast<int>(rng() % kSharedKeys));
      }
      return 0;
    }));
    ASSERT_GT(writers.back(), 0);
  }
  for (int c = 0; c < kClosers; ++c) {
    closers.push_back(StartChild([&]() {
      while (closers_stop[0].load() == 0) {
        absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name.name());
        if (!d.ok()) return ChildFailure(20, "Attach", d.status());
        CheckRead(*d, w.get(), 0);
        w->handles.fetch_add(1);
      }  // the handle is destroyed here, every time
      return 0;
    }));
    ASSERT_GT(closers.back(), 0);
  }
  for (pid_t pid : writers) {
    const ChildResult r = WaitChild(pid);
    EXPECT_TRUE(r.ok()) << "writer " << r.Describe()
                        << " (10 attach, 11 re-attach, 12 write)";
  }
  closers_stop[0].store(1);
  for (pid_t pid : closers) {
    const ChildResult r = WaitChild(pid);
    EXPECT_TRUE(r.ok()) << "closer " << r.Describe() << " (20 attach)";
  }

  std::cout << w->handles.load() << " handles attached and destroyed\n";
  EXPECT_GT(w->handles.load(), static_cast<uint64_t>(kWriters / 2 * 50));
  EXPECT_EQ(w->overlaps.load(), 0u) << "two writers were inside at once";
  EXPECT_EQ(w->torn.load(), 0u) << "torn values were read";
  ASSERT_OK_AND_ASSIGN(std::string counter, dict.Get("counter"));
  EXPECT_EQ(counter, absl::StrCat(kWriters * kWritesPerWriter))
      << "increments were lost";
  for (int i = 0; i < kSharedKeys; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string v, dict.Get(SharedKey(i)));
    EXPECT_TRUE(ParseValue(SharedKey(i), v, nullptr, kPadding));
  }
  EXPECT_EQ(dict.Size(), static_cast<uint64_t>(kSharedKeys + 1));
  EXPECT_OK(dict.Check());
  // Still the one file every handle locked: nothing deleted or replaced it.
  struct stat after;
  ASSERT_TRUE(StatSegment(name.name(), &after));
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_size, before.st_size);
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict fresh, ZeroCopyDict::Attach(name.name()));
  ASSERT_OK(fresh.Put("after", "x"));
  EXPECT_OK(fresh.Check());
}

}  // namespace
}  // namespace zcipc
