// torture: long multi-process runs that try to break the engine, with
// figures. Each mode prints one summary line and exits non-zero if the run
// found a torn read, a lost write, an integrity failure, a change log that
// disagrees with the dict or a miscount.
//
//   bazel run //tools/torture -- seqlock --seconds=600 --readers=3
//   bazel run //tools/torture -- kills --kills=1000 [--waiter]
//   bazel run //tools/torture -- lock --writers=4 [--lock_seconds=10]
//   bazel run //tools/torture -- counters --processes=8 --adds=10000

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "tools/torture/torture.h"

ABSL_FLAG(int, readers, 3, "reader processes (seqlock, kills)");
ABSL_FLAG(int, writers, 4, "writer processes (lock)");
ABSL_FLAG(int, processes, 8, "counting processes (counters)");
ABSL_FLAG(uint64_t, keys, 2000, "distinct keys (seqlock, kills)");
ABSL_FLAG(int64_t, seconds, 10, "duration (seqlock)");
ABSL_FLAG(bool, grow, false,
          "kills: start the dict tiny, so that it grows throughout the run");
ABSL_FLAG(uint64_t, kills, 100, "writer kills (kills)");
ABSL_FLAG(int64_t, max_life_ms, 20, "longest writer life before its kill");
ABSL_FLAG(uint64_t, puts, 20000, "puts per writer (lock)");
ABSL_FLAG(uint64_t, adds, 10000, "increments per process (counters)");
ABSL_FLAG(uint64_t, seed, 1, "random seed");
ABSL_FLAG(bool, waiter, false,
          "kills: a waiter process that contends for the lock and times how "
          "long it waits past each kill");
ABSL_FLAG(uint64_t, change_log_mib, 16,
          "kills: the dict's change log in MiB; after each kill the run "
          "replays it and compares it with the dict");
ABSL_FLAG(int64_t, lock_seconds, 0,
          "lock: stop after this many seconds (0: after --puts per writer); "
          "with a duration, --puts is each writer's cap");

namespace zt = zcipc::torture;

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "torture MODE [flags]; MODE is seqlock, kills, lock or counters");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() != 2) {
    fprintf(stderr, "%s\n", std::string(absl::ProgramUsageMessage()).c_str());
    return 2;
  }
  std::string mode = args[1];
  bool clean = false;
  std::string summary;
  if (mode == "seqlock") {
    zt::SeqlockOptions o;
    o.readers = absl::GetFlag(FLAGS_readers);
    o.keys = absl::GetFlag(FLAGS_keys);
    o.duration = absl::Seconds(absl::GetFlag(FLAGS_seconds));
    o.seed = absl::GetFlag(FLAGS_seed);
    absl::StatusOr<zt::SeqlockResult> r = zt::RunSeqlock(o);
    if (!r.ok())
      summary = r.status().ToString();
    else {
      summary = r->Summary();
      clean = r->torn == 0 && r->backwards == 0 && r->errors == 0;
    }
  } else if (mode == "kills") {
    zt::KillOptions o;
    o.kills = absl::GetFlag(FLAGS_kills);
    o.readers = absl::GetFlag(FLAGS_readers);
    o.keys = absl::GetFlag(FLAGS_keys);
    o.max_life = absl::Milliseconds(absl::GetFlag(FLAGS_max_life_ms));
    o.seed = absl::GetFlag(FLAGS_seed);
    o.waiter = absl::GetFlag(FLAGS_waiter);
    o.change_log_bytes = absl::GetFlag(FLAGS_change_log_mib) << 20;
    o.grow = absl::GetFlag(FLAGS_grow);
    absl::StatusOr<zt::KillResult> r = zt::RunKills(o);
    if (!r.ok())
      summary = r.status().ToString();
    else {
      summary = r->Summary();
      clean = r->integrity_failures == 0 && r->lost_writes == 0 &&
              r->reader_torn == 0 && r->reader_errors == 0 &&
              r->feed_mismatches == 0 && r->first_failure.empty();
    }
  } else if (mode == "lock") {
    zt::LockOptions o;
    o.writers = absl::GetFlag(FLAGS_writers);
    o.puts_per_writer = absl::GetFlag(FLAGS_puts);
    o.duration = absl::Seconds(absl::GetFlag(FLAGS_lock_seconds));
    absl::StatusOr<zt::LockResult> r = zt::RunLock(o);
    if (!r.ok())
      summary = r.status().ToString();
    else {
      summary = r->Summary();
      clean = true;
    }
  } else if (mode == "counters") {
    zt::CounterOptions o;
    o.processes = absl::GetFlag(FLAGS_processes);
    o.adds = absl::GetFlag(FLAGS_adds);
    absl::StatusOr<zt::CounterResult> r = zt::RunCounters(o);
    if (!r.ok())
      summary = r.status().ToString();
    else {
      summary = r->Summary();
      clean = r->total == r->expected;
    }
  } else {
    fprintf(stderr, "unknown mode '%s'\n%s\n", mode.c_str(),
            std::string(absl::ProgramUsageMessage()).c_str());
    return 2;
  }
  printf("%s\n", summary.c_str());
  return clean ? 0 : 1;
}
