// The zcipc demo (tools/demo.sh runs it): a telemetry scenario on the public
// API only.
//
// Several worker processes play web servers: for every request they handle,
// they count it in a per-endpoint counter (Add) and store the latest latency
// record for the endpoint (Put), all in one dict in /dev/shm. A monitor
// process reads the same dict lock-free (Get) and draws a live table; it
// checks every value it reads: a latency record carries a checksum, a counter
// must never go backwards. After the run, the parent prints a summary:
// requests, writes and reads per second, torn reads (zero), whether the
// counters add up to the requests the workers made, Check(); then it unlinks
// the dict.
//
//   bazel run //tools/demo -- --duration=10s --workers=4
//   tools/demo.sh --short          (2 seconds; the test runs this)

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tools/proc/proc.h"
#include "tools/proc/self_check.h"
#include "zcipc/zero_copy_dict.h"

ABSL_FLAG(int, workers, 4, "worker processes writing the dict");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(5), "how long to run");
ABSL_FLAG(bool, short, false, "a 2-second run (the test's mode)");
ABSL_FLAG(bool, keep, false,
          "keep the dict afterwards (inspect it with zcipc stat NAME; remove "
          "it with zcipc unlink NAME)");

namespace {

struct Endpoint {
  const char* path;
  double base_latency_us;  // typical latency
  int weight;              // share of the traffic
};

constexpr Endpoint kEndpoints[] = {
    {"/api/login", 800, 6},   {"/api/search", 2500, 14},
    {"/api/cart", 1200, 9},   {"/api/checkout", 4000, 3},
    {"/api/profile", 600, 7}, {"/static/app.js", 150, 20},
    {"/healthz", 40, 5},      {"/api/recommend", 9000, 4},
};
constexpr int kNumEndpoints = sizeof(kEndpoints) / sizeof(kEndpoints[0]);

std::string CounterKey(int e) {
  return absl::StrCat("requests:", kEndpoints[e].path);
}
std::string LatencyKey(int e) {
  return absl::StrCat("latency:", kEndpoints[e].path);
}

using ::zcipc_proc::Fnv1a;  // the latency record's checksum

// A latency record: "worker pid seq latency_us padding|checksum". The padding
// varies, so replacements alternate between rewriting the value in place and
// moving it to a new block: the two ways a reader can race a writer.
std::string MakeRecord(int worker, int64_t pid, uint64_t seq,
                       uint64_t latency_us) {
  std::string body = absl::StrCat(worker, " ", pid, " ", seq, " ", latency_us,
                                  " ", std::string(seq % 48, '.'));
  return absl::StrFormat("%s|%016x", body, Fnv1a(body));
}

struct Record {
  int worker = 0;
  int64_t pid = 0;
  uint64_t seq = 0;
  uint64_t latency_us = 0;
};

// False if the record is torn (its checksum or its shape is wrong).
bool ParseRecord(absl::string_view value, Record* r) {
  size_t bar = value.rfind('|');
  if (bar == absl::string_view::npos || value.size() - bar != 17) return false;
  absl::string_view body = value.substr(0, bar);
  if (absl::StrFormat("%016x", Fnv1a(body)) != value.substr(bar + 1)) {
    return false;
  }
  std::vector<absl::string_view> f = absl::StrSplit(body, ' ');
  return f.size() == 5 && absl::SimpleAtoi(f[0], &r->worker) &&
         absl::SimpleAtoi(f[1], &r->pid) && absl::SimpleAtoi(f[2], &r->seq) &&
         absl::SimpleAtoi(f[3], &r->latency_us);
}

int64_t Counter(absl::string_view value) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(value[static_cast<size_t>(i)]);
  }
  return static_cast<int64_t>(v);
}

std::string Count(uint64_t n) {
  std::string digits = absl::StrCat(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

// What each child reports to the parent through its pipe.
struct WorkerResult {
  uint64_t requests = 0;
  uint64_t errors = 0;
};
struct MonitorResult {
  uint64_t reads = 0;
  uint64_t torn = 0;       // latency records whose checksum failed
  uint64_t backwards = 0;  // counters that went down
  uint64_t errors = 0;     // Get errors other than NotFound
  uint64_t retries = 0;    // seqlock retries (a read raced a writer)
};

void Report(int fd, const void* data, size_t size) {
  (void)!write(fd, data, size);
  close(fd);
}

bool ReadResult(int fd, void* data, size_t size) {
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, static_cast<char*>(data) + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  return got == size;
}

int RunWorker(const std::string& name, int worker, absl::Time deadline,
              int fd) {
  WorkerResult result;
  absl::StatusOr<zcipc::ZeroCopyDict> dict = zcipc::ZeroCopyDict::Attach(name);
  if (!dict.ok()) {
    fprintf(stderr, "worker %d: %s\n", worker,
            dict.status().ToString().c_str());
    result.errors = 1;
    Report(fd, &result, sizeof(result));
    return 1;
  }
  std::mt19937_64 rng(static_cast<uint64_t>(worker) * 7919 + 1);
  std::vector<int> weights;
  for (const Endpoint& e : kEndpoints) weights.push_back(e.weight);
  std::discrete_distribution<int> pick(weights.begin(), weights.end());
  std::exponential_distribution<double> jitter(1.0);
  const int64_t pid = getpid();
  uint64_t seq = 0;
  while (absl::Now() < deadline) {
    for (int batch = 0; batch < 64; ++batch) {
      int e = pick(rng);
      uint64_t latency = static_cast<uint64_t>(kEndpoints[e].base_latency_us *
                                               (0.5 + jitter(rng)));
      absl::StatusOr<int64_t> n = dict->Add(CounterKey(e), 1);
      absl::Status s =
          dict->Put(LatencyKey(e), MakeRecord(worker, pid, ++seq, latency));
      if (n.ok()) ++result.requests;  // counted iff the Add took effect
      if (!n.ok() || !s.ok()) ++result.errors;
    }
  }
  Report(fd, &result, sizeof(result));
  return 0;
}

// The live table, drawn from what the monitor read last.
struct Row {
  int64_t requests = 0;
  int64_t last_drawn = 0;
  Record latest;
  bool has_latest = false;
};

std::string Table(const std::vector<Row>& rows, double interval_s,
                  double elapsed_s, const MonitorResult& m, int workers) {
  std::string out =
      absl::StrFormat("  %-16s %12s %10s %14s   %s\n", "endpoint", "requests",
                      "req/s", "last latency", "written by");
  int64_t total = 0, total_rate = 0;
  for (int e = 0; e < kNumEndpoints; ++e) {
    const Row& r = rows[e];
    int64_t rate = static_cast<int64_t>(
        static_cast<double>(r.requests - r.last_drawn) / interval_s);
    total += r.requests;
    total_rate += rate;
    std::string latency = "-", by = "-";
    if (r.has_latest) {
      latency = absl::StrFormat("%.3f ms", r.latest.latency_us / 1000.0);
      by =
          absl::StrCat("worker ", r.latest.worker, " (pid ", r.latest.pid, ")");
    }
    absl::StrAppend(&out, absl::StrFormat("  %-16s %12s %10s %14s   %s\n",
                                          kEndpoints[e].path, Count(r.requests),
                                          Count(rate), latency, by));
  }
  absl::StrAppend(
      &out,
      absl::StrFormat("  %-16s %12s %10s\n", "all", Count(total),
                      Count(total_rate)),
      absl::StrFormat("  t=%.1fs  %d writer processes; monitor: %s lock-free "
                      "reads, %s torn\n",
                      elapsed_s, workers, Count(m.reads), Count(m.torn)));
  return out;
}

int RunMonitor(const std::string& name, int workers, absl::Time start,
               absl::Time deadline, int fd) {
  MonitorResult m;
  absl::StatusOr<zcipc::ZeroCopyDict> dict = zcipc::ZeroCopyDict::Attach(name);
  if (!dict.ok()) {
    fprintf(stderr, "monitor: %s\n", dict.status().ToString().c_str());
    m.errors = 1;
    Report(fd, &m, sizeof(m));
    return 1;
  }
  const bool tty = isatty(STDOUT_FILENO);
  // In a terminal the table is redrawn in place 4 times a second; in a log
  // it is printed once a second.
  const absl::Duration redraw =
      tty ? absl::Milliseconds(250) : absl::Seconds(1);
  std::vector<Row> rows(kNumEndpoints);
  std::vector<std::string> counter_keys, latency_keys;
  for (int e = 0; e < kNumEndpoints; ++e) {
    counter_keys.push_back(CounterKey(e));
    latency_keys.push_back(LatencyKey(e));
  }
  std::string value;
  absl::Time last_draw = start;
  int drawn_lines = 0;
  for (;;) {
    absl::Time now = absl::Now();
    bool done = now >= deadline;
    for (int e = 0; e < kNumEndpoints; ++e) {
      absl::Status s = dict->Get(counter_keys[e], &value);
      ++m.reads;
      if (s.ok()) {
        int64_t n = value.size() == 8 ? Counter(value) : -1;
        if (n < rows[e].requests) ++m.backwards;
        if (n >= 0) rows[e].requests = n;
      } else if (!absl::IsNotFound(s)) {
        ++m.errors;
      }
      s = dict->Get(latency_keys[e], &value);
      ++m.reads;
      if (s.ok()) {
        Record r;
        if (ParseRecord(value, &r)) {
          rows[e].latest = r;
          rows[e].has_latest = true;
        } else {
          ++m.torn;
        }
      } else if (!absl::IsNotFound(s)) {
        ++m.errors;
      }
    }
    if (done || now - last_draw >= redraw) {
      std::string table = Table(rows, absl::ToDoubleSeconds(now - last_draw),
                                absl::ToDoubleSeconds(now - start), m, workers);
      if (tty && drawn_lines > 0) printf("\033[%dA", drawn_lines);
      if (tty) absl::StrReplaceAll({{"\n", "\033[K\n"}}, &table);
      printf("%s%s", tty || drawn_lines == 0 ? "" : "\n", table.c_str());
      fflush(stdout);
      drawn_lines = kNumEndpoints + 3;
      last_draw = now;
      for (Row& r : rows) r.last_drawn = r.requests;
    }
    if (done) break;
  }
  m.retries = dict->GetStats().read_retries;
  Report(fd, &m, sizeof(m));
  return 0;
}

volatile sig_atomic_t interrupted = 0;
void OnInterrupt(int) { interrupted = 1; }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "zcipc demo: worker processes record telemetry in one shared-memory "
      "dict while a monitor process reads it lock-free.\n  demo "
      "[--workers=4] [--duration=5s] [--short] [--keep]");
  absl::ParseCommandLine(argc, argv);
  const int workers = absl::GetFlag(FLAGS_workers);
  const absl::Duration duration = absl::GetFlag(FLAGS_short)
                                      ? absl::Seconds(2)
                                      : absl::GetFlag(FLAGS_duration);
  if (workers < 1 || workers > 64 || duration <= absl::ZeroDuration()) {
    fprintf(stderr, "demo: --workers must be 1..64, --duration positive\n");
    return 2;
  }
  const std::string name = absl::StrCat("demo-telemetry-", getpid());
  zcipc::Options options;
  options.max_items = 1000;
  options.heap_size = 4 << 20;
  absl::StatusOr<zcipc::ZeroCopyDict> dict =
      zcipc::ZeroCopyDict::Create(name, options);
  if (!dict.ok()) {
    fprintf(stderr, "demo: %s\n", dict.status().ToString().c_str());
    return 1;
  }
  printf(
      "zcipc demo: %d worker processes write one shared-memory dict while a\n"
      "monitor process reads it lock-free.\n\n"
      "Per request, a worker bumps the endpoint's counter (Add: atomic across\n"
      "processes) and stores the latest latency (Put) in the dict\n"
      "  /dev/shm/zcipc.%s\n"
      "The monitor reads it with lock-free Gets (seqlocks: it never takes the\n"
      "lock, never slows a writer) and checks every value it reads.\n"
      "Running for %s.\n\n",
      workers, name.c_str(), absl::FormatDuration(duration).c_str());
  fflush(stdout);

  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  const absl::Time start = absl::Now();
  const absl::Time deadline = start + duration;
  struct Child {
    pid_t pid;
    int fd;
  };
  std::vector<Child> children;
  // Child 0 is the monitor; 1..workers are the workers.
  for (int i = 0; i <= workers; ++i) {
    int fds[2];
    if (pipe(fds) != 0) {
      perror("demo: pipe");
      return 1;
    }
    pid_t pid = zcipc_proc::Fork(
        [&]() {
          signal(SIGINT, SIG_DFL);
          signal(SIGTERM, SIG_DFL);
          close(fds[0]);
          return i == 0 ? RunMonitor(name, workers, start, deadline, fds[1])
                        : RunWorker(name, i, deadline, fds[1]);
        },
        static_cast<unsigned>(absl::ToInt64Seconds(duration)) + 60);
    if (pid < 0) {
      perror("demo: fork");
      return 1;
    }
    close(fds[1]);
    children.push_back({pid, fds[0]});
  }

  MonitorResult m;
  WorkerResult w;
  bool all_reported = true;
  for (size_t i = 0; i < children.size(); ++i) {
    if (i == 0) {
      all_reported &= ReadResult(children[i].fd, &m, sizeof(m));
    } else {
      WorkerResult r;
      bool ok = ReadResult(children[i].fd, &r, sizeof(r));
      all_reported &= ok;
      w.requests += r.requests;
      w.errors += r.errors;
    }
  }
  bool children_ok = true;
  for (const Child& c : children) {
    children_ok &= zcipc_proc::WaitChild(c.pid).ok();
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  // The counters in the dict must add up to the requests the workers made.
  int64_t counted = 0;
  for (int e = 0; e < kNumEndpoints; ++e) {
    std::string v;
    if (dict->Get(CounterKey(e), &v).ok() && v.size() == 8) {
      counted += Counter(v);
    }
  }
  zcipc::Stats stats = dict->GetStats();
  absl::Status check = dict->Check();
  const bool keep = absl::GetFlag(FLAGS_keep);
  absl::Status unlinked =
      keep ? absl::OkStatus() : zcipc::ZeroCopyDict::Unlink(name);

  if (interrupted) {
    printf("\ninterrupted; %s\n",
           keep ? absl::StrCat("kept /dev/shm/zcipc.", name).c_str()
                : "the dict is unlinked");
    return 130;
  }
  const bool counts_match = counted == static_cast<int64_t>(w.requests);
  const bool clean = all_reported && children_ok && m.torn == 0 &&
                     m.backwards == 0 && m.errors == 0 && w.errors == 0 &&
                     counts_match && check.ok() && unlinked.ok();
  auto per_second = [seconds](uint64_t n) {
    return Count(static_cast<uint64_t>(static_cast<double>(n) / seconds));
  };
  std::string fate = keep ? absl::StrCat("kept: /dev/shm/zcipc.", name)
                     : unlinked.ok() ? absl::StrCat("unlinked (/dev/shm/zcipc.",
                                                    name, " is gone)")
                                     : unlinked.ToString();
  printf(
      "\nsummary: %.1f s, %d worker processes + 1 monitor process, one dict\n"
      "  requests recorded  %12s  (%s/s), an Add and a Put each\n"
      "  writes             %12s  (%s/s) through one writer lock\n"
      "  lock-free reads    %12s  (%s/s) by the monitor, which never locked\n"
      "  torn reads         %12s  (%s reads raced a writer and retried)\n"
      "  counters           %12s  = requests the workers made: %s\n"
      "  integrity          %12s  Check() of header, slots, heap, counters\n"
      "  dict               %s\n",
      seconds, workers, Count(w.requests).c_str(),
      per_second(w.requests).c_str(), Count(stats.writes_total).c_str(),
      per_second(stats.writes_total).c_str(), Count(m.reads).c_str(),
      per_second(m.reads).c_str(), Count(m.torn + m.backwards).c_str(),
      Count(m.retries).c_str(), Count(static_cast<uint64_t>(counted)).c_str(),
      counts_match ? "yes" : "NO", check.ok() ? "OK" : "FAILED", fate.c_str());
  if (clean && keep) {
    printf(
        "\nNext: bazel-bin/tools/zcipc/zcipc stat %s (or dump, check...);\n"
        "      bazel-bin/tools/zcipc/zcipc unlink %s removes it.\n",
        name.c_str(), name.c_str());
  } else if (clean) {
    printf(
        "\nNext: bazel-bin/tools/zcipc/zcipc help (ls, stat, watch, check, "
        "dump...);\n      tools/demo.sh --keep keeps the dict to inspect.\n");
  }
  if (!check.ok()) printf("check: %s\n", check.ToString().c_str());
  if (!clean) {
    printf("FAILED: errors: workers %" PRIu64 ", monitor %" PRIu64
           "; counters backwards %" PRIu64 "; all children reported: %s\n",
           w.errors, m.errors, m.backwards, all_reported ? "yes" : "no");
  }
  return clean ? 0 : 1;
}
