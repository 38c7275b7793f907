// docs/KNOWN-FAILURES.md, item 5 (the original Python package): A failed insert
// leaks the key's block.
//
// Every way to insert a new key (Put, Batch::Put, CompareAndSwap from absent,
// Update of an absent key, Add of an absent counter) is made to fail for
// lack of heap, of slots, or for a bad key, hundreds of times: the allocator
// state is exactly unchanged, no key appears, the write counter does not
// move, and the heap can afterwards hold exactly as much as it could before.

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/regress/regress_util.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_regress::MakeFixedOptions;
using ::zcipc_regress::MatchesModelAndDisjoint;
using ::zcipc_regress::PatternBytes;
using ::zcipc_regress::SameAllocatorState;
using ::zcipc_test::HasCode;
using ::zcipc_test::ScopedName;

constexpr absl::StatusCode kResourceExhausted =
    absl::StatusCode::kResourceExhausted;

// Puts `size`-byte values under fresh keys until one is refused; returns
// how many fitted.
int FillWith(ZeroCopyDict& dict, const std::string& prefix, size_t size,
             std::map<std::string, std::string>* model) {
  for (int i = 0;; ++i) {
    const std::string key = absl::StrCat(prefix, i);
    std::string value = PatternBytes(size, i + 31 * size);
    absl::Status s = dict.Put(key, value);
    if (!s.ok()) {
      EXPECT_TRUE(HasCode(s, kResourceExhausted));
      return i;
    }
    (*model)[key] = std::move(value);
  }
}

// Every failed insert path, `rounds` times each, under fresh keys.
void FailEveryInsertPath(ZeroCopyDict& dict, size_t too_big, int rounds) {
  for (int r = 0; r < rounds; ++r) {
    const std::string big = PatternBytes(too_big, r);
    const std::string key = absl::StrCat("never-", r);
    EXPECT_TRUE(HasCode(dict.Put(key, big), kResourceExhausted));
    // A long key (the key's bytes are part of the block the seed leaked).
    EXPECT_TRUE(HasCode(dict.Put(std::string(60000, 'k') + key, big),
                        kResourceExhausted));
    EXPECT_TRUE(HasCode(dict.CompareAndSwap(key, std::nullopt, big),
                        kResourceExhausted));
    EXPECT_TRUE(HasCode(dict.Update(key,
                                    [&](std::optional<absl::string_view> old,
                                        std::string* out) {
                                      *out = big;
                                      return absl::OkStatus();
                                    }),
                        kResourceExhausted));
    EXPECT_TRUE(
        HasCode(dict.Write([&](Batch& batch) { return batch.Put(key, big); }),
                kResourceExhausted));
    // Over the key size limit: refused before anything is allocated.
    EXPECT_TRUE(HasCode(dict.Put(std::string(kMaxKeySize + 1, 'x'), "v"),
                        absl::StatusCode::kInvalidArgument));
  }
}

TEST(Kf05FailedInsertLeakTest, FailedInsertsAtFullHeapLeakNothing) {
  ScopedName name("kf05a");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeFixedOptions(20000, 1 << 20)));
  std::map<std::string, std::string> model;
  const int first_fill = FillWith(dict, "a-", 3000, &model);
  ASSERT_GT(first_fill, 100);
  const AllocatorStats full = dict.GetAllocatorStats();
  const uint64_t writes = dict.GetStats().writes_total;

  FailEveryInsertPath(dict, 5000, 200);
  EXPECT_TRUE(SameAllocatorState(full, dict.GetAllocatorStats()));
  EXPECT_EQ(dict.GetStats().writes_total, writes);
  EXPECT_EQ(dict.Size(), model.size());
  // A counter needs only a small block: an Add of an absent key fails when
  // not even that fits.
  (void)FillWith(dict, "tiny-", 1, &model);
  const AllocatorStats tiny_full = dict.GetAllocatorStats();
  const uint64_t tiny_writes = dict.GetStats().writes_total;
  for (int r = 0; r < 200; ++r) {
    EXPECT_TRUE(
        HasCode(dict.Add(absl::StrCat("counter-", r), 1), kResourceExhausted));
  }
  EXPECT_TRUE(SameAllocatorState(tiny_full, dict.GetAllocatorStats()));
  EXPECT_EQ(dict.GetStats().writes_total, tiny_writes);
  EXPECT_TRUE(MatchesModelAndDisjoint(dict, model));
  EXPECT_OK(dict.Check());

  // Remove the tiny ones: back to the state after the first fill.
  for (auto it = model.begin(); it != model.end();) {
    if (it->first.rfind("tiny-", 0) == 0) {
      ASSERT_OK(dict.Erase(it->first));
      it = model.erase(it);
    } else {
      ++it;
    }
  }
  EXPECT_TRUE(SameAllocatorState(full, dict.GetAllocatorStats()));

  // The heap's capacity is intact: empty it and fill it again with the same
  // values; exactly as many fit.
  for (const auto& [k, v] : model) ASSERT_OK(dict.Erase(k));
  model.clear();
  EXPECT_EQ(FillWith(dict, "a-", 3000, &model), first_fill);
  EXPECT_TRUE(SameAllocatorState(full, dict.GetAllocatorStats()));
  EXPECT_OK(dict.Check());
}

TEST(Kf05FailedInsertLeakTest, FailedInsertsAtFullTableLeakNothing) {
  ScopedName name("kf05b");
  constexpr uint64_t kMaxItems = 50;
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeFixedOptions(kMaxItems, 1 << 20)));
  std::map<std::string, std::string> model;
  for (uint64_t i = 0; i < kMaxItems; ++i) {
    const std::string key = absl::StrCat("t", i);
    model[key] = PatternBytes(100, i);
    ASSERT_OK(dict.Put(key, model[key]));
  }
  const AllocatorStats before = dict.GetAllocatorStats();
  const uint64_t writes = dict.GetStats().writes_total;
  // Values that would fit the heap easily: only the table is full.
  FailEveryInsertPath(dict, 100, 200);
  for (int r = 0; r < 200; ++r) {
    EXPECT_TRUE(
        HasCode(dict.Add(absl::StrCat("counter-", r), 1), kResourceExhausted));
  }
  EXPECT_TRUE(SameAllocatorState(before, dict.GetAllocatorStats()));
  EXPECT_EQ(dict.GetStats().writes_total, writes);
  EXPECT_EQ(dict.Size(), kMaxItems);
  EXPECT_TRUE(MatchesModelAndDisjoint(dict, model));
  EXPECT_OK(dict.Check());
}

}  // namespace
}  // namespace zcipc
