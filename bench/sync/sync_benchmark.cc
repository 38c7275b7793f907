// The sync's figures over loopback (docs/SYNC.md, "Performance"): a
// redis-server of its own (unix socket in a temporary directory), two dicts
// on this host each with its own RedisSync in this process.
//
//   bazel run -c opt //bench/sync:sync_benchmark -- [--latency_samples=2000]
//       [--changes=200000] [--keys=10000] [--puts=200000]
//
// 1. propagation latency: Put on A until B's Get returns the value (B waits
//    with WaitForChange), one change at a time: p50, p99, max;
// 2. throughput: A makes --changes Puts over --keys keys as fast as it can;
//    changes/s until B holds the last one, and the largest push lag seen;
// 3. local Put cost: --puts Puts on a dict without a sync and on a synced
//    dict (ns per Put).

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/sync/redis_server.h"
#include "tools/proc/proc.h"
#include "zcipc/redis_sync.h"
#include "zcipc/zero_copy_dict.h"

ABSL_FLAG(int, latency_samples, 2000, "changes timed one at a time");
ABSL_FLAG(int, changes, 200000, "changes in the throughput run");
ABSL_FLAG(int, keys, 10000, "distinct keys in the throughput run");
ABSL_FLAG(int, puts, 200000, "Puts timed for the local cost");

namespace {

using zcipc::ZeroCopyDict;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p * (v.size() - 1));
  return v[i];
}

int Die(const std::string& what, const absl::Status& s) {
  fprintf(stderr, "sync_benchmark: %s: %s\n", what.c_str(),
          s.ToString().c_str());
  return 1;
}

// ns per Put of `n` Puts over 1000 keys (16-byte values).
double TimePuts(ZeroCopyDict& d, int n) {
  const std::string value(16, 'v');
  absl::Time t0 = absl::Now();
  for (int i = 0; i < n; ++i) {
    if (!d.Put(absl::StrCat("put", i % 1000), value).ok()) return -1;
  }
  return absl::ToDoubleNanoseconds(absl::Now() - t0) / n;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  zcipc_test::RedisServer server;
  absl::Status s = server.Start();
  if (!s.ok()) return Die("redis-server", s);

  zcipc::Options options;
  options.max_items = 100000;
  options.heap_size = 256ull << 20;
  options.change_log_bytes = 16ull << 20;
  std::vector<std::string> names;
  std::vector<ZeroCopyDict> dicts;
  for (const char* tag : {"bench-a", "bench-b", "bench-plain"}) {
    names.push_back(zcipc_proc::UniqueName(tag));
    auto d = ZeroCopyDict::Create(names.back(), options);
    if (!d.ok()) return Die("create", d.status());
    dicts.push_back(*std::move(d));
  }
  ZeroCopyDict& a = dicts[0];
  ZeroCopyDict& b = dicts[1];
  ZeroCopyDict& plain = dicts[2];
  const std::string prefix = zcipc_proc::UniqueName("bench");
  std::vector<std::unique_ptr<zcipc::RedisSync>> syncs;
  for (int i = 0; i < 2; ++i) {
    zcipc::SyncOptions o;
    o.redis_url = server.url();
    o.prefix = prefix;
    o.origin = names[i];
    o.state_path = absl::StrCat("/tmp/zcipc-sync-bench.", names[i]);
    auto sync = zcipc::RedisSync::Start(names[i], o);
    if (!sync.ok()) return Die("start", sync.status());
    syncs.push_back(*std::move(sync));
  }
  // Warm up: both connected and bootstrapped.
  if (!a.Put("warm", "up").ok()) return 1;
  for (std::string v; !b.Get("warm", &v).ok();) {
    absl::SleepFor(absl::Milliseconds(5));
  }

  // 1. Propagation latency.
  std::vector<double> lat_ms;
  const int samples = absl::GetFlag(FLAGS_latency_samples);
  for (int i = 0; i < samples; ++i) {
    const std::string want = absl::StrCat("value-", i);
    uint64_t seq = b.ChangeSeq();
    absl::Time t0 = absl::Now();
    if (!a.Put("lat", want).ok()) return 1;
    std::string got;
    while (!(b.Get("lat", &got).ok() && got == want)) {
      auto w = b.WaitForChange(seq, absl::Seconds(5));
      if (!w.ok()) return Die("wait for the change on B", w.status());
      seq = *w;
    }
    lat_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
  }
  printf(
      "propagation latency (Put on A -> Get on B), %d samples: p50 %.3f "
      "ms, p99 %.3f ms, max %.3f ms\n",
      samples, Percentile(lat_ms, 0.5), Percentile(lat_ms, 0.99),
      Percentile(lat_ms, 1.0));

  // 2. Throughput through one pair.
  const int changes = absl::GetFlag(FLAGS_changes);
  const int keys = absl::GetFlag(FLAGS_keys);
  uint64_t max_lag = 0;
  absl::Time t0 = absl::Now();
  for (int i = 0; i < changes; ++i) {
    if (!a.Put(absl::StrCat("t", i % keys), absl::StrCat("generation-", i))
             .ok()) {
      return 1;
    }
    if (i % 1000 == 0) {
      max_lag = std::max(max_lag, syncs[0]->GetStats().push_lag);
    }
  }
  const absl::Duration write_time = absl::Now() - t0;
  const std::string last_key = absl::StrCat("t", (changes - 1) % keys);
  const std::string last_value = absl::StrCat("generation-", changes - 1);
  for (std::string v; !(b.Get(last_key, &v).ok() && v == last_value);) {
    max_lag = std::max(max_lag, syncs[0]->GetStats().push_lag);
    absl::SleepFor(absl::Microseconds(200));
    if (getenv("SYNC_BENCH_DEBUG") != nullptr) {
      static absl::Time last = absl::Now();
      if (absl::Now() - last > absl::Milliseconds(500)) {
        last = absl::Now();
        auto sa = syncs[0]->GetStats();
        auto sb = syncs[1]->GetStats();
        fprintf(
            stderr,
            "A pushed %llu pulled %llu lag %llu | B pushed %llu pulled %llu\n",
            (unsigned long long)sa.pushed, (unsigned long long)sa.pulled,
            (unsigned long long)sa.push_lag, (unsigned long long)sb.pushed,
            (unsigned long long)sb.pulled);
      }
    }
  }
  const absl::Duration total = absl::Now() - t0;
  printf(
      "throughput: %d changes over %d keys written in %.0f ms "
      "(%.0f/s), all on B after %.0f ms: %.0f changes/s end to end; "
      "largest push lag %llu changes; pushed %llu entries (coalesced)\n",
      changes, keys, absl::ToDoubleMilliseconds(write_time),
      changes / absl::ToDoubleSeconds(write_time),
      absl::ToDoubleMilliseconds(total), changes / absl::ToDoubleSeconds(total),
      static_cast<unsigned long long>(max_lag),
      static_cast<unsigned long long>(syncs[0]->GetStats().pushed));

  // 3. Local Put cost, without and with a sync running.
  const int puts = absl::GetFlag(FLAGS_puts);
  // Alternating rounds (the machine is shared: the median of each side).
  TimePuts(plain, puts / 10);
  TimePuts(a, puts / 10);
  std::vector<double> without_v, with_v;
  for (int round = 0; round < 5; ++round) {
    without_v.push_back(TimePuts(plain, puts));
    with_v.push_back(TimePuts(a, puts));
  }
  const double without = Percentile(without_v, 0.5);
  const double with = Percentile(with_v, 0.5);
  printf(
      "local Put (median of 5 alternating rounds): %.0f ns without a "
      "sync, %.0f ns with one running (%+.0f%%)\n",
      without, with, 100.0 * (with - without) / without);

  for (auto& sync : syncs) sync->Stop();
  for (const std::string& n : names) {
    ZeroCopyDict::Unlink(n).IgnoreError();
    std::string state = absl::StrCat("/tmp/zcipc-sync-bench.", n);
    unlink(state.c_str());
  }
  return 0;
}
