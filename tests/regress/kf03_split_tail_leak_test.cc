// docs/KNOWN-FAILURES.md, item 3 (the original Python package): A block from a
// larger class loses its true size.
//
// A small value placed in a block taken from a larger free block must either
// split it (the remainder stays free) or remember the whole size, so that
// freeing it gives every byte back. The heap's bytes are conserved after
// every operation (used + free is constant), and erasing what was added
// restores the allocator's exact state.

#include <cstdint>
#include <map>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/regress/regress_util.h"
#include "tests/test_util.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

using ::zcipc_regress::kReadIsZeroCopy;
using ::zcipc_regress::MakeFixedOptions;
using ::zcipc_regress::MakeOptions;
using ::zcipc_regress::MatchesModelAndDisjoint;
using ::zcipc_regress::PatternBytes;
using ::zcipc_regress::SameAllocatorState;
using ::zcipc_test::ScopedName;

uint64_t Accounted(const AllocatorStats& a) {
  return a.used_bytes + a.free_bytes;
}

// A freed large block between live neighbours is reused by a small value,
// which is then erased: the allocator is back where it was, every time.
TEST(Kf03SplitTailLeakTest, SmallValueInFreedLargeBlockGivesEveryByteBack) {
  ScopedName name("kf03a");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeOptions(1000, 4 << 20)));
  std::map<std::string, std::string> model;
  for (size_t large : {300, 1000, 4096, 65536, 500000}) {
    SCOPED_TRACE(absl::StrCat("large block of ", large));
    const std::string p = absl::StrCat("L", large, "-");
    for (const char* k : {"left", "hole", "right"}) {
      std::string v = PatternBytes(large, large + k[0]);
      ASSERT_OK(dict.Put(p + k, v));
      model[p + k] = v;
    }
    ASSERT_OK(dict.Erase(p + "hole"));
    model.erase(p + "hole");
    const AllocatorStats freed = dict.GetAllocatorStats();
    for (size_t small : {1, 16, 100, 250}) {
      if (small >= large) continue;
      SCOPED_TRACE(absl::StrCat("small value of ", small));
      for (int round = 0; round < 20; ++round) {
        ASSERT_OK(dict.Put(p + "small", PatternBytes(small, round)));
        const AllocatorStats mid = dict.GetAllocatorStats();
        ASSERT_EQ(Accounted(mid), Accounted(freed));
        ASSERT_EQ(mid.used_blocks, freed.used_blocks + 1);
        ASSERT_OK(dict.Erase(p + "small"));
        ASSERT_TRUE(SameAllocatorState(freed, dict.GetAllocatorStats()))
            << "round " << round;
      }
    }
    ASSERT_TRUE(MatchesModelAndDisjoint(dict, model));
    ASSERT_OK(dict.Check());
  }
}

// A value shrunk in place keeps its block's true size: growing it back to the
// original size stays in place (same address, same used bytes), and erasing
// it frees the whole block.
TEST(Kf03SplitTailLeakTest, ShrunkValueKeepsItsBlocksTrueSize) {
  ScopedName name("kf03b");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeOptions(100, 1 << 20)));
  ASSERT_OK(dict.Put("left", "L"));
  const AllocatorStats empty = dict.GetAllocatorStats();
  const std::string big = PatternBytes(3000, 1);
  ASSERT_OK(dict.Put("k", big));
  ASSERT_OK(dict.Put("right", "R"));  // a live neighbour after k's block
  const AllocatorStats full = dict.GetAllocatorStats();
  auto address = [&]() {
    uintptr_t a = 0;
    EXPECT_OK(dict.Read("k", [&](absl::string_view v) {
      a = reinterpret_cast<uintptr_t>(v.data());
    }));
    return a;
  };
  const uintptr_t home = address();
  for (size_t small : {0, 1, 100, 1000, 2999}) {
    SCOPED_TRACE(absl::StrCat("shrunk to ", small));
    ASSERT_OK(dict.Put("k", PatternBytes(small, small)));
    ASSERT_TRUE(SameAllocatorState(full, dict.GetAllocatorStats()));
    ASSERT_OK(dict.Put("k", big));
    ASSERT_TRUE(SameAllocatorState(full, dict.GetAllocatorStats()));
    if (kReadIsZeroCopy) {
      ASSERT_EQ(address(), home);
    }
    ASSERT_OK_AND_ASSIGN(std::string got, dict.Get("k"));
    ASSERT_TRUE(got == big);
  }
  ASSERT_OK(dict.Erase("k"));
  ASSERT_OK(dict.Erase("right"));
  EXPECT_TRUE(SameAllocatorState(empty, dict.GetAllocatorStats()));
  EXPECT_OK(dict.Check());
}

// Random sizes: after every operation the heap's bytes are all accounted
// for, one used block per entry; erasing everything leaves one free block
// of the whole heap.
TEST(Kf03SplitTailLeakTest, NoByteIsLostUnderRandomSizes) {
  ScopedName name("kf03c");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeFixedOptions(2000, 2 << 20)));
  const AllocatorStats empty = dict.GetAllocatorStats();
  ASSERT_EQ(empty.free_blocks, 1u);
  std::mt19937_64 rng(3);
  std::map<std::string, std::string> model;
  for (int op = 0; op < 4000; ++op) {
    const std::string key = absl::StrCat("r", rng() % 200);
    if (rng() % 4 == 0) {
      (void)dict.Erase(key);
      model.erase(key);
    } else {
      // Mostly small, sometimes large: small requests are served from the
      // blocks large values leave behind.
      const size_t size = rng() % 8 == 0 ? rng() % 60000 : rng() % 300;
      std::string v = PatternBytes(size, op);
      absl::Status s = dict.Put(key, v);
      if (s.ok()) {
        model[key] = v;
      } else {
        ASSERT_TRUE(absl::IsResourceExhausted(s)) << s;
      }
    }
    const AllocatorStats a = dict.GetAllocatorStats();
    ASSERT_EQ(Accounted(a), Accounted(empty)) << "op " << op;
    ASSERT_EQ(a.used_blocks, model.size()) << "op " << op;
  }
  ASSERT_TRUE(MatchesModelAndDisjoint(dict, model));
  ASSERT_OK(dict.Check());
  for (const auto& [k, v] : model) ASSERT_OK(dict.Erase(k));
  EXPECT_TRUE(SameAllocatorState(empty, dict.GetAllocatorStats()));
  EXPECT_OK(dict.Check());
}

}  // namespace
}  // namespace zcipc
