// The fleet demo (tools/demo.sh --fleet): two "hosts" on this machine, each
// with its own dict, its own sync (zcipc::RedisSync) and worker processes
// counting requests with Add, kept in step through a redis-server the demo
// starts (unix socket in a temporary directory). It shows both hosts'
// counters converging to the same totals and the propagation latency it
// measures (a Put on host A until a Get on host B returns it).

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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

ABSL_FLAG(absl::Duration, duration, absl::Seconds(4), "how long to write");
ABSL_FLAG(int, workers, 2, "worker processes per host");

namespace {

using zcipc::ZeroCopyDict;

constexpr const char* kEndpoints[] = {"/api/login", "/api/search", "/api/cart",
                                      "/healthz"};
constexpr int kNumEndpoints = 4;

int64_t Counter(const ZeroCopyDict& d, const std::string& key) {
  std::string v;
  if (!d.Get(key, &v).ok() || v.size() != 8) return 0;
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) {
    u |= static_cast<uint64_t>(static_cast<unsigned char>(v[i])) << (8 * i);
  }
  return static_cast<int64_t>(u);
}

void PrintTable(const ZeroCopyDict& a, const ZeroCopyDict& b,
                const char* title) {
  printf("%s\n  %-14s %12s %12s\n", title, "endpoint", "host A", "host B");
  for (const char* e : kEndpoints) {
    const std::string key = absl::StrCat("requests", e);
    printf("  %-14s %12lld %12lld\n", e,
           static_cast<long long>(Counter(a, key)),
           static_cast<long long>(Counter(b, key)));
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const int workers = std::max(1, absl::GetFlag(FLAGS_workers));
  zcipc_test::RedisServer server;
  absl::Status s = server.Start();
  if (!s.ok()) {
    fprintf(stderr, "fleet demo: redis-server: %s\n", s.ToString().c_str());
    return 1;
  }
  const std::string names[2] = {zcipc_proc::UniqueName("fleet-a"),
                                zcipc_proc::UniqueName("fleet-b")};
  std::vector<ZeroCopyDict> dicts;
  for (const std::string& n : names) {
    auto d = ZeroCopyDict::Create(n);
    if (!d.ok()) {
      fprintf(stderr, "fleet demo: %s\n", d.status().ToString().c_str());
      return 1;
    }
    dicts.push_back(*std::move(d));
  }
  printf(
      "zcipc fleet demo: two hosts, each a dict with its own sync and %d "
      "worker processes counting requests (Add), kept in step through\n"
      "one redis-server (%s). Running for %s.\n\n",
      workers, server.url().c_str(), absl::FormatDuration(duration).c_str());

  // Workers first (fork before the sync threads exist); they wait for go.
  zcipc_proc::SharedArray<std::atomic<int64_t>> made(2 * kNumEndpoints);
  zcipc_proc::SharedArray<std::atomic<int>> go(1);
  std::vector<pid_t> pids;
  for (int host = 0; host < 2; ++host) {
    for (int w = 0; w < workers; ++w) {
      const std::string name = names[host];
      pids.push_back(zcipc_proc::Fork(
          [&, name, host, w]() {
            auto d = ZeroCopyDict::Attach(name);
            if (!d.ok())
              return zcipc_proc::ChildFailure(2, "attach", d.status());
            while (go[0].load() == 0) absl::SleepFor(absl::Milliseconds(1));
            absl::Time end = absl::Now() + duration;
            uint64_t i = w;
            while (absl::Now() < end) {
              int e = static_cast<int>((i * 2654435761u) % kNumEndpoints);
              ++i;
              if (!d->Add(absl::StrCat("requests", kEndpoints[e]), 1).ok()) {
                return 3;
              }
              made[host * kNumEndpoints + e].fetch_add(1);
              absl::SleepFor(absl::Microseconds(200));
            }
            return 0;
          },
          120));
    }
  }

  std::vector<std::unique_ptr<zcipc::RedisSync>> syncs;
  for (int host = 0; host < 2; ++host) {
    zcipc::SyncOptions o;
    o.redis_url = server.url();
    o.prefix = absl::StrCat(names[0], "-fleet");
    o.origin = host == 0 ? "host-a" : "host-b";
    o.state_path = absl::StrCat("/tmp/zcipc-fleet-demo.", names[host]);
    auto sync = zcipc::RedisSync::Start(names[host], o);
    if (!sync.ok()) {
      fprintf(stderr, "fleet demo: %s\n", sync.status().ToString().c_str());
      return 1;
    }
    syncs.push_back(*std::move(sync));
  }
  go[0].store(1);

  // Latency probes while the workers run: Put on A, wait on B.
  std::vector<double> lat_ms;
  absl::Time end = absl::Now() + duration;
  absl::Time next_table = absl::Now() + absl::Seconds(1);
  for (int i = 0; absl::Now() < end; ++i) {
    const std::string want = absl::StrCat("probe-", i);
    uint64_t seq = dicts[1].ChangeSeq();
    absl::Time t0 = absl::Now();
    if (!dicts[0].Put("probe", want).ok()) return 1;
    std::string got;
    bool seen = true;
    while (!(dicts[1].Get("probe", &got).ok() && got == want)) {
      auto w = dicts[1].WaitForChange(seq, absl::Seconds(2));
      if (!w.ok()) {
        seen = false;
        break;
      }
      seq = *w;
    }
    if (seen) lat_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
    absl::SleepFor(absl::Milliseconds(5));
    if (absl::Now() >= next_table) {
      next_table += absl::Seconds(1);
      PrintTable(dicts[0], dicts[1], "while the workers write:");
    }
  }
  bool workers_ok = true;
  for (pid_t pid : pids) workers_ok &= zcipc_proc::WaitChild(pid).ok();

  // Convergence: both hosts hold the sum of every worker's Adds.
  bool same = false;
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!same && absl::Now() < deadline) {
    same = true;
    for (int e = 0; e < kNumEndpoints; ++e) {
      const std::string key = absl::StrCat("requests", kEndpoints[e]);
      const int64_t want = made[e].load() + made[kNumEndpoints + e].load();
      same &= Counter(dicts[0], key) == want && Counter(dicts[1], key) == want;
    }
    if (!same) absl::SleepFor(absl::Milliseconds(20));
  }
  printf("\n");
  PrintTable(dicts[0], dicts[1], "after the workers stopped:");
  std::sort(lat_ms.begin(), lat_ms.end());
  auto pct = [&](double p) {
    return lat_ms.empty()
               ? 0.0
               : lat_ms[static_cast<size_t>(p * (lat_ms.size() - 1))];
  };
  printf(
      "\nsummary:\n  both hosts equal the sum of all workers' Adds: %s\n"
      "  propagation latency host A -> host B (%zu probes): p50 %.2f ms, "
      "p99 %.2f ms\n",
      same ? "yes" : "NO", lat_ms.size(), pct(0.5), pct(0.99));
  for (int host = 0; host < 2; ++host) {
    zcipc::SyncStats st = syncs[host]->GetStats();
    printf("  host %c sync: pushed %llu, pulled %llu, skipped %llu\n",
           'A' + host, static_cast<unsigned long long>(st.pushed),
           static_cast<unsigned long long>(st.pulled),
           static_cast<unsigned long long>(st.skipped_values));
  }
  for (auto& sync : syncs) sync->Stop();
  for (const std::string& n : names) {
    ZeroCopyDict::Unlink(n).IgnoreError();
    unlink(absl::StrCat("/tmp/zcipc-fleet-demo.", n).c_str());
  }
  return same && workers_ok ? 0 : 1;
}
