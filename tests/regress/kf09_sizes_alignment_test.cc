// docs/KNOWN-FAILURES.md, item 9 (the original Python package): 32-bit sizes,
// unaligned fields.
//
// Alignment: the regions start aligned (slots on 32 bytes, the heap on 16),
// and every value a reader sees in place starts on an 8-byte boundary,
// whatever its key's length. Sizes: options, geometry and allocator
// counters are 64-bit; values and keys past 16- and 24-bit sizes round-trip;
// and a heap of more than 4 GiB (if /dev/shm has room) is tracked to the
// byte: nothing is truncated to 32 bits.

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cstdint>
#include <iostream>
#include <map>
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

using ::zcipc_regress::EntryCost;
using ::zcipc_regress::kReadIsZeroCopy;
using ::zcipc_regress::MakeOptions;
using ::zcipc_regress::MatchesModelAndDisjoint;
using ::zcipc_regress::PatternBytes;
using ::zcipc_test::HasCode;
using ::zcipc_test::ScopedName;
using ::zcipc_test::SegmentPath;

TEST(Kf09SizesAlignmentTest, RegionsAndValuesAreAligned) {
  ScopedName name("kf09a");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeOptions(1000, 4 << 20)));
  ASSERT_OK_AND_ASSIGN(Inspection in, Inspect(dict));
  EXPECT_EQ(in.slots_offset % 32, 0u);
  EXPECT_EQ(in.heap_offset % 16, 0u);
  EXPECT_EQ(in.journal_offset % 8, 0u);
  EXPECT_EQ(in.stats.heap_size % 16, 0u);

  if (!kReadIsZeroCopy) GTEST_SKIP() << "Read hands out copies under TSan";
  // Every key length from 1 to 40 (all residues mod 8 and 16), values of
  // odd and even sizes, inserted, replaced in place and relocated.
  std::map<std::string, std::string> model;
  for (size_t key_len = 1; key_len <= 40; ++key_len) {
    for (size_t value_len : {1, 7, 8, 13, 100, 5000}) {
      std::string key(key_len, static_cast<char>('a' + key_len % 26));
      key += absl::StrCat("/", value_len);
      std::string value = PatternBytes(value_len, key_len * 100 + value_len);
      ASSERT_OK(dict.Put(key, value));
      model[key] = value;
    }
  }
  auto check_alignment = [&]() {
    for (const auto& [key, value] : model) {
      uintptr_t address = 0;
      ASSERT_OK(dict.Read(key, [&](absl::string_view v) {
        address = reinterpret_cast<uintptr_t>(v.data());
      }));
      ASSERT_EQ(address % 8, 0u) << "value of a " << key.size()
                                 << "-byte key at " << address;
    }
  };
  check_alignment();
  // Replace every value with one of another size (in place or relocated).
  uint64_t seed = 1;
  for (auto& [key, value] : model) {
    value = PatternBytes(value.size() % 3 == 0 ? 3 : 4097 + value.size() % 9,
                         ++seed);
    ASSERT_OK(dict.Put(key, value));
  }
  check_alignment();
  EXPECT_TRUE(MatchesModelAndDisjoint(dict, model));
  EXPECT_OK(dict.Check());
}

// Keys and values whose lengths do not fit 16 (or 24) bits round-trip, and
// the allocator charges each its full size.
TEST(Kf09SizesAlignmentTest, LengthsPastSixteenAndTwentyFourBits) {
  ScopedName name("kf09b");
  ASSERT_OK_AND_ASSIGN(
      ZeroCopyDict dict,
      ZeroCopyDict::Create(name.name(), MakeOptions(100, 64 << 20)));
  std::map<std::string, std::string> model;
  const std::string max_key = PatternBytes(kMaxKeySize, 1);  // 65536 bytes
  model[max_key] = PatternBytes(70000, 2);
  model[PatternBytes(65535, 3)] = "short";
  model["v16"] = PatternBytes(65536 + 3, 4);
  model["v24"] = PatternBytes((16 << 20) + 5, 5);  // past 2^24
  for (const auto& [k, v] : model) {
    const AllocatorStats before = dict.GetAllocatorStats();
    ASSERT_OK(dict.Put(k, v)) << k.size() << "-byte key";
    const AllocatorStats after = dict.GetAllocatorStats();
    EXPECT_GE(after.used_bytes - before.used_bytes, EntryCost(k.size(), v.size()))
        << k.size() << "-byte key, " << v.size() << "-byte value";
  }
  EXPECT_TRUE(MatchesModelAndDisjoint(dict, model));
  EXPECT_TRUE(HasCode(dict.Put(max_key + "x", "v"),
                      absl::StatusCode::kInvalidArgument));
  EXPECT_OK(dict.Check());
}

// Options past 32 bits are taken or refused, never truncated: 2^32 + 10
// items would be 10 items in 32 bits.
TEST(Kf09SizesAlignmentTest, OptionsPastThirtyTwoBitsAreNotTruncated) {
  ScopedName name("kf09c");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(
      name.name(), MakeOptions((uint64_t{1} << 32) + 10, 1 << 20));
  if (d.ok()) {
    EXPECT_EQ(d->GetStats().max_items, (uint64_t{1} << 32) + 10);
  } else {
    EXPECT_TRUE(HasCode(d, absl::StatusCode::kInvalidArgument) ||
                HasCode(d, absl::StatusCode::kResourceExhausted))
        << d.status();
    // A refused Create leaves nothing behind.
    EXPECT_TRUE(HasCode(ZeroCopyDict::Attach(name.name()),
                        absl::StatusCode::kNotFound));
  }
  // A heap over 4 GiB that wraps to 4 KiB in 32 bits.
  ScopedName name2("kf09c");
  d = ZeroCopyDict::Create(name2.name(),
                           MakeOptions(10, (uint64_t{1} << 40) + 4096));
  EXPECT_TRUE(HasCode(d, absl::StatusCode::kInvalidArgument)) << d.status();
}

// A real heap of 4 GiB + 16 MiB: the allocator's sizes and counters are
// exact past 2^32. Creating it reserves (and the kernel zeroes) 4 GiB of
// /dev/shm: about 2-3 s here, the slowest test of this directory; skipped
// when /dev/shm has less than 8 GiB free.
TEST(Kf09SizesAlignmentTest, HeapLargerThanFourGiB) {
  struct statvfs vfs;
  ASSERT_EQ(statvfs("/dev/shm", &vfs), 0);
  const uint64_t shm_free = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  if (shm_free < (uint64_t{8} << 30)) {
    GTEST_SKIP() << "/dev/shm has only " << shm_free << " bytes free";
  }
  const uint64_t heap = (uint64_t{1} << 32) + (16 << 20);
  ScopedName name("kf09d");
  const absl::Time start = absl::Now();
  absl::StatusOr<ZeroCopyDict> d =
      ZeroCopyDict::Create(name.name(), MakeOptions(100, heap));
  if (absl::IsResourceExhausted(d.status())) {
    GTEST_SKIP() << "no room for a 4 GiB segment: " << d.status();
  }
  ASSERT_OK(d.status());
  ZeroCopyDict& dict = *d;
  std::cout << "created a " << dict.GetStats().segment_size
            << "-byte segment in " << absl::Now() - start << "\n";
  EXPECT_EQ(dict.GetStats().heap_size, heap);
  EXPECT_GT(dict.GetStats().segment_size, heap);
  const AllocatorStats empty = dict.GetAllocatorStats();
  EXPECT_EQ(empty.free_bytes, heap);
  EXPECT_EQ(empty.largest_free_block, heap);
  EXPECT_EQ(empty.free_blocks, 1u);

  // 24 MiB of values: more than the 16 MiB a heap size truncated to 32 bits
  // (2^32 + 16 MiB -> 16 MiB) would hold. The counters stay exact.
  std::map<std::string, std::string> model;
  for (int i = 0; i < 24; ++i) {
    const std::string key = absl::StrCat("k", i);
    model[key] = PatternBytes((1 << 20) + i, i);
    ASSERT_OK(dict.Put(key, model[key]));
  }
  const AllocatorStats used = dict.GetAllocatorStats();
  EXPECT_EQ(used.used_bytes + used.free_bytes, heap);
  EXPECT_GE(used.used_bytes, uint64_t{24} << 20);
  EXPECT_EQ(used.used_blocks, 24u);
  EXPECT_TRUE(MatchesModelAndDisjoint(dict, model));
  // The segment file is really that large.
  struct stat st;
  ASSERT_EQ(stat(SegmentPath(name.name()).c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), dict.GetStats().segment_size);
  for (const auto& [k, v] : model) ASSERT_OK(dict.Erase(k));
  const AllocatorStats end = dict.GetAllocatorStats();
  EXPECT_EQ(end.free_bytes, heap);
  EXPECT_EQ(end.largest_free_block, heap);
  EXPECT_EQ(end.free_blocks, 1u);
  EXPECT_OK(dict.Check());
}

}  // namespace
}  // namespace zcipc
