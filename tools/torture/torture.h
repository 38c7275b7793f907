// Torture runs for the engine: many processes, self-checking values, writers
// killed at random. The `torture` binary runs them long and prints figures
// (docs/RELIABILITY.md); tests/torture_test.cc runs them short in CI.
//
// Values are self-checking (tools/proc/self_check.h, the format the tests
// use too): "<key>|<generation>|<padding>|<checksum>", so a reader can tell a
// torn, misplaced or stale value from a good one without knowing what the
// writer did.
//
// Thread safety: each Run* function forks its own processes and must be
// called from a single-threaded process (fork() after threads is unsafe).

#ifndef ZCIPC_TOOLS_TORTURE_TORTURE_H_
#define ZCIPC_TOOLS_TORTURE_TORTURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace zcipc {
namespace torture {

// --- 1. Seqlock torture --------------------------------------------------
struct SeqlockOptions {
  int readers = 3;
  uint64_t keys = 2000;
  absl::Duration duration = absl::Seconds(5);
  uint64_t seed = 1;
};
struct SeqlockResult {
  uint64_t writes = 0;  // puts (in place and relocating) and erases
  uint64_t purges = 0;  // tombstone purges during the run
  uint64_t reads = 0;   // lookups by all readers (Get, Read, ForEach)
  uint64_t hits = 0;
  uint64_t retries = 0;    // seqlock retries the readers counted
  uint64_t torn = 0;       // values that failed their checksum or key
  uint64_t backwards = 0;  // a generation older than one already seen
  uint64_t errors = 0;     // lookups that failed with neither OK nor NotFound
  double reads_per_second = 0;
  std::string Summary() const;
};
absl::StatusOr<SeqlockResult> RunSeqlock(const SeqlockOptions& options);

// --- 2. Writer kills ------------------------------------------------------
struct KillOptions {
  uint64_t kills = 50;
  int readers = 2;
  uint64_t keys = 500;
  // A writer lives a random time in [0, max_life) before its SIGKILL.
  absl::Duration max_life = absl::Milliseconds(20);
  uint64_t seed = 1;
  // A waiter process that writes its own key in a loop, so that writers are
  // killed while waiting for the lock as well as while holding it, and that
  // times how long it waits past each kill (wait_past_kill below).
  bool waiter = false;
  // The dict's change log (Options::change_log_bytes). After each kill and
  // repair the run replays the log from the previous round's snapshot and
  // compares it with the dict (KillResult::feed_checks); the ring must hold
  // one round's changes (each record takes at most 32 bytes here, and the
  // ring retains at least 15/16 of its bytes) or the round is not checked
  // (KillResult::feed_wraps).
  uint64_t change_log_bytes = 16 << 20;
  // Start the dict at 16 items and a 64 KiB heap, so that its table and
  // heap grow again and again during the run (docs/DESIGN.md, "Online
  // growth"): kills land inside growth steps and migrations too.
  bool grow = false;
};
struct KillResult {
  uint64_t kills = 0;
  uint64_t acked_ops = 0;           // operations the writers acknowledged
  uint64_t repairs = 0;             // repairs the engine counted
  uint64_t grows = 0;               // growth steps the dict completed
  uint64_t integrity_failures = 0;  // Check() not OK after a kill
  uint64_t lost_writes = 0;         // acknowledged writes missing afterwards
  uint64_t reader_reads = 0;
  uint64_t reader_torn = 0;
  uint64_t reader_errors = 0;
  absl::Duration worst_reader_stall;  // longest single lookup
  absl::Duration worst_repair;        // longest attach + Check (repair)
  absl::Duration median_repair;
  // With a waiter: for each kill that fell while the waiter was waiting for
  // the lock, the time from the kill (stamped just before kill()) to the
  // waiter's acquisition: how long a waiter waits past a holder's death
  // (and past a dead waiter, when the kill landed on a waiting writer).
  uint64_t waiter_samples = 0;
  uint64_t waiter_writes = 0;
  uint64_t waiter_errors = 0;  // waiter writes that failed
  absl::Duration wait_past_kill_p50, wait_past_kill_p99, wait_past_kill_max;
  // The parent stamps the kill just before kill(): the time from the stamp
  // to kill() returning bounds how much of a wait is the parent's own delay.
  absl::Duration kill_stamp_gap_p99, kill_stamp_gap_max;
  // From the kill's stamp to the parent's waitpid() returning: how long the
  // kernel took to tear the killed writer down (its registration's byte
  // lock, the proof that it lived, goes only then).
  absl::Duration reap_p50, reap_p99, reap_max;
  // The change log against the dict. At a quiescent moment (no writer but
  // the waiter, whose own key is left out) the run records ChangeSeq() S
  // and the key set; after the next kill and repair it replays
  // ReadChanges(S) over that key set: the log must deliver changes S+1,
  // S+2, ... without a gap up to at least the ChangeSeq() read before, and
  // the replayed key set must equal ForEach's. Each such comparison is a
  // check; a check that fails is a mismatch (and a failure of the run).
  // A round whose replay lost a change that the changes written since could
  // have pushed out of the ring (at the largest record size, 32 bytes, in
  // the 15/16 of the ring that is always retained) is
  // skipped and counted in feed_wraps (not a failure): with --waiter the
  // waiter may write more in a round than the ring holds.
  uint64_t feed_checks = 0;
  uint64_t feed_changes = 0;  // changes replayed by all checks
  uint64_t feed_mismatches = 0;
  uint64_t feed_wraps = 0;
  std::string first_failure;  // what went wrong first, if anything
  std::string Summary() const;
};
absl::StatusOr<KillResult> RunKills(const KillOptions& options);

// --- 3. Lock contention ---------------------------------------------------
inline constexpr int kMaxLockWriters = 64;
struct LockOptions {
  int writers = 4;
  // Each writer stops after puts_per_writer Puts, or when `duration` (if
  // not zero) has passed, whichever comes first. With a duration the run
  // shows how the writers shared the lock (min_share, max_share).
  uint64_t puts_per_writer = 20000;
  absl::Duration duration = absl::ZeroDuration();
};
struct LockResult {
  uint64_t puts = 0;
  absl::Duration p50, p99, p999, max;  // per-Put latency (wait + write)
  // Hand-off latency: from the moment a holder leaves its critical section
  // (stamped inside it, as its last step) to the moment a writer that was
  // already waiting is inside its own. Counted on each acquisition whose
  // writer started waiting before the previous holder released.
  uint64_t handoffs = 0;
  absl::Duration handoff_p50, handoff_p99, handoff_p999, handoff_max;
  // Each writer's Puts over the fair share (all Puts / writers): the least
  // and the most served writer.
  double min_share = 0, max_share = 0;
  std::vector<uint64_t> puts_by_writer;
  // Share of Puts whose latency fell in [k ms, k ms + 100 us) for k = 1..5:
  // a 1 ms sleep-poll would pile latencies up there.
  double share_near_ms_steps = 0;
  double puts_per_second = 0;
  std::string Summary() const;
};
absl::StatusOr<LockResult> RunLock(const LockOptions& options);

// --- 4. Counters ----------------------------------------------------------
struct CounterOptions {
  int processes = 8;
  uint64_t adds = 10000;
};
struct CounterResult {
  int64_t expected = 0;
  int64_t total = 0;
  std::string Summary() const;
};
absl::StatusOr<CounterResult> RunCounters(const CounterOptions& options);

}  // namespace torture
}  // namespace zcipc

#endif  // ZCIPC_TOOLS_TORTURE_TORTURE_H_
