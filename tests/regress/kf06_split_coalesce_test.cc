// docs/KNOWN-FAILURES.md, item 6 (the original Python package): No splitting,
// no coalescing.
//
// Without coalescing, a heap filled with small entries and emptied again can
// never hold one large value; without splitting, a heap that once held a
// large value can hold only one small value in its place. Here both work, in
// cycles, and the heap returns to one free block each time (zcipc has no
// compaction call: freeing coalesces at once).

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/regress/regress_util.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_regress::EntryCost;
using ::zcipc_regress::MakeFixedOptions;
using ::zcipc_regress::MatchesModelAndDisjoint;
using ::zcipc_regress::PatternBytes;
using ::zcipc_regress::SameAllocatorState;
using ::zcipc_test::HasCode;
using ::zcipc_test::ScopedName;

constexpr uint64_t kHeap = 1 << 20;

int FillSmall(ZeroCopyDict& dict, size_t size, int cycle,
              std::vector<std::string>* keys) {
  for (int i = 0;; ++i) {
    const std::string key = absl::StrCat("c", cycle, "-", i);
    absl::Status s = dict.Put(key, PatternBytes(size, i));
    if (!s.ok()) {
      EXPECT_TRUE(HasCode(s, absl::StatusCode::kResourceExhausted)) << s;
      return i;
    }
    keys->push_back(key);
  }
}

TEST(Kf06SplitCoalesceTest, HeapCyclesBetweenManySmallAndOneLargeValue) {
  ScopedName name("kf06a");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeFixedOptions(100000, kHeap)));
  const AllocatorStats empty = dict.GetAllocatorStats();
  ASSERT_EQ(empty.free_blocks, 1u);
  std::mt19937_64 rng(6);
  int first_count = -1;
  const size_t small = 40;
  for (int cycle = 0; cycle < 6; ++cycle) {
    SCOPED_TRACE(absl::StrCat("cycle ", cycle));
    // Many small entries: each is split from the large free block.
    std::vector<std::string> keys;
    const int count = FillSmall(dict, small, cycle, &keys);
    // At least 90% of the heap's bytes hold entries.
    ASSERT_GE(static_cast<uint64_t>(count) * EntryCost(8, small),
              kHeap * 9 / 10)
        << count << " entries of " << small << " bytes";
    if (first_count < 0) first_count = count;
    EXPECT_EQ(count, first_count) << "the heap holds fewer than it did";
    ASSERT_OK(dict.Check());

    // Free them in an order that leaves holes everywhere for a while: odd
    // ones, then the rest shuffled. Each free coalesces with free
    // neighbours.
    std::vector<std::string> rest;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i % 2 == 1) {
        ASSERT_OK(dict.Erase(keys[i]));
      } else {
        rest.push_back(keys[i]);
      }
    }
    EXPECT_GT(dict.GetAllocatorStats().free_blocks, 100u);
    std::shuffle(rest.begin(), rest.end(), rng);
    for (const std::string& k : rest) ASSERT_OK(dict.Erase(k));
    ASSERT_TRUE(SameAllocatorState(empty, dict.GetAllocatorStats()));

    // One value of 7/8 of the heap fits: the free space is one block again.
    const std::string large = PatternBytes(kHeap * 7 / 8, cycle);
    ASSERT_OK(dict.Put("large", large));
    ASSERT_OK_AND_ASSIGN(std::string got, dict.Get("large"));
    ASSERT_TRUE(got == large);
    ASSERT_OK(dict.Check());
    ASSERT_OK(dict.Erase("large"));
    ASSERT_TRUE(SameAllocatorState(empty, dict.GetAllocatorStats()));
  }
}

// Mixed sizes freed in random order: fragmentation does not accumulate. The
// largest free block after each emptying is the whole heap, and the number of
// mid-sized values that fit after a round of churn equals the number that fit
// into the fresh heap.
TEST(Kf06SplitCoalesceTest, FragmentationDoesNotAccumulate) {
  ScopedName name("kf06b");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeFixedOptions(50000, kHeap)));
  const AllocatorStats empty = dict.GetAllocatorStats();
  std::mt19937_64 rng(66);
  auto fill_mid = [&](std::vector<std::string>* keys) {
    return FillSmall(dict, 5000, 100, keys);
  };
  std::vector<std::string> mid_keys;
  const int fresh_capacity = fill_mid(&mid_keys);
  ASSERT_GT(fresh_capacity, 100);
  for (const std::string& k : mid_keys) ASSERT_OK(dict.Erase(k));

  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round));
    std::map<std::string, std::string> model;
    int next = 0;
    // Churn: random sizes in and out until the heap has been full a few
    // times.
    int refusals = 0;
    for (int op = 0; op < 3000 && refusals < 50; ++op) {
      if (!model.empty() && rng() % 3 == 0) {
        auto it = model.begin();
        std::advance(it, rng() % model.size());
        ASSERT_OK(dict.Erase(it->first));
        model.erase(it);
        continue;
      }
      const std::string key = absl::StrCat("m", round, "-", next++);
      std::string value = PatternBytes(1 + rng() % 20000, next);
      absl::Status s = dict.Put(key, value);
      if (s.ok()) {
        model[key] = std::move(value);
      } else {
        ASSERT_TRUE(HasCode(s, absl::StatusCode::kResourceExhausted)) << s;
        ++refusals;
      }
    }
    ASSERT_TRUE(MatchesModelAndDisjoint(dict, model));
    ASSERT_OK(dict.Check());
    std::vector<std::string> keys;
    for (const auto& [k, v] : model) keys.push_back(k);
    std::shuffle(keys.begin(), keys.end(), rng);
    for (const std::string& k : keys) ASSERT_OK(dict.Erase(k));
    const AllocatorStats after = dict.GetAllocatorStats();
    ASSERT_TRUE(SameAllocatorState(empty, after));
    EXPECT_EQ(after.fragmentation, 0.0);

    mid_keys.clear();
    EXPECT_EQ(fill_mid(&mid_keys), fresh_capacity);
    for (const std::string& k : mid_keys) ASSERT_OK(dict.Erase(k));
  }
  EXPECT_OK(dict.Check());
}

}  // namespace
}  // namespace zcipc
