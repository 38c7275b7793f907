// docs/KNOWN-FAILURES.md, item 13 (the original Python package): A writer that
// dies mid-operation leaves a torn dict.
//
// A writer process runs a fixed, known schedule of operations (inserts, in
// place and relocating replacements, erases, counter increments) and records
// how many have returned; it is SIGKILLed at a random moment, a few dozen
// times. After each kill the dict must be exactly the schedule's state after
// the acknowledged operations, except that the one in flight may be
// complete: every acknowledged write present, nothing torn, and Check()
// passes. Half the rounds meet the wreck with a lock-free reader first (it
// must repair or wait, never return junk), the other half with a writer.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <iostream>
#include <map>
#include <optional>
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
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_regress::MakeOptions;
using ::zcipc_regress::SharedArray;
using ::zcipc_test::ChildFailure;
using ::zcipc_test::ChildResult;
using ::zcipc_test::MakeValue;
using ::zcipc_test::ScopedName;
using ::zcipc_test::StartChild;
using ::zcipc_test::ToString;
using ::zcipc_test::WaitChild;

constexpr int kKeys = 48;
// Values up to ~200 KB keep the writer copying long enough that random kills
// land inside writes (with ~9 KB values some runs saw no repair at all).
constexpr size_t kPadding = 200000;
constexpr int kRounds = 40;
constexpr int kOpsPerRound = 1600;

enum class Kind { kPut, kErase, kAdd };
struct Op {
  Kind kind;
  std::string key;
  std::string value;  // kPut
};

// The state a dict has after some operations: key -> value.
using State = std::map<std::string, std::string>;

// Add's documented value: 8 bytes, little-endian.
std::string CounterValue(int64_t n) {
  std::string v(8, '\0');
  for (int i = 0; i < 8; ++i) {
    v[i] = static_cast<char>((static_cast<uint64_t>(n) >> (8 * i)) & 0xff);
  }
  return v;
}

int64_t CounterOf(const std::string& v) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(v[i]);
  return static_cast<int64_t>(n);
}

void Apply(const Op& op, State* state) {
  switch (op.kind) {
    case Kind::kPut:
      (*state)[op.key] = op.value;
      break;
    case Kind::kErase:
      state->erase(op.key);
      break;
    case Kind::kAdd: {
      auto it = state->find(op.key);
      const int64_t old = it == state->end() ? 0 : CounterOf(it->second);
      (*state)[op.key] = CounterValue(old + 1);
      break;
    }
  }
}

State ReadState(const ZeroCopyDict& dict, bool* ok) {
  State state;
  *ok = dict.ForEach([&](absl::string_view k, absl::string_view v) {
              state[ToString(k)] = ToString(v);
            }).ok();
  return state;
}

TEST(Kf13KilledWriterTest, EveryAcknowledgedWriteSurvivesAndNothingIsTorn) {
  ScopedName name("kf13");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeOptions(500, 64 << 20)));
  std::mt19937_64 rng(13);
  State state;  // the dict's verified state between rounds
  uint64_t generation = 0;
  const uint64_t repairs_before = dict.GetStats().repairs_total;
  int in_flight_done = 0, in_flight_absent = 0;

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    // This round's schedule, built before the fork.
    std::vector<Op> ops;
    for (int i = 0; i < kOpsPerRound; ++i) {
      const std::string key = absl::StrCat("k", rng() % kKeys);
      const uint64_t r = rng() % 10;
      if (r < 6) {
        ops.push_back({Kind::kPut, key, MakeValue(key, ++generation, kPadding)});
      } else if (r < 8) {
        ops.push_back({Kind::kErase, key, ""});
      } else {
        ops.push_back({Kind::kAdd, absl::StrCat("counter-", rng() % 4), ""});
      }
    }
    SharedArray<std::atomic<int64_t>> acked(1);  // ops that returned
    ASSERT_TRUE(acked.valid());
    const pid_t pid = StartChild([&]() {
      absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name.name());
      if (!d.ok()) return ChildFailure(10, "Attach", d.status());
      for (size_t i = 0; i < ops.size(); ++i) {
        const Op& op = ops[i];
        absl::Status s;
        switch (op.kind) {
          case Kind::kPut:
            s = d->Put(op.key, op.value);
            break;
          case Kind::kErase:
            s = d->Erase(op.key);
            if (absl::IsNotFound(s)) s = absl::OkStatus();
            break;
          case Kind::kAdd:
            s = d->Add(op.key, 1).status();
            break;
        }
        if (!s.ok()) return ChildFailure(11, "operation", s);
        acked[0].store(static_cast<int64_t>(i) + 1);
      }
      pause();  // out of operations before the kill: wait for it
      return 0;
    });
    ASSERT_GT(pid, 0);
    const int64_t target = 10 + static_cast<int64_t>(rng() % 1000);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (acked[0].load() < target && absl::Now() < deadline) {
      std::this_thread::yield();
    }
    absl::SleepFor(absl::Microseconds(rng() % 500));
    kill(pid, SIGKILL);
    const ChildResult child = WaitChild(pid);
    ASSERT_EQ(child.signal, SIGKILL) << child.Describe()
                                     << " (10 attach, 11 operation failed)";
    const int64_t n = acked[0].load();

    // The acknowledged state, and the same plus the op in flight.
    State without = state;
    for (int64_t i = 0; i < n; ++i) Apply(ops[i], &without);
    State with = without;
    if (n < static_cast<int64_t>(ops.size())) Apply(ops[n], &with);

    if (round % 2 == 0) {
      // A lock-free reader first: every key reads as in one of the two
      // states (which differ in one key at most), never torn.
      State keys = without;
      keys.insert(with.begin(), with.end());
      for (const auto& [k, unused] : keys) {
        absl::StatusOr<std::string> got = dict.Get(k);
        const auto a = without.find(k);
        const auto b = with.find(k);
        if (got.ok()) {
          ASSERT_TRUE((a != without.end() && *got == a->second) ||
                      (b != with.end() && *got == b->second))
              << "torn or stale value of " << k;
        } else {
          ASSERT_TRUE(absl::IsNotFound(got.status())) << got.status();
          ASSERT_TRUE(a == without.end() || b == with.end())
              << "acknowledged key " << k << " is missing";
        }
      }
      ASSERT_OK(dict.Check());
    } else {
      // A writer first (Check takes the writer lock and repairs).
      ASSERT_OK(dict.Check());
    }
    bool ok = false;
    const State actual = ReadState(dict, &ok);
    ASSERT_TRUE(ok);
    if (actual == with && with != without) {
      ++in_flight_done;
    } else if (actual == without) {
      ++in_flight_absent;
    } else {
      ASSERT_TRUE(actual == with)
          << "after " << n << " acknowledged operations the dict is neither "
          << "their state nor their state plus the one in flight";
    }
    EXPECT_EQ(dict.Size(), actual.size());
    state = actual;
  }
  const uint64_t repairs = dict.GetStats().repairs_total - repairs_before;
  std::cout << kRounds << " kills: in-flight operation completed "
            << in_flight_done << ", absent " << in_flight_absent << ", "
            << repairs << " repairs\n";
  EXPECT_GT(repairs, 0u) << "no kill landed inside a write: the test proved "
                            "nothing about repair";
  EXPECT_OK(dict.Check());
}

}  // namespace
}  // namespace zcipc
