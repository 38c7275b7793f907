// docs/KNOWN-FAILURES.md, item 4 (the original Python package): An update frees
// the old value before allocating the new one.
//
// Both halves: (1) at a full heap, a relocating update fails with
// ResourceExhausted, the old value stays where it was, byte for byte, the
// allocator is exactly unchanged, and later allocations never take the old
// value's block; (2) a writer killed during relocating updates leaves the key
// with one complete value, and filling the heap afterwards never overwrites
// it.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
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

using ::zcipc_regress::kReadIsZeroCopy;
using ::zcipc_regress::MakeFixedOptions;
using ::zcipc_regress::MatchesModelAndDisjoint;
using ::zcipc_regress::PatternBytes;
using ::zcipc_regress::SameAllocatorState;
using ::zcipc_regress::SharedArray;
using ::zcipc_test::ChildFailure;
using ::zcipc_test::ChildResult;
using ::zcipc_test::HasCode;
using ::zcipc_test::MakeValue;
using ::zcipc_test::ParseValue;
using ::zcipc_test::ScopedName;
using ::zcipc_test::StartChild;
using ::zcipc_test::WaitChild;

constexpr absl::StatusCode kResourceExhausted =
    absl::StatusCode::kResourceExhausted;

uintptr_t ValueAddress(const ZeroCopyDict& dict, const std::string& key) {
  uintptr_t a = 0;
  EXPECT_OK(dict.Read(key, [&](absl::string_view v) {
    a = reinterpret_cast<uintptr_t>(v.data());
  }));
  return a;
}

TEST(Kf04UpdateFreeBeforeAllocTest, FailedRelocationAtFullHeapChangesNothing) {
  ScopedName name("kf04a");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeFixedOptions(5000, 512 << 10)));
  // Fill the heap with 2 KiB values until one is refused.
  std::map<std::string, std::string> model;
  for (int i = 0;; ++i) {
    const std::string key = absl::StrCat("fill-", i);
    std::string value = PatternBytes(2048, i);
    absl::Status s = dict.Put(key, value);
    if (!s.ok()) {
      ASSERT_TRUE(HasCode(s, kResourceExhausted));
      break;
    }
    model[key] = std::move(value);
  }
  ASSERT_GT(model.size(), 100u);
  const std::string victim = "fill-7";
  const uintptr_t home = ValueAddress(dict, victim);
  const AllocatorStats before = dict.GetAllocatorStats();
  const Stats stats_before = dict.GetStats();
  // Free space is now less than one 2 KiB entry.
  ASSERT_LT(before.largest_free_block, 2048u + 40u);

  // Relocating updates: larger than the block, in-place-sized (<= 4 KiB) and
  // always-relocating (> 4 KiB) ones. Each fails, repeatedly.
  for (size_t size : {2100, 3000, 4096, 5000, 100000}) {
    SCOPED_TRACE(absl::StrCat("update to ", size, " bytes"));
    for (int attempt = 0; attempt < 3; ++attempt) {
      EXPECT_TRUE(HasCode(dict.Put(victim, PatternBytes(size, 1000 + size)),
                          kResourceExhausted));
    }
    ASSERT_OK_AND_ASSIGN(std::string got, dict.Get(victim));
    ASSERT_TRUE(got == model[victim]) << "old value damaged";
    if (kReadIsZeroCopy) {
      EXPECT_EQ(ValueAddress(dict, victim), home);
    }
    EXPECT_TRUE(SameAllocatorState(before, dict.GetAllocatorStats()));
  }
  // Through the read-modify-write paths too.
  EXPECT_TRUE(HasCode(
      dict.Update(victim,
                  [](std::optional<absl::string_view> old, std::string* out) {
                    *out = std::string(old->size() * 3, 'u');
                    return absl::OkStatus();
                  }),
      kResourceExhausted));
  EXPECT_TRUE(
      HasCode(dict.CompareAndSwap(victim, absl::string_view(model[victim]),
                                  PatternBytes(9000, 5)),
              kResourceExhausted));
  EXPECT_TRUE(SameAllocatorState(before, dict.GetAllocatorStats()));
  EXPECT_EQ(dict.GetStats().writes_total, stats_before.writes_total);
  EXPECT_EQ(dict.Size(), model.size());

  // Later allocations never take the victim's block: free two other entries
  // and refill the space with new keys; the victim keeps its bytes.
  for (const char* k : {"fill-3", "fill-40"}) {
    ASSERT_OK(dict.Erase(k));
    model.erase(k);
  }
  for (int i = 0;; ++i) {
    const std::string key = absl::StrCat("refill-", i);
    std::string value = PatternBytes(1000, 5000 + i);
    absl::Status s = dict.Put(key, value);
    if (!s.ok()) {
      ASSERT_TRUE(HasCode(s, kResourceExhausted));
      break;
    }
    model[key] = std::move(value);
  }
  EXPECT_TRUE(MatchesModelAndDisjoint(dict, model));
  EXPECT_OK(dict.Check());
  // A shrinking update still works at full heap (in place).
  ASSERT_OK(dict.Put(victim, "small"));
  model[victim] = "small";
  EXPECT_TRUE(MatchesModelAndDisjoint(dict, model));
  EXPECT_OK(dict.Check());
}

// A writer process rewrites one key with values that keep changing size (in
// place and relocating) and is SIGKILLed at random moments. The key then
// holds a complete value, the one last acknowledged or the one in flight;
// the next process fills the heap with other keys, and the victim's bytes
// stay its own.
TEST(Kf04UpdateFreeBeforeAllocTest,
     WriterKilledDuringRelocationLeavesNoDangle) {
  constexpr int kRounds = 25;
  constexpr size_t kPadding = 12000;  // sizes straddle the 4 KiB in-place limit
  ScopedName name("kf04b");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeFixedOptions(2000, 512 << 10)));
  const std::string victim = "victim";
  ASSERT_OK(dict.Put(victim, MakeValue(victim, 0, kPadding)));
  uint64_t next_gen = 1;
  std::mt19937_64 rng(4);
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    SharedArray<std::atomic<uint64_t>> acked(1);
    ASSERT_TRUE(acked.valid());
    acked[0].store(next_gen - 1);
    const uint64_t first = next_gen;
    // Values are built before the fork, so the child spends its time in Put.
    std::vector<std::string> values;
    for (uint64_t g = first; g < first + 600; ++g) {
      values.push_back(MakeValue(victim, g, kPadding));
    }
    pid_t pid = StartChild([&]() {
      absl::StatusOr<ZeroCopyDict> d =
          ZeroCopyDict::Attach(name.name(), MakeFixedOptions(2000, 512 << 10));
      if (!d.ok()) return ChildFailure(10, "Attach", d.status());
      for (uint64_t i = 0; i < values.size(); ++i) {
        absl::Status s = d->Put(victim, values[i]);
        if (!s.ok()) return ChildFailure(11, "Put", s);
        acked[0].store(first + i, std::memory_order_release);
      }
      pause();  // ran out of values before the kill: wait for it
      return 0;
    });
    ASSERT_GT(pid, 0);
    const uint64_t target = first + 5 + rng() % 200;
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (acked[0].load() < target && absl::Now() < deadline) {
      std::this_thread::yield();
    }
    absl::SleepFor(absl::Microseconds(rng() % 300));
    kill(pid, SIGKILL);
    const ChildResult child = WaitChild(pid);
    ASSERT_EQ(child.signal, SIGKILL)
        << child.Describe() << " (10 attach, 11 put)";
    const uint64_t last_acked = acked[0].load();

    // Check() takes the lock, so it first repairs the killed writer's
    // operation: completes it (the value in flight) or undoes it. Read the
    // key after that, since a lock-free read before the repair may see the
    // old value and the repair then complete the new one.
    ASSERT_OK(dict.Check());
    // The key holds the last acknowledged value or the one in flight.
    ASSERT_OK_AND_ASSIGN(std::string got, dict.Get(victim));
    uint64_t gen = 0;
    ASSERT_TRUE(ParseValue(victim, got, &gen, kPadding)) << "torn value";
    ASSERT_TRUE(gen == last_acked || gen == last_acked + 1)
        << "generation " << gen << ", last acknowledged " << last_acked;

    // Fill every free byte with other keys: none may land on the victim.
    std::map<std::string, std::string> model = {{victim, got}};
    for (int i = 0;; ++i) {
      const std::string key = absl::StrCat("filler-", i);
      std::string value = PatternBytes(700 + (i % 5) * 300, round * 1000 + i);
      absl::Status s = dict.Put(key, value);
      if (!s.ok()) {
        ASSERT_TRUE(HasCode(s, kResourceExhausted));
        break;
      }
      model[key] = std::move(value);
    }
    ASSERT_GT(model.size(), 50u);
    ASSERT_TRUE(MatchesModelAndDisjoint(dict, model));
    ASSERT_OK(dict.Check());
    for (const auto& [k, v] : model) {
      if (k != victim) {
        ASSERT_OK(dict.Erase(k));
      }
    }
    next_gen = std::max(gen, last_acked) + 1;
    // The next child starts from a value the parent wrote.
    ASSERT_OK(dict.Put(victim, MakeValue(victim, next_gen, kPadding)));
    ++next_gen;
  }
  EXPECT_OK(dict.Check());
}

}  // namespace
}  // namespace zcipc
