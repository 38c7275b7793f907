// Short versions of the torture runs (tools/torture runs them long and
// docs/RELIABILITY.md has their figures). Each asserts the run's invariant:
// no torn or backwards read, no lost acknowledged write, no integrity
// failure, a change log that replays to the dict's keys after every kill,
// no lost increment.

#include "tools/torture/torture.h"

#include <iostream>

#include "gtest/gtest.h"

namespace zcipc {
namespace torture {
namespace {

TEST(TortureTest, SeqlockReadersSeeNoTornOrBackwardsValues) {
  SeqlockOptions o;
  o.readers = 2;
  o.keys = 500;
  o.duration = absl::Seconds(3);
  absl::StatusOr<SeqlockResult> r = RunSeqlock(o);
  ASSERT_TRUE(r.ok()) << r.status();
  std::cout << r->Summary() << "\n";
  EXPECT_EQ(r->torn, 0u);
  EXPECT_EQ(r->backwards, 0u);
  EXPECT_EQ(r->errors, 0u);
  EXPECT_GT(r->reads, 10000u);
  EXPECT_GT(r->writes, 1000u);
  EXPECT_GT(r->purges, 0u);  // the run exercised purges under readers
}

TEST(TortureTest, KilledWritersLoseNoAcknowledgedWrite) {
  KillOptions o;
  o.kills = 40;
  o.readers = 2;
  o.keys = 200;
  absl::StatusOr<KillResult> r = RunKills(o);
  ASSERT_TRUE(r.ok()) << r.status();
  std::cout << r->Summary() << "\n";
  EXPECT_EQ(r->kills, 40u);
  EXPECT_EQ(r->integrity_failures, 0u);
  EXPECT_EQ(r->lost_writes, 0u);
  EXPECT_EQ(r->reader_torn, 0u);
  EXPECT_EQ(r->reader_errors, 0u);
  EXPECT_GT(r->acked_ops, 100u);
  // After every kill and repair, the change log replayed from the previous
  // round matched the dict's keys.
  EXPECT_EQ(r->feed_checks, 40u);
  EXPECT_EQ(r->feed_mismatches, 0u);
  EXPECT_GT(r->feed_changes, r->acked_ops / 2);
  EXPECT_EQ(r->first_failure, "");
}

// The same with a dict that starts at 16 items and a 64 KiB heap and grows
// throughout: writers die inside heap growth, table allocation, migration
// steps and table switches too.
TEST(TortureTest, KilledWritersDuringGrowthLoseNoAcknowledgedWrite) {
  KillOptions o;
  o.kills = 40;
  o.readers = 2;
  o.keys = 3000;
  o.grow = true;
  absl::StatusOr<KillResult> r = RunKills(o);
  ASSERT_TRUE(r.ok()) << r.status();
  std::cout << r->Summary() << "\n";
  EXPECT_EQ(r->kills, 40u);
  EXPECT_GT(r->grows, 5u);
  EXPECT_EQ(r->integrity_failures, 0u);
  EXPECT_EQ(r->lost_writes, 0u);
  EXPECT_EQ(r->reader_torn, 0u);
  EXPECT_EQ(r->reader_errors, 0u);
  EXPECT_EQ(r->feed_mismatches, 0u);
  EXPECT_EQ(r->first_failure, "");
}

// The same with a waiter process writing its own key throughout, so the
// change log is checked while another process keeps appending to it.
TEST(TortureTest, ChangeLogMatchesTheDictAfterKillsBesideAWriter) {
  KillOptions o;
  o.kills = 20;
  o.readers = 1;
  o.keys = 200;
  o.waiter = true;
  // The waiter writes ~10^6 changes a second: a ring that holds several
  // rounds of them even at its smallest records (24 bytes), so that no round
  // is skipped as over the ring.
  o.change_log_bytes = 64 << 20;
  absl::StatusOr<KillResult> r = RunKills(o);
  ASSERT_TRUE(r.ok()) << r.status();
  std::cout << r->Summary() << "\n";
  EXPECT_EQ(r->kills, 20u);
  EXPECT_EQ(r->integrity_failures, 0u);
  EXPECT_EQ(r->lost_writes, 0u);
  // A round in which the waiter wrote more than the ring holds is not
  // checked (feed_wraps); on a loaded machine the parent may be that slow.
  EXPECT_EQ(r->feed_checks + r->feed_wraps, 20u);
  EXPECT_GT(r->feed_checks, 0u);
  EXPECT_EQ(r->feed_mismatches, 0u);
  EXPECT_GT(r->waiter_writes, 0u);
  EXPECT_EQ(r->first_failure, "");
}

TEST(TortureTest, EightProcessesCountEveryIncrement) {
  CounterOptions o;
  o.processes = 8;
  o.adds = 10000;
  absl::StatusOr<CounterResult> r = RunCounters(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->total, 80000);
}

TEST(TortureTest, ContendedWritersAllFinish) {
  LockOptions o;
  o.writers = 4;
  o.puts_per_writer = 2000;
  absl::StatusOr<LockResult> r = RunLock(o);
  ASSERT_TRUE(r.ok()) << r.status();
  std::cout << r->Summary() << "\n";
  EXPECT_EQ(r->puts, 8000u);
}

}  // namespace
}  // namespace torture
}  // namespace zcipc
