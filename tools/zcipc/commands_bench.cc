// bench: quick single-process figures on a scratch dict. For a first look on
// a machine (is shared memory slow here?), not a benchmark suite: that is
// //bench (Google Benchmark).
//
// The scratch dict is sized from what the run stores (the engine's own block
// sizes), every phase stops after --duration, and the dict is unlinked on
// SIGINT, SIGTERM and SIGHUP too: the handler only sets a flag, which the
// timing loop reads before each operation; the command then unlinks the
// dict and dies of the same signal.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/alloc/allocator.h"
#include "engine/index/index.h"
#include "engine/layout/layout.h"
#include "nlohmann/json.hpp"
#include "tools/zcipc/cli.h"
#include "tools/zcipc/flags.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace cli {

namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kCounters = 64;
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

// The signal that asked the bench to stop, 0 if none.
volatile std::sig_atomic_t g_stop_signal = 0;

void OnStopSignal(int signo) { g_stop_signal = signo; }

// Installs OnStopSignal for kStopSignals, except where the signal was
// ignored when the program started (as nohup and `cmd &` in a script leave
// SIGHUP and SIGINT).
void CatchStopSignals() {
  for (int signo : kStopSignals) {
    struct sigaction old;
    if (sigaction(signo, nullptr, &old) != 0 || old.sa_handler == SIG_IGN) {
      continue;
    }
    struct sigaction sa = {};
    sa.sa_handler = OnStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(signo, &sa, nullptr);
  }
}

// After the dict is unlinked: die of the signal that stopped the bench, as
// it would have without the handler (the shell then sees the signal).
void DieOfStopSignal() {
  const int signo = g_stop_signal;
  signal(signo, SIG_DFL);
  raise(signo);
  _exit(128 + signo);  // not reached
}

absl::Status Interrupted() {
  return absl::CancelledError(
      absl::StrCat("interrupted by signal ", g_stop_signal));
}

struct Phase {
  std::string op;
  uint64_t ops = 0;
  double seconds = 0;
  double ns_per_op() const { return ops ? seconds * 1e9 / ops : 0; }
  double ops_per_second() const { return seconds > 0 ? ops / seconds : 0; }
};

// Runs fn(i) for i = 0, 1, ... (modulo n) until `budget` has passed, and at
// most n times if `once`. At least one operation runs. The clock is read
// about once a millisecond (every operation while they are slow), so a
// phase of large values stops on time and one of fast reads is not slowed
// by the clock. Stops at the first error or stop signal.
template <typename Fn>
absl::Status Time(std::string op, uint64_t n, bool once, absl::Duration budget,
                  Fn fn, std::vector<Phase>* phases) {
  Phase phase{std::move(op)};
  const auto start = Clock::now();
  const auto limit = start + absl::ToChronoNanoseconds(budget);
  uint64_t next_check = 1;
  for (uint64_t i = 0; !once || i < n; ++i) {
    if (g_stop_signal != 0) return Interrupted();
    absl::Status s = fn(i % n);
    if (!s.ok()) return s;
    if (++phase.ops < next_check) continue;
    const auto now = Clock::now();
    if (now >= limit) break;
    const double ns_per_op =
        std::chrono::duration<double, std::nano>(now - start).count() /
        phase.ops;
    next_check = phase.ops + static_cast<uint64_t>(std::clamp(
                                 1e6 / std::max(ns_per_op, 1.0), 1.0, 256.0));
  }
  phase.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  phases->push_back(phase);
  return absl::OkStatus();
}

std::string Key(uint64_t i) { return absl::StrFormat("bench-key-%010d", i); }
std::string MissKey(uint64_t i) {
  return absl::StrFormat("bench-miss-%09d", i);
}
std::string CounterKey(uint64_t i) {
  return absl::StrFormat("bench-counter-%02d", i);
}

// The heap block of an entry, as the engine sizes it.
uint64_t EntryBlock(uint64_t key_size, uint64_t value_size) {
  return alloc::Allocator::BlockSizeFor(
      index::EntryPayload(key_size, value_size));
}

// Whether replacing a value by one of the same size happens in place: it
// must fit the old block's room for a value, and be at most the journal's
// size (docs/DESIGN.md); otherwise the new value goes to a new block.
bool ReplacesInPlace(uint64_t key_size, uint64_t value_size) {
  const uint64_t room = EntryBlock(key_size, value_size) -
                        layout::kEntryHeaderSize - index::Pad8(key_size);
  return value_size <= room && value_size <= layout::kJournalBytes;
}

// A heap for what the run stores: n entries and the counters (8-byte
// values), one more entry block (a relocating replacement allocates the new
// block before it frees the old one), and slack for fragmentation.
uint64_t ScratchHeapSize(uint64_t n, uint64_t value_size) {
  const uint64_t entry = EntryBlock(Key(0).size(), value_size);
  const uint64_t stored =
      n * entry + kCounters * EntryBlock(CounterKey(0).size(), 8);
  return std::max(stored + 2 * entry + stored / 16 + (64 << 10), kMinHeapSize);
}

absl::Status RunPhases(ZeroCopyDict& dict, uint64_t n, uint64_t value_size,
                       absl::Duration budget, std::vector<Phase>* phases,
                       uint64_t* inserted) {
  std::vector<std::string> keys, misses, counters;
  for (uint64_t i = 0; i < n; ++i) {
    keys.push_back(Key(i));
    misses.push_back(MissKey(i));
  }
  for (uint64_t i = 0; i < kCounters; ++i) counters.push_back(CounterKey(i));
  std::string value(value_size, 'v');
  std::string out;
  uint64_t sink = 0;
  absl::Status s = Time(
      "put (insert)", n, /*once=*/true, budget,
      [&](uint64_t i) { return dict.Put(keys[i], value); }, phases);
  if (!s.ok()) return s;
  // The later phases use the keys inserted within the budget.
  const uint64_t k = phases->back().ops;
  *inserted = k;
  s = Time(
      "get (hit, copy)", k, /*once=*/false, budget,
      [&](uint64_t i) { return dict.Get(keys[i], &out); }, phases);
  if (s.ok()) {
    s = Time(
        "read (hit, zero-copy)", k, /*once=*/false, budget,
        [&](uint64_t i) {
          return dict.Read(keys[i],
                           [&](absl::string_view v) { sink += v.size(); });
        },
        phases);
  }
  if (s.ok()) {
    s = Time(
        "get (miss)", n, /*once=*/false, budget,
        [&](uint64_t i) {
          absl::Status g = dict.Get(misses[i], &out);
          return absl::IsNotFound(g) ? absl::OkStatus() : g;
        },
        phases);
  }
  if (s.ok()) {
    s = Time(
        ReplacesInPlace(keys[0].size(), value_size)
            ? "put (replace in place)"
            : "put (replace, relocating)",
        k, /*once=*/false, budget,
        [&](uint64_t i) {
          if (!value.empty()) value[0] = static_cast<char>('a' + i % 26);
          return dict.Put(keys[i], value);
        },
        phases);
  }
  if (s.ok()) {
    s = Time(
        "add (counter)", kCounters, /*once=*/false, budget,
        [&](uint64_t i) { return dict.Add(counters[i], 1).status(); }, phases);
  }
  if (s.ok()) {
    s = Time(
        "erase", k, /*once=*/true, budget,
        [&](uint64_t i) { return dict.Erase(keys[i]); }, phases);
  }
  if (sink == 42) fprintf(stderr, " ");  // keeps the reads observable
  return s;
}

}  // namespace

int RunBench(const Invocation& inv) {
  const std::string& name = inv.args[0];
  const uint64_t n = absl::GetFlag(FLAGS_keys);
  const uint64_t value_size = absl::GetFlag(FLAGS_value_size).bytes;
  const absl::Duration budget = absl::GetFlag(FLAGS_duration);
  if (n == 0) return UsageError(inv, "--keys must be at least 1");
  if (budget <= absl::ZeroDuration()) {
    return UsageError(inv, "--duration must be positive");
  }
  if (n > kMaxItems - kCounters) {
    return UsageError(
        inv, absl::StrCat("--keys must be at most ", kMaxItems - kCounters));
  }
  if (value_size > kMaxHeapSize / n) {
    return UsageError(inv, "--keys x --value-size is more than a dict's heap");
  }
  Options options;
  options.max_items = n + kCounters;
  options.heap_size = ScratchHeapSize(n, value_size);
  CatchStopSignals();
  absl::StatusOr<ZeroCopyDict> dict = ZeroCopyDict::Create(name, options);
  if (absl::IsAlreadyExists(dict.status())) {
    return Fail(inv, absl::AlreadyExistsError(absl::StrCat(
                         "dict \"", name,
                         "\" exists; bench needs a new name for its scratch "
                         "dict (it is unlinked afterwards)")));
  }
  if (!dict.ok()) {
    if (g_stop_signal != 0) DieOfStopSignal();
    return Fail(inv, dict.status());
  }
  const Stats created = dict->GetStats();
  std::vector<Phase> phases;
  uint64_t inserted = 0;
  absl::Status s = g_stop_signal != 0 ? Interrupted()
                                      : RunPhases(*dict, n, value_size, budget,
                                                  &phases, &inserted);
  absl::Status unlinked = ZeroCopyDict::Unlink(name);
  if (g_stop_signal != 0) DieOfStopSignal();
  if (!s.ok()) return Fail(inv, s);
  if (!unlinked.ok()) return Fail(inv, unlinked);

  if (absl::GetFlag(FLAGS_json)) {
    Json results = Json::array();
    for (const Phase& p : phases) {
      results.push_back(Json{{"op", p.op},
                             {"ops", p.ops},
                             {"seconds", p.seconds},
                             {"ns_per_op", p.ns_per_op()},
                             {"ops_per_second", p.ops_per_second()}});
    }
    Json out{{"name", name},
             {"keys", n},
             {"keys_inserted", inserted},
             {"value_size", value_size},
             {"heap_size", created.heap_size},
             {"segment_size", created.segment_size},
             {"results", results}};
    printf("%s\n", out.dump(2).c_str());
    return kOk;
  }
  const std::string partial =
      inserted < n ? absl::StrCat("; ", FormatCount(inserted),
                                  " keys inserted within --duration")
                   : "";
  printf(
      "bench on scratch dict %s: %s keys, %s values, one process (pid %d)\n"
      "  %s heap, %s segment%s\n\n",
      name.c_str(), FormatCount(n).c_str(), FormatBytes(value_size).c_str(),
      static_cast<int>(getpid()), FormatBytes(created.heap_size).c_str(),
      FormatBytes(created.segment_size).c_str(), partial.c_str());
  Table table({"operation", "ops", "ns/op", "ops/s"},
              {false, true, true, true});
  for (const Phase& p : phases) {
    table.AddRow({p.op, FormatCount(p.ops),
                  FormatCount(static_cast<uint64_t>(p.ns_per_op() + 0.5)),
                  FormatCount(static_cast<uint64_t>(p.ops_per_second()))});
  }
  printf("%s\n", table.Render().c_str());
  printf(
      "Reads are lock-free (seqlocks); every write takes the writer lock (two\n"
      "compare-and-swaps when uncontended). The scratch dict is unlinked.\n");
  return kOk;
}

}  // namespace cli
}  // namespace zcipc
