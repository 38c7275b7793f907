// bench: quick single-process figures on a scratch dict. For a first look on
// a machine (is shared memory slow here?), not a benchmark suite: that is
// //bench (Google Benchmark).

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

struct Phase {
  std::string op;
  uint64_t ops = 0;
  double seconds = 0;
  double ns_per_op() const { return ops ? seconds * 1e9 / ops : 0; }
  double ops_per_second() const { return seconds > 0 ? ops / seconds : 0; }
};

// Runs fn(i) for i = 0..n-1 once (budget zero), or cycling over 0..n-1 until
// the budget has passed. Stops at the first error.
template <typename Fn>
absl::Status Time(const char* op, uint64_t n, absl::Duration budget, Fn fn,
                  std::vector<Phase>* phases) {
  Phase phase{op};
  const auto start = Clock::now();
  const auto limit = start + absl::ToChronoNanoseconds(budget);
  for (uint64_t i = 0;; ++i) {
    if (budget == absl::ZeroDuration()) {
      if (i == n) break;
    } else if (i % 256 == 0 && Clock::now() >= limit) {
      break;
    }
    absl::Status s = fn(i % n);
    if (!s.ok()) return s;
    ++phase.ops;
  }
  phase.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  phases->push_back(phase);
  return absl::OkStatus();
}

absl::Status RunPhases(ZeroCopyDict& dict, uint64_t n, uint64_t value_size,
                       absl::Duration budget, std::vector<Phase>* phases) {
  std::vector<std::string> keys, misses, counters;
  for (uint64_t i = 0; i < n; ++i) {
    keys.push_back(absl::StrFormat("bench-key-%010d", i));
    misses.push_back(absl::StrFormat("bench-miss-%09d", i));
  }
  for (uint64_t i = 0; i < kCounters; ++i) {
    counters.push_back(absl::StrFormat("bench-counter-%02d", i));
  }
  std::string value(value_size, 'v');
  std::string out;
  uint64_t sink = 0;
  absl::Status s = Time(
      "put (insert)", n, absl::ZeroDuration(),
      [&](uint64_t i) { return dict.Put(keys[i], value); }, phases);
  if (s.ok()) {
    s = Time(
        "get (hit, copy)", n, budget,
        [&](uint64_t i) { return dict.Get(keys[i], &out); }, phases);
  }
  if (s.ok()) {
    s = Time(
        "read (hit, zero-copy)", n, budget,
        [&](uint64_t i) {
          return dict.Read(keys[i],
                           [&](absl::string_view v) { sink += v.size(); });
        },
        phases);
  }
  if (s.ok()) {
    s = Time(
        "get (miss)", n, budget,
        [&](uint64_t i) {
          absl::Status g = dict.Get(misses[i], &out);
          return absl::IsNotFound(g) ? absl::OkStatus() : g;
        },
        phases);
  }
  if (s.ok()) {
    s = Time(
        "put (replace in place)", n, budget,
        [&](uint64_t i) {
          if (!value.empty()) value[0] = static_cast<char>('a' + i % 26);
          return dict.Put(keys[i], value);
        },
        phases);
  }
  if (s.ok()) {
    s = Time(
        "add (counter)", kCounters, budget,
        [&](uint64_t i) { return dict.Add(counters[i], 1).status(); }, phases);
  }
  if (s.ok()) {
    s = Time(
        "erase", n, absl::ZeroDuration(),
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
  Options options;
  options.max_items = n + kCounters;
  // Each entry's block: 24 header bytes + the key (24 bytes here) and the
  // value each padded to 8, in 16-byte units; twice that leaves room for
  // relocations.
  uint64_t block = (24 + 24 + (value_size + 7) / 8 * 8 + 15) / 16 * 16;
  options.heap_size = 2 * (n + kCounters) * block + (1 << 20);
  absl::StatusOr<ZeroCopyDict> dict = ZeroCopyDict::Create(name, options);
  if (absl::IsAlreadyExists(dict.status())) {
    return Fail(inv, absl::AlreadyExistsError(absl::StrCat(
                         "dict \"", name,
                         "\" exists; bench needs a new name for its scratch "
                         "dict (it is unlinked afterwards)")));
  }
  if (!dict.ok()) return Fail(inv, dict.status());
  std::vector<Phase> phases;
  absl::Status s = RunPhases(*dict, n, value_size, budget, &phases);
  absl::Status unlinked = ZeroCopyDict::Unlink(name);
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
             {"value_size", value_size},
             {"results", results}};
    printf("%s\n", out.dump(2).c_str());
    return kOk;
  }
  printf(
      "bench on scratch dict %s: %s keys, %s values, one process (pid %d)\n\n",
      name.c_str(), FormatCount(n).c_str(), FormatBytes(value_size).c_str(),
      static_cast<int>(getpid()));
  Table table({"operation", "ops", "ns/op", "ops/s"},
              {false, true, true, true});
  for (const Phase& p : phases) {
    table.AddRow({p.op, FormatCount(p.ops),
                  FormatCount(static_cast<uint64_t>(p.ns_per_op() + 0.5)),
                  FormatCount(static_cast<uint64_t>(p.ops_per_second()))});
  }
  printf("%s\n", table.Render().c_str());
  printf(
      "Reads are lock-free (seqlocks); every write takes the writer lock (a "
      "mutex\nand an flock), which dominates its cost. The scratch dict is "
      "unlinked.\n");
  return kOk;
}

}  // namespace cli
}  // namespace zcipc
