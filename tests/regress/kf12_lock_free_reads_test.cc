// docs/KNOWN-FAILURES.md, item 12 (the original Python package): Reads take the
// writers' lock, and waiting is a sleep loop.
//
// (1) A reader in one process keeps reading (Get, Read, Contains, ForEach)
// while a third process holds the writer lock for 300 ms: it completes
// many reads in that window, none of them takes long, and none is torn; the
// writer lock really is held (a write times out meanwhile). (2) A writer
// waiting for the lock is woken when the holder releases it, not at the next
// tick of a sleep loop: the median hand-over is well under a millisecond.

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/regress/regress_util.h"
#include "tests/test_util.h"
#include "zcipc/inspect.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_regress::MakeOptions;
using ::zcipc_regress::SharedArray;
using ::zcipc_test::ChildFailure;
using ::zcipc_test::ChildResult;
using ::zcipc_test::HasCode;
using ::zcipc_test::MakeValue;
using ::zcipc_test::ParseValue;
using ::zcipc_test::ScopedName;
using ::zcipc_test::SegmentPath;
using ::zcipc_test::StartChild;
using ::zcipc_test::ToString;
using ::zcipc_test::WaitChild;

constexpr int kKeys = 64;
constexpr size_t kPadding = 300;

struct Shared {
  std::atomic<uint64_t> reads{0};        // successful, verified reads
  std::atomic<uint64_t> bad{0};          // failed or torn reads
  std::atomic<int64_t> slowest_ns{0};    // the longest single read
  std::atomic<int> lock_held{0};         // the holder has the lock
  std::atomic<int> release{0};           // the holder may let go
  std::atomic<int> stop{0};
};

std::string Key(int i) { return absl::StrCat("key-", i); }

void NoteDuration(Shared* sh, absl::Time start) {
  const int64_t ns = absl::ToInt64Nanoseconds(absl::Now() - start);
  int64_t prev = sh->slowest_ns.load();
  while (ns > prev && !sh->slowest_ns.compare_exchange_weak(prev, ns)) {
  }
}

int ReaderChild(const std::string& name, Shared* sh) {
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name);
  if (!d.ok()) return ChildFailure(10, "Attach", d.status());
  std::mt19937_64 rng(12);
  for (uint64_t n = 0; sh->stop.load() == 0; ++n) {
    const std::string key = Key(static_cast<int>(rng() % kKeys));
    const absl::Time start = absl::Now();
    bool good = false;
    switch (n % 8) {
      case 0: {
        std::string seen;
        good = d->Read(key, [&](absl::string_view v) { seen = ToString(v); })
                   .ok() &&
               ParseValue(key, seen, nullptr, kPadding);
        break;
      }
      case 1: {
        absl::StatusOr<bool> has = d->Contains(key);
        good = has.ok() && *has;
        break;
      }
      case 2:
        if (n % 256 == 2) {
          int pairs = 0;
          good = d->ForEach([&](absl::string_view k, absl::string_view v) {
                    if (ParseValue(k, v, nullptr, kPadding)) ++pairs;
                  }).ok() &&
                 pairs == kKeys;
          break;
        }
        [[fallthrough]];
      default: {
        std::string value;
        good = d->Get(key, &value).ok() &&
               ParseValue(key, value, nullptr, kPadding);
      }
    }
    NoteDuration(sh, start);
    (good ? sh->reads : sh->bad).fetch_add(1);
  }
  return 0;
}

TEST(Kf12LockFreeReadsTest, ReaderKeepsReadingWhileAnotherProcessHoldsTheLock) {
  ScopedName name("kf12a");
  Options options = MakeOptions(1000, 4 << 20);
  options.lock_timeout = absl::Milliseconds(50);
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict dict,
                       ZeroCopyDict::Create(name.name(), options));
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_OK(dict.Put(Key(i), MakeValue(Key(i), 1, kPadding)));
  }
  SharedArray<Shared> sh(1);
  ASSERT_TRUE(sh.valid());

  const pid_t reader =
      StartChild([&]() { return ReaderChild(name.name(), sh.get()); }, 30);
  ASSERT_GT(reader, 0);
  const pid_t holder = StartChild(
      [&]() {
        absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name.name());
        if (!d.ok()) return 20;
        absl::Status s = d->Write([&](Batch&) {
          sh->lock_held.store(1);
          while (sh->release.load() == 0) usleep(1000);
          return absl::OkStatus();
        });
        return s.ok() ? 0 : 21;
      },
      30);
  ASSERT_GT(holder, 0);

  // Wait for the reader to run and the holder to hold.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while ((sh->reads.load() == 0 || sh->lock_held.load() == 0) &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(sh->lock_held.load(), 1) << "the holder never took the writer lock";
  ASSERT_GT(sh->reads.load(), 0u) << "the reader never read";

  // 300 ms with the lock held by the third process.
  sh->slowest_ns.store(0);
  const uint64_t reads_before = sh->reads.load();
  const absl::Time window_start = absl::Now();
  // The writer lock really is held: a write times out.
  EXPECT_TRUE(
      HasCode(dict.Put(Key(0), "x"), absl::StatusCode::kDeadlineExceeded));
  ASSERT_OK_AND_ASSIGN(Inspection in, Inspect(dict));
  EXPECT_TRUE(in.lock_held);
  absl::SleepFor(absl::Milliseconds(300) - (absl::Now() - window_start));
  const uint64_t window_reads = sh->reads.load() - reads_before;
  const int64_t slowest_ns = sh->slowest_ns.load();
  ASSERT_OK_AND_ASSIGN(in, Inspect(dict));
  EXPECT_TRUE(in.lock_held) << "the holder let go early";
  sh->release.store(1);

  const ChildResult h = WaitChild(holder);
  EXPECT_TRUE(h.ok()) << "holder " << h.Describe() << " (20 attach, 21 write)";
  sh->stop.store(1);
  const ChildResult r = WaitChild(reader);
  EXPECT_TRUE(r.ok()) << "reader " << r.Describe() << " (10 attach)";

  std::cout << window_reads << " reads in 300 ms with the lock held, slowest "
            << absl::Nanoseconds(slowest_ns) << "\n";
  // A reader behind the lock completes none in the window, and its read in
  // flight takes the whole 300 ms; a lock-free one completes thousands, each
  // in microseconds. (The bound on the slowest read leaves room for the
  // scheduler of a loaded 2-core machine: 124 ms was seen with 10 copies of
  // this test running at once.)
  EXPECT_GT(window_reads, 1000u);
  EXPECT_LT(slowest_ns, absl::ToInt64Nanoseconds(absl::Milliseconds(200)));
  EXPECT_EQ(sh->bad.load(), 0u) << "reads failed or were torn";
  // After the release, writes go through again.
  EXPECT_OK(dict.Put(Key(0), MakeValue(Key(0), 2, kPadding)));
  EXPECT_OK(dict.Check());
}

// Hand-over latency: a handle holds the lock inside Write() for ~2 ms while
// another handle (another open file description, as another process would
// have) waits in Put. The time from the holder's release to the waiter's
// return is measured 100 times. A 1 ms sleep loop would make the median
// about half a millisecond or more; a futex wake-up takes microseconds.
TEST(Kf12LockFreeReadsTest, WaitingWriterIsWokenAtRelease) {
  ScopedName name("kf12b");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict holder_handle,
      ZeroCopyDict::Create(name.name(), MakeOptions(100, 1 << 20)));
  ASSERT_OK_AND_ASSIGN(ZeroCopyDict waiter_handle,
                       ZeroCopyDict::Attach(name.name()));
  std::vector<int64_t> handover_ns;
  std::mt19937_64 rng(12);
  for (int round = 0; round < 100; ++round) {
    std::atomic<int> held{0};
    std::atomic<int64_t> released_at{0};
    // Hold 1.5 ms plus a random part, so the release falls at a random point
    // of any fixed polling period (a constant hold could phase-lock with it).
    const absl::Duration hold =
        absl::Microseconds(1500 + static_cast<int64_t>(rng() % 1000));
    std::thread holder([&]() {
      EXPECT_OK(holder_handle.Write([&](Batch& batch) {
        held.store(1);
        const absl::Time until = absl::Now() + hold;
        while (absl::Now() < until) {
        }
        released_at.store(absl::GetCurrentTimeNanos());
        return absl::OkStatus();
      }));
    });
    while (held.load() == 0) std::this_thread::yield();
    // The holder holds 1.5-2.5 ms: the Put below starts waiting well before
    // the release.
    EXPECT_OK(waiter_handle.Put("k", absl::StrCat(round)));
    const int64_t done = absl::GetCurrentTimeNanos();
    holder.join();
    handover_ns.push_back(done - released_at.load());
  }
  std::sort(handover_ns.begin(), handover_ns.end());
  const int64_t median = handover_ns[handover_ns.size() / 2];
  std::cout << "hand-over: median " << absl::Nanoseconds(median) << ", p90 "
            << absl::Nanoseconds(handover_ns[handover_ns.size() * 9 / 10])
            << "\n";
  // A waiter that were not woken would notice the release only at its next
  // check (every WriterLock::kCheckPeriod = 5 ms, at a random point of the
  // hold), so its median hand-over would be about 2.5 ms; a woken one is
  // microseconds. 1 ms tells the two apart with room for a loaded machine.
  EXPECT_LT(median, absl::ToInt64Nanoseconds(absl::Milliseconds(1)));
  EXPECT_OK(holder_handle.Check());
}

}  // namespace
}  // namespace zcipc
