// docs/KNOWN-FAILURES.md, item 8 (the original Python package): Lookups fail on
// a full table.
//
// On a table holding max_items entries, and also carrying as many tombstones
// as it keeps before a purge, every lookup of a missing key answers NotFound
// (Get, Read, GetLocked, Contains -> false, Erase, CompareAndSwap -> false,
// Update sees no value), quickly, and leaves the dict unchanged; only an
// insert is ResourceExhausted. Several table sizes, down to one entry.

#include <cstdint>
#include <optional>
#include <string>

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

using ::zcipc_regress::MakeFixedOptions;
using ::zcipc_test::HasCode;
using ::zcipc_test::ScopedName;

constexpr absl::StatusCode kNotFound = absl::StatusCode::kNotFound;

void ExpectEveryLookupMisses(ZeroCopyDict& dict, const std::string& key) {
  SCOPED_TRACE(key);
  std::string value;
  absl::Status s = dict.Get(key, &value);
  EXPECT_TRUE(HasCode(s, kNotFound));
  EXPECT_TRUE(HasCode(dict.Get(key), kNotFound));
  bool called = false;
  EXPECT_TRUE(HasCode(dict.Read(key, [&](absl::string_view) { called = true; }),
                      kNotFound));
  EXPECT_FALSE(called);
  EXPECT_TRUE(HasCode(dict.GetLocked(key, &value), kNotFound));
  absl::StatusOr<bool> has = dict.Contains(key);
  ASSERT_OK(has.status());
  EXPECT_FALSE(*has);
  // "pop with default": Erase of a missing key is NotFound, not "full".
  EXPECT_TRUE(HasCode(dict.Erase(key), kNotFound));
  // A compare-and-swap expecting some value finds none: false, no error.
  absl::StatusOr<bool> swapped = dict.CompareAndSwap(key, "expected", "new");
  ASSERT_OK(swapped.status());
  EXPECT_FALSE(*swapped);
  // Update sees the key as absent; an update that declines changes nothing.
  bool saw_absent = false;
  EXPECT_TRUE(HasCode(
      dict.Update(key,
                  [&](std::optional<absl::string_view> old, std::string*) {
                    saw_absent = !old.has_value();
                    return absl::CancelledError("declined");
                  }),
      absl::StatusCode::kCancelled));
  EXPECT_TRUE(saw_absent);
  EXPECT_TRUE(HasCode(dict.Write([&](Batch& batch) {
    std::string v;
    return batch.Get(key, &v);
  }),
                      kNotFound));
}

void FillAndProbe(uint64_t max_items) {
  SCOPED_TRACE(absl::StrCat("max_items ", max_items));
  ScopedName name("kf08");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeFixedOptions(max_items, 1 << 20)));
  const uint64_t slots = dict.GetStats().slot_count;
  for (uint64_t i = 0; i < max_items; ++i) {
    ASSERT_OK(dict.Put(absl::StrCat("live-", i), absl::StrCat(i)));
  }
  // Churn at full size: erase one, insert another, so erased slots stay
  // behind as tombstones next to the live ones (up to the purge threshold).
  uint64_t max_tombstones = 0;
  for (uint64_t i = 0; i < 3 * slots; ++i) {
    ASSERT_OK(dict.Erase(absl::StrCat("live-", i)));
    ASSERT_OK(dict.Put(absl::StrCat("live-", i + max_items),
                       absl::StrCat(i + max_items)));
    max_tombstones = std::max(max_tombstones, dict.GetStats().tombstones);
  }
  const uint64_t first_live = 3 * slots;
  ASSERT_EQ(dict.Size(), max_items);
  EXPECT_TRUE(
      HasCode(dict.Put("one-more", "x"), absl::StatusCode::kResourceExhausted));
  const Stats before = dict.GetStats();
  std::cout << "max_items " << max_items << ": " << slots << " slots, "
            << before.tombstones << " tombstones now, at most "
            << max_tombstones << "\n";

  for (uint64_t i = 0; i < 50; ++i) {
    ExpectEveryLookupMisses(dict, absl::StrCat("missing-", i));
    // Keys that once lived and were erased: their tombstones are on the way.
    if (i < first_live) {
      ExpectEveryLookupMisses(dict, absl::StrCat("live-", i));
    }
  }
  // Every possible home slot: a miss never reads more than the table.
  ASSERT_OK_AND_ASSIGN(Inspection in, Inspect(dict));
  EXPECT_LE(in.probes.max_miss, slots);

  // Many misses are fast: bounded probes, not an error path.
  std::string value;
  const absl::Time start = absl::Now();
  constexpr int kMisses = 20000;
  for (int i = 0; i < kMisses; ++i) {
    ASSERT_TRUE(absl::IsNotFound(dict.Get(absl::StrCat("m", i), &value)));
  }
  EXPECT_LT((absl::Now() - start) / kMisses, absl::Microseconds(20));

  // Nothing changed; every live key is still found.
  const Stats after = dict.GetStats();
  EXPECT_EQ(after.size, max_items);
  EXPECT_EQ(after.writes_total, before.writes_total);
  for (uint64_t i = first_live; i < first_live + max_items; ++i) {
    ASSERT_OK_AND_ASSIGN(std::string v, dict.Get(absl::StrCat("live-", i)));
    EXPECT_EQ(v, absl::StrCat(i));
  }
  EXPECT_OK(dict.Check());
}

TEST(Kf08FullTableLookupTest, OneEntry) { FillAndProbe(1); }
TEST(Kf08FullTableLookupTest, TwelveEntries) { FillAndProbe(12); }
TEST(Kf08FullTableLookupTest, ExactlyThreeQuartersOf1024) { FillAndProbe(768); }
TEST(Kf08FullTableLookupTest, OddSize) { FillAndProbe(1000); }

}  // namespace
}  // namespace zcipc
