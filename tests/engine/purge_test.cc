// The tombstone purge keeps lookups short under insert/erase churn (the seed
// package's 1024-slot table became all tombstones and a miss read every
// slot: KNOWN-FAILURES item 7).

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "zcipc/inspect.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace {

TEST(PurgeTest, ChurnKeepsMissesShort) {
  std::string name = absl::StrCat("purge-", getpid());
  Options o;
  o.max_items = 768;  // 1024 slots
  o.heap_size = 1 << 20;
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, o);
  ASSERT_TRUE(d.ok());
  std::mt19937_64 rng(7);
  std::set<int> live;
  int next = 0;
  for (; next < 500; ++next) {
    ASSERT_TRUE(d->Put(absl::StrCat("k", next), "v").ok());
    live.insert(next);
  }
  uint64_t worst_miss = 0;
  for (int op = 0; op < 100000; ++op) {
    // Insert a never-seen key, erase a random live one: the size stays near
    // 500 while every slot is eventually used and erased.
    ASSERT_TRUE(d->Put(absl::StrCat("k", next), "v").ok());
    live.insert(next++);
    auto it = live.begin();
    std::advance(it, rng() % live.size());
    ASSERT_TRUE(d->Erase(absl::StrCat("k", *it)).ok());
    live.erase(it);
    if (op % 10000 == 0) {
      absl::StatusOr<Inspection> in = Inspect(*d);
      ASSERT_TRUE(in.ok());
      worst_miss = std::max(worst_miss, in->probes.max_miss);
      EXPECT_LT(in->probes.mean_miss, 8.0) << "after " << op << " ops";
      EXPECT_LE(in->stats.tombstones, in->stats.slot_count / 8);
    }
  }
  Stats st = d->GetStats();
  EXPECT_EQ(st.slot_count, 1024u);
  EXPECT_GT(st.purges_total, 100u);
  EXPECT_LT(worst_miss, 128u) << "a miss walked most of the table";
  EXPECT_EQ(st.size, live.size());
  for (int k : live) {
    ASSERT_TRUE(d->Get(absl::StrCat("k", k)).ok()) << k;
  }
  EXPECT_TRUE(absl::IsNotFound(d->Get("k-never").status()));
  EXPECT_TRUE(d->Check().ok());
  ASSERT_TRUE(ZeroCopyDict::Unlink(name).ok());
}

TEST(InspectTest, ReportsProbeLengthsAndTheIdleLock) {
  std::string name = absl::StrCat("inspect-", getpid());
  Options o;
  o.max_items = 12;  // 16 slots
  o.heap_size = 1 << 16;
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, o);
  ASSERT_TRUE(d.ok());
  absl::StatusOr<Inspection> in = Inspect(*d);
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->probes.max_miss, 1u);  // every slot empty
  EXPECT_EQ(in->probes.mean_miss, 1.0);
  EXPECT_TRUE(in->probes.histogram.empty());
  EXPECT_FALSE(in->lock_held);
  EXPECT_EQ(in->intent, "");
  EXPECT_EQ(in->fingerprint, in->build_fingerprint);
  for (int i = 0; i < 12; ++i) ASSERT_TRUE(d->Put(absl::StrCat(i), "v").ok());
  in = Inspect(*d);
  ASSERT_TRUE(in.ok());
  uint64_t counted = 0;
  for (uint64_t c : in->probes.histogram) counted += c;
  EXPECT_EQ(counted, 12u);
  // 12 live slots and 4 empty ones: some run of live slots is at least 3
  // long (a miss there reads 4), none longer than 12 (reads 13).
  EXPECT_GE(in->probes.max_miss, 4u);
  EXPECT_LE(in->probes.max_miss, 13u);
  ASSERT_TRUE(ZeroCopyDict::Unlink(name).ok());
}

TEST(InspectTest, ListDictsShowsOnlyDicts) {
  std::string name = absl::StrCat("list-", getpid());
  Options o;
  o.heap_size = 1 << 16;
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, o);
  ASSERT_TRUE(d.ok());
  // A foreign file with our prefix but an invalid name, and one without it.
  std::string bad = absl::StrCat("/dev/shm/zcipc.bad name-", getpid());
  std::string foreign = absl::StrCat("/dev/shm/other-", getpid());
  FILE* f1 = fopen(bad.c_str(), "w");
  FILE* f2 = fopen(foreign.c_str(), "w");
  ASSERT_TRUE(f1 && f2);
  fclose(f1);
  fclose(f2);
  std::vector<std::string> names = ListDicts();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::count(names.begin(), names.end(), name), 1);
  for (const std::string& n : names) {
    EXPECT_EQ(n.find(' '), std::string::npos) << n;
    EXPECT_EQ(n.find("other-"), std::string::npos) << n;
  }
  unlink(bad.c_str());
  unlink(foreign.c_str());
  ASSERT_TRUE(ZeroCopyDict::Unlink(name).ok());
  names = ListDicts();
  EXPECT_EQ(std::count(names.begin(), names.end(), name), 0);
}

}  // namespace
}  // namespace zcipc
