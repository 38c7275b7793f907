#include "tools/torture/torture.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tools/proc/proc.h"
#include "tools/proc/self_check.h"
#include "zcipc/status.h"
#include "zcipc/zero_copy_dict.h"

namespace zcipc {
namespace torture {

namespace {

uint64_t NowNanos() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
}

// The quantile f of sorted nanoseconds (zero if there are none).
absl::Duration Quantile(const std::vector<uint64_t>& sorted, double f) {
  if (sorted.empty()) return absl::ZeroDuration();
  return absl::Nanoseconds(
      sorted[std::min<size_t>(sorted.size() - 1, sorted.size() * f)]);
}

using ::zcipc_proc::Fork;
using ::zcipc_proc::MakeValue;
using ::zcipc_proc::ParseValue;
using ::zcipc_proc::SharedArray;
using ::zcipc_proc::UniqueName;
using ::zcipc_proc::WaitExit;

void AtomicMax(std::atomic<uint64_t>& a, uint64_t v) {
  uint64_t cur = a.load(std::memory_order_relaxed);
  while (v > cur && !a.compare_exchange_weak(cur, v)) {
  }
}

std::string Key(uint64_t i) { return absl::StrFormat("key:%08d", i); }

// Value sizes: small ones update in place, large ones relocate (and values
// over 4 KiB always relocate).
constexpr size_t kSizes[] = {0, 24, 100, 300, 1000, 3000, 6000};

Options DictOptions(uint64_t keys) {
  Options o;
  o.max_items = keys + 16;
  o.heap_size = keys * 8192 + (16 << 20);
  return o;
}

}  // namespace

// --- Seqlock ---------------------------------------------------------------

namespace {

constexpr uint64_t kChurnWindow = 64;

struct SeqlockShared {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> writes{0}, reads{0}, hits{0}, retries{0}, torn{0},
      backwards{0}, errors{0};
};

int SeqlockWriter(const std::string& name, const SeqlockOptions& o,
                  SeqlockShared* sh) {
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name);
  if (!d.ok()) return 10;
  std::mt19937_64 rng(o.seed);
  std::vector<uint64_t> gen(o.keys, 1);
  uint64_t churn = 0;
  while (!sh->stop.load(std::memory_order_relaxed)) {
    uint64_t k = rng() % o.keys;
    std::string key = Key(k);
    absl::Status s;
    if (rng() % 4 == 0) {
      // Churn through never-reused keys: their tombstones force purges,
      // which move the readers' keys between slots.
      s = d->Put(absl::StrCat("churn:", churn), "x");
      if (s.ok() && churn >= kChurnWindow) {
        s = d->Erase(absl::StrCat("churn:", churn - kChurnWindow));
      }
      ++churn;
    } else if (rng() % 10 == 0) {
      s = d->Erase(key);
      if (absl::IsNotFound(s)) s = absl::OkStatus();
    } else {
      size_t size = kSizes[rng() % (sizeof(kSizes) / sizeof(kSizes[0]))];
      s = d->Put(key, MakeValue(key, ++gen[k], size));
    }
    if (!s.ok()) {
      fprintf(stderr, "writer: %s\n", s.ToString().c_str());
      return 11;
    }
    sh->writes.fetch_add(1, std::memory_order_relaxed);
  }
  return 0;
}

int SeqlockReader(const std::string& name, const SeqlockOptions& o, int id,
                  SeqlockShared* sh) {
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name);
  if (!d.ok()) return 20;
  std::mt19937_64 rng(o.seed * 1000 + id);
  std::vector<uint64_t> last(o.keys, 0);
  uint64_t reads = 0, hits = 0, torn = 0, backwards = 0, errors = 0;
  std::string value;
  auto check = [&](uint64_t k, absl::string_view v) {
    uint64_t g = 0;
    if (!ParseValue(Key(k), v, &g)) {
      ++torn;
    } else if (g < last[k]) {
      ++backwards;
    } else {
      last[k] = g;
    }
  };
  while (!sh->stop.load(std::memory_order_relaxed)) {
    uint64_t k = rng() % o.keys;
    std::string key = Key(k);
    absl::Status s;
    switch (rng() % 4) {
      case 0:
      case 1:
        s = d->Get(key, &value);
        if (s.ok()) check(k, value);
        break;
      case 2:
        s = d->Read(key, [&](absl::string_view v) {
          value.assign(v.data(), v.size());
        });
        if (s.ok()) check(k, value);  // only the validated run counts
        break;
      default: {
        absl::StatusOr<bool> c = d->Contains(key);
        s = c.ok() ? (*c ? absl::OkStatus() : absl::NotFoundError(""))
                   : c.status();
        break;
      }
    }
    ++reads;
    if (s.ok()) {
      ++hits;
    } else if (!absl::IsNotFound(s)) {
      ++errors;
    }
    if (reads % 200000 == 0) {
      // A lock-free scan now and then: every pair must be consistent.
      absl::Status fs =
          d->ForEach([&](absl::string_view fk, absl::string_view fv) {
            uint64_t g;
            ++reads;
            if (fk.substr(0, 6) == "churn:") {
              if (fv != "x") ++torn;
            } else if (!ParseValue(fk, fv, &g)) {
              ++torn;
            }
          });
      if (!fs.ok()) ++errors;
    }
  }
  sh->reads += reads;
  sh->hits += hits;
  sh->torn += torn;
  sh->backwards += backwards;
  sh->errors += errors;
  sh->retries += d->GetStats().read_retries;
  return 0;
}

}  // namespace

std::string SeqlockResult::Summary() const {
  return absl::StrFormat(
      "seqlock: %d reads (%.0f/s), %d hits, %d retries, %d torn, %d "
      "backwards, %d errors; %d writes, %d purges",
      reads, reads_per_second, hits, retries, torn, backwards, errors, writes,
      purges);
}

absl::StatusOr<SeqlockResult> RunSeqlock(const SeqlockOptions& o) {
  std::string name = UniqueName("seqlock");
  absl::StatusOr<ZeroCopyDict> d =
      ZeroCopyDict::Create(name, DictOptions(o.keys + kChurnWindow + 1));
  if (!d.ok()) return d.status();
  for (uint64_t k = 0; k < o.keys; ++k) {
    absl::Status s = d->Put(Key(k), MakeValue(Key(k), 1, 100));
    if (!s.ok()) return s;
  }
  SharedArray<SeqlockShared> shared;
  if (!shared.valid()) return absl::ResourceExhaustedError("mmap");
  SeqlockShared* sh = shared.get();
  std::vector<pid_t> pids;
  pids.push_back(Fork([&] { return SeqlockWriter(name, o, sh); }));
  for (int r = 0; r < o.readers; ++r) {
    pids.push_back(Fork([&, r] { return SeqlockReader(name, o, r, sh); }));
  }
  absl::Time start = absl::Now();
  absl::SleepFor(o.duration);
  sh->stop = true;
  int bad = 0;
  for (pid_t p : pids) bad |= WaitExit(p);
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  SeqlockResult r;
  r.writes = sh->writes;
  r.reads = sh->reads;
  r.hits = sh->hits;
  r.retries = sh->retries;
  r.torn = sh->torn;
  r.backwards = sh->backwards;
  r.errors = sh->errors;
  r.reads_per_second = r.reads / secs;
  r.purges = d->GetStats().purges_total;
  absl::Status check = d->Check();
  (void)ZeroCopyDict::Unlink(name);
  if (bad != 0)
    return absl::InternalError(absl::StrCat("a process failed: ", bad));
  if (!check.ok()) return check;
  return r;
}

// --- Writer kills ------------------------------------------------------------

namespace {

constexpr size_t kKillSizes[] = {0, 100, 3000, 60000, 400000};

enum MsgType : uint32_t { kBegin = 1, kAck = 2 };
enum OpType : uint32_t { kPut = 1, kErase = 2, kAdd = 3 };

// One record on the writer's pipe (smaller than PIPE_BUF: writes are atomic).
struct Msg {
  uint32_t type;
  uint32_t op;
  uint64_t key;
  uint64_t value;  // kPut: generation; kAdd: the new counter value
};

constexpr uint64_t kCounterKey = ~uint64_t{0};
std::string KeyFor(uint64_t k) { return k == kCounterKey ? "counter" : Key(k); }

bool Send(int fd, const Msg& m) {
  return write(fd, &m, sizeof(m)) == static_cast<ssize_t>(sizeof(m));
}

int KillWriter(const std::string& name, const KillOptions& o, uint64_t round,
               int fd) {
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name);
  if (!d.ok()) {
    fprintf(stderr, "writer: %s\n", d.status().ToString().c_str());
    return 30;
  }
  std::mt19937_64 rng(o.seed * 7919 + round);
  uint64_t counter = 0;
  // Generations grow across rounds, so a value from an older round is
  // always older.
  auto next_gen = [&] { return ((round + 1) << 32) | ++counter; };
  auto put = [&](auto& target, uint64_t k) -> bool {
    uint64_t g = next_gen();
    if (!Send(fd, {kBegin, kPut, k, g})) return false;
    // Large values keep the writer inside its critical section (copying)
    // long enough for kills to land there, not only between operations.
    size_t size =
        kKillSizes[rng() % (sizeof(kKillSizes) / sizeof(kKillSizes[0]))];
    if (!target.Put(Key(k), MakeValue(Key(k), g, size)).ok()) return false;
    return Send(fd, {kAck, kPut, k, g});
  };
  for (;;) {
    uint64_t k = rng() % o.keys;
    switch (rng() % 8) {
      case 0: {  // erase
        if (!Send(fd, {kBegin, kErase, k, 0})) return 31;
        absl::Status s = d->Erase(Key(k));
        if (!s.ok() && !absl::IsNotFound(s)) return 32;
        if (!Send(fd, {kAck, kErase, k, 0})) return 31;
        break;
      }
      case 1: {  // counter
        if (!Send(fd, {kBegin, kAdd, kCounterKey, 0})) return 31;
        absl::StatusOr<int64_t> v = d->Add("counter", 1);
        if (!v.ok()) return 33;
        if (!Send(fd, {kAck, kAdd, kCounterKey, static_cast<uint64_t>(*v)})) {
          return 31;
        }
        break;
      }
      case 2: {  // a batch of puts, each acknowledged as it returns
        bool ok = true;
        absl::Status s = d->Write([&](Batch& b) {
          for (int i = 0; i < 4 && ok; ++i) ok = put(b, rng() % o.keys);
          return absl::OkStatus();
        });
        if (!s.ok() || !ok) return 34;
        break;
      }
      default:
        if (!put(*d, k)) return 35;
    }
  }
}

// The waiter's own key: the only key written while the parent checks.
constexpr absl::string_view kWaiterKey = "waiter";

struct KillShared {
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, torn{0}, errors{0}, worst_ns{0};
  // CLOCK_MONOTONIC of the latest kill, stamped just before kill().
  std::atomic<uint64_t> kill_ns{0};
  std::atomic<uint64_t> waiter_samples{0}, waiter_writes{0}, waiter_errors{0};
};

// Writes its own key in a loop. When a kill fell between the start of one of
// its writes and its acquisition of the lock, records how long after the
// kill it got the lock (at most `capacity` samples).
int KillWaiter(const std::string& name, KillShared* sh, uint64_t* samples,
               uint64_t capacity) {
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name);
  if (!d.ok()) return 45;
  uint64_t n = 0, writes = 0, errors = 0, last_kill = 0;
  while (!sh->stop.load(std::memory_order_relaxed)) {
    const uint64_t t0 = NowNanos();
    uint64_t acquired = 0;
    absl::Status s = d->Write([&](Batch& b) {
      acquired = NowNanos();
      return b.Put(kWaiterKey, "w");
    });
    if (!s.ok()) {
      ++errors;
      continue;
    }
    ++writes;
    const uint64_t k = sh->kill_ns.load(std::memory_order_acquire);
    if (k != last_kill && k > t0 && k < acquired && n < capacity) {
      samples[n++] = acquired - k;
      last_kill = k;
    }
  }
  sh->waiter_samples = n;
  sh->waiter_writes = writes;
  sh->waiter_errors = errors;
  return 0;
}

int KillReader(const std::string& name, const KillOptions& o, int id,
               KillShared* sh) {
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Attach(name);
  if (!d.ok()) return 40;
  std::mt19937_64 rng(o.seed * 31 + id);
  std::string value;
  uint64_t reads = 0, torn = 0, errors = 0, worst = 0;
  while (!sh->stop.load(std::memory_order_relaxed)) {
    uint64_t k = rng() % o.keys;
    uint64_t t0 = NowNanos();
    absl::Status s = d->Get(Key(k), &value);
    worst = std::max(worst, NowNanos() - t0);
    ++reads;
    uint64_t g;
    if (s.ok() && !ParseValue(Key(k), value, &g)) ++torn;
    if (!s.ok() && !absl::IsNotFound(s)) ++errors;
  }
  sh->reads += reads;
  sh->torn += torn;
  sh->errors += errors;
  AtomicMax(sh->worst_ns, worst);
  return 0;
}

// What the parent knows a key holds: absent, or a generation / counter.
struct State {
  bool present = false;
  uint64_t value = 0;
  bool operator==(const State& o) const {
    return present == o.present && (!present || value == o.value);
  }
};

State Observe(ZeroCopyDict& d, uint64_t k, std::string* why) {
  State st;
  std::string key = KeyFor(k);
  absl::StatusOr<std::string> v = d.Get(key);
  if (!v.ok()) {
    if (!absl::IsNotFound(v.status())) *why = v.status().ToString();
    return st;
  }
  st.present = true;
  if (k == kCounterKey) {
    if (v->size() != 8) {
      *why = "counter is not 8 bytes";
      return st;
    }
    int64_t n;
    memcpy(&n, v->data(), 8);
    st.value = static_cast<uint64_t>(n);
  } else if (!ParseValue(key, *v, &st.value)) {
    *why = absl::StrCat("torn value for ", key);
  }
  return st;
}

// --- The change log against the dict ---

using KeySet = absl::flat_hash_set<std::string>;

// The largest record the kills run logs: a 16-byte header and a key of at
// most 16 bytes ("key:NNNNNNNN" pads to 16; "counter" and "waiter" to 8).
constexpr uint64_t kMaxRecordBytes = 32;

// Whether change `seq` may be gone from a ring of `ring_bytes` whose newest
// change is `newest`: only if the records from it to the newest can
// overflow what the ring retains. It keeps the newest records that fit in
// at least 15/16 of it (eviction frees a sixteenth at a time;
// engine/changes/change_log.cc), so at least that many bytes, less one
// record, of the newest changes.
bool MayBeOverwritten(uint64_t seq, uint64_t newest, uint64_t ring_bytes) {
  const uint64_t retained = ring_bytes - ring_bytes / 16 - kMaxRecordBytes;
  return newest >= seq && (newest - seq + 1) * kMaxRecordBytes > retained;
}

// The dict's keys, without the waiter's.
absl::Status KeysOf(const ZeroCopyDict& d, KeySet* keys) {
  keys->clear();
  return d.ForEach([keys](absl::string_view k, absl::string_view) {
    if (k != kWaiterKey) keys->insert(std::string(k));
  });
}

// A point of the change log and the dict's key set there.
struct FeedSnapshot {
  uint64_t seq = 0;
  KeySet keys;
};

// Takes a snapshot while no writer but the waiter runs: ChangeSeq() first,
// then the keys (changes after seq touch only the waiter's key, left out).
absl::Status TakeSnapshot(const ZeroCopyDict& d, FeedSnapshot* snap) {
  snap->seq = d.ChangeSeq();
  return KeysOf(d, &snap->keys);
}

// The first key in `a` and not in `b`, or "" if none.
std::string FirstMissing(const KeySet& a, const KeySet& b) {
  std::vector<std::string> missing;
  for (const std::string& k : a) {
    if (!b.contains(k)) missing.push_back(k);
  }
  if (missing.empty()) return "";
  return *std::min_element(missing.begin(), missing.end());
}

enum class FeedOutcome { kMatch, kMismatch, kWrapped };

// Replays ReadChanges(snap->seq) over snap->keys and compares the result
// with the dict's keys. On a match, *snap becomes the snapshot at the last
// change replayed; otherwise *why says what differed and *snap is left for
// the caller to retake.
FeedOutcome CheckFeed(const ZeroCopyDict& d, uint64_t ring_bytes,
                      FeedSnapshot* snap, uint64_t* replayed,
                      std::string* why) {
  const uint64_t since = snap->seq;
  const uint64_t before = d.ChangeSeq();
  uint64_t next = since + 1;
  std::string order;
  KeySet keys = snap->keys;
  absl::StatusOr<uint64_t> last = d.ReadChanges(since, [&](const Change& c) {
    if (c.seq != next && order.empty()) {
      order = absl::StrCat("change ", next, " was delivered as ", c.seq);
    }
    next = c.seq + 1;
    ++*replayed;
    if (c.key == kWaiterKey) return;
    if (c.kind == ChangeKind::kPut) {
      keys.insert(std::string(c.key));
    } else {
      keys.erase(c.key);
    }
  });
  const std::string where =
      absl::StrCat("change log of ", d.name(), " from change ", since, ": ");
  // A change lost because the waiter wrote more than the ring holds (before
  // or during this call, which then ends early with OK) is no mismatch.
  if (!last.ok()) {
    if (GetErrorKind(last.status()) == ErrorKind::kChangesLost &&
        MayBeOverwritten(since + 1, d.ChangeSeq(), ring_bytes)) {
      return FeedOutcome::kWrapped;
    }
    *why = absl::StrCat(where, "ReadChanges: ", last.status().ToString());
    return FeedOutcome::kMismatch;
  }
  if (!order.empty()) {
    *why = absl::StrCat(where, order);
    return FeedOutcome::kMismatch;
  }
  if (*last < before && *last == next - 1 &&
      MayBeOverwritten(*last + 1, d.ChangeSeq(), ring_bytes)) {
    return FeedOutcome::kWrapped;
  }
  if (*last != next - 1 || *last < before) {
    *why = absl::StrCat(where, "ReadChanges returned ", *last,
                        " after delivering up to ", next - 1,
                        "; ChangeSeq() was ", before);
    return FeedOutcome::kMismatch;
  }
  KeySet in_dict;
  absl::Status s = KeysOf(d, &in_dict);
  if (!s.ok()) {
    *why = absl::StrCat(where, "ForEach: ", s.ToString());
    return FeedOutcome::kMismatch;
  }
  if (keys != in_dict) {
    const std::string extra = FirstMissing(keys, in_dict);
    const std::string missing = FirstMissing(in_dict, keys);
    *why = absl::StrCat(
        where, "replaying changes up to ", *last, " gives ", keys.size(),
        " keys, the dict has ", in_dict.size(),
        extra.empty() ? "" : "; replayed but absent: ", extra,
        missing.empty() ? "" : "; present but not replayed: ", missing);
    return FeedOutcome::kMismatch;
  }
  snap->seq = *last;
  snap->keys = std::move(keys);
  return FeedOutcome::kMatch;
}

}  // namespace

std::string KillResult::Summary() const {
  return absl::StrFormat(
      "kills: %d kills, %d acknowledged ops, %d repairs, %d growth steps, %d "
      "integrity failures, %d lost acknowledged writes; readers: %d reads, %d "
      "torn, %d "
      "errors, worst stall %s; repair (attach + Check): worst %s, median "
      "%s; kill to reaped: p50 %s, p99 %s, max %s; change log: %d checks of "
      "%d replayed changes, %d mismatches, %d rounds over the ring%s%s",
      kills, acked_ops, repairs, grows, integrity_failures, lost_writes,
      reader_reads, reader_torn, reader_errors,
      absl::FormatDuration(worst_reader_stall),
      absl::FormatDuration(worst_repair), absl::FormatDuration(median_repair),
      absl::FormatDuration(reap_p50), absl::FormatDuration(reap_p99),
      absl::FormatDuration(reap_max), feed_checks, feed_changes,
      feed_mismatches, feed_wraps,
      waiter_writes == 0
          ? ""
          : absl::StrFormat(
                "; waiter: %d writes, %d errors, %d kills while it waited, "
                "wait past the kill p50 %s, p99 %s, max %s (kill stamp to "
                "kill() returning: p99 %s, max %s)",
                waiter_writes, waiter_errors, waiter_samples,
                absl::FormatDuration(wait_past_kill_p50),
                absl::FormatDuration(wait_past_kill_p99),
                absl::FormatDuration(wait_past_kill_max),
                absl::FormatDuration(kill_stamp_gap_p99),
                absl::FormatDuration(kill_stamp_gap_max)),
      first_failure.empty() ? ""
                            : absl::StrCat("; first failure: ", first_failure));
}

absl::StatusOr<KillResult> RunKills(const KillOptions& o) {
  std::string name = UniqueName("kills");
  Options options = DictOptions(o.keys);
  options.heap_size = o.keys * (200 << 10) + (64 << 20);
  options.change_log_bytes = o.change_log_bytes;
  if (o.grow) {
    options.max_items = 16;
    options.heap_size = 64 << 10;
  }
  if (o.change_log_bytes == 0) {
    return absl::InvalidArgumentError(
        "kills: the change log check needs a change log (change_log_bytes "
        "must not be 0)");
  }
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, options);
  if (!d.ok()) return d.status();
  // The ring's size as created (rounded up).
  const uint64_t ring_bytes = d->GetStats().change_log_bytes;
  SharedArray<KillShared> shared;
  if (!shared.valid()) return absl::ResourceExhaustedError("mmap");
  KillShared* sh = shared.get();
  std::vector<pid_t> readers;
  for (int r = 0; r < o.readers; ++r) {
    readers.push_back(Fork([&, r] { return KillReader(name, o, r, sh); }));
  }
  SharedArray<uint64_t> waits(std::max<uint64_t>(o.kills, 1));
  if (!waits.valid()) return absl::ResourceExhaustedError("mmap");
  pid_t waiter = -1;
  if (o.waiter) {
    waiter = Fork([&] { return KillWaiter(name, sh, waits.get(), o.kills); });
  }
  std::mt19937_64 rng(o.seed);
  std::vector<State> model(o.keys);
  State counter;
  KillResult res;
  std::vector<absl::Duration> repairs;
  std::vector<uint64_t> stamp_gaps, reap_times;
  auto fail = [&](std::string what) {
    if (getenv("ZCIPC_TORTURE_VERBOSE") != nullptr) {
      fprintf(stderr, "round failure: %s\n", what.c_str());
    }
    if (res.first_failure.empty()) res.first_failure = std::move(what);
  };
  FeedSnapshot snap;
  if (absl::Status s = TakeSnapshot(*d, &snap); !s.ok()) return s;
  for (uint64_t round = 0; round < o.kills; ++round) {
    int p[2];
    if (pipe(p) != 0) return absl::InternalError("pipe");
    pid_t w = Fork([&] {
      close(p[0]);
      return KillWriter(name, o, round, p[1]);
    });
    close(p[1]);
    absl::SleepFor(o.max_life * (static_cast<double>(rng() % 1000) / 1000.0));
    const uint64_t stamp = NowNanos();
    sh->kill_ns.store(stamp, std::memory_order_release);
    kill(w, SIGKILL);
    // The waiter times from the stamp: if this process was descheduled
    // between the stamp and kill(), that time counts as waiting.
    stamp_gaps.push_back(NowNanos() - stamp);
    int code = WaitExit(w);
    // Until the kernel has torn the writer down, its registration's byte
    // lock is held and no waiter can see that it died.
    reap_times.push_back(NowNanos() - stamp);
    if (code != 128 + SIGKILL) {
      fail(absl::StrCat("writer exited with ", code, " before its kill"));
    }
    ++res.kills;
    // Replay the acknowledgements into the model.
    Msg m;
    bool inflight = false;
    Msg begun{};
    while (read(p[0], &m, sizeof(m)) == static_cast<ssize_t>(sizeof(m))) {
      if (m.type == kBegin) {
        inflight = true;
        begun = m;
        continue;
      }
      inflight = false;
      ++res.acked_ops;
      State& st = m.key == kCounterKey ? counter : model[m.key];
      st.present = m.op != kErase;
      st.value = m.value;
    }
    close(p[0]);

    // A fresh handle (as a new process would) repairs and checks.
    absl::Time t0 = absl::Now();
    absl::StatusOr<ZeroCopyDict> fresh = ZeroCopyDict::Attach(name);
    absl::Status check = fresh.ok() ? fresh->Check() : fresh.status();
    repairs.push_back(absl::Now() - t0);
    if (!check.ok()) {
      ++res.integrity_failures;
      fail(check.ToString());
      continue;
    }
    // Every acknowledged write is there; the one in flight may be too.
    auto verify = [&](uint64_t k, State& expected) {
      std::string why;
      State got = Observe(*fresh, k, &why);
      if (!why.empty()) {
        ++res.lost_writes;
        fail(why);
        return;
      }
      if (got == expected) return;
      if (inflight && begun.key == k) {
        State after;
        after.present = begun.op != kErase;
        after.value = begun.op == kAdd ? expected.value + 1 : begun.value;
        if (got == after) {
          expected = got;  // the in-flight op completed
          return;
        }
      }
      ++res.lost_writes;
      fail(absl::StrCat(
          KeyFor(k), ": expected ",
          expected.present ? absl::StrCat(expected.value) : "absent",
          ", found ", got.present ? absl::StrCat(got.value) : "absent"));
      expected = got;  // resynchronise to keep counting only new losses
    };
    for (uint64_t k = 0; k < o.keys; ++k) verify(k, model[k]);
    verify(kCounterKey, counter);

    // The change log replayed from the last snapshot gives the dict's keys.
    std::string why;
    const FeedOutcome feed =
        CheckFeed(*fresh, ring_bytes, &snap, &res.feed_changes, &why);
    if (feed == FeedOutcome::kWrapped) {
      ++res.feed_wraps;
    } else {
      ++res.feed_checks;
    }
    if (feed == FeedOutcome::kMismatch) {
      ++res.feed_mismatches;
      fail(why);
    }
    if (feed != FeedOutcome::kMatch) {
      // Start again from here (to count only new mismatches).
      if (absl::Status s = TakeSnapshot(*fresh, &snap); !s.ok()) {
        fail(absl::StrCat("snapshot of the change log: ", s.ToString()));
      }
    }
  }
  sh->stop = true;
  for (pid_t r : readers) {
    if (WaitExit(r) != 0) fail("a reader failed");
  }
  if (waiter > 0 && WaitExit(waiter) != 0) fail("the waiter failed");
  res.waiter_samples = sh->waiter_samples;
  res.waiter_writes = sh->waiter_writes;
  res.waiter_errors = sh->waiter_errors;
  std::vector<uint64_t> waited(waits.get(), waits.get() + res.waiter_samples);
  std::sort(waited.begin(), waited.end());
  res.wait_past_kill_p50 = Quantile(waited, 0.5);
  res.wait_past_kill_p99 = Quantile(waited, 0.99);
  res.wait_past_kill_max = Quantile(waited, 1.0);
  std::sort(stamp_gaps.begin(), stamp_gaps.end());
  res.kill_stamp_gap_p99 = Quantile(stamp_gaps, 0.99);
  res.kill_stamp_gap_max = Quantile(stamp_gaps, 1.0);
  std::sort(reap_times.begin(), reap_times.end());
  res.reap_p50 = Quantile(reap_times, 0.5);
  res.reap_p99 = Quantile(reap_times, 0.99);
  res.reap_max = Quantile(reap_times, 1.0);
  res.reader_reads = sh->reads;
  res.reader_torn = sh->torn;
  res.reader_errors = sh->errors;
  res.worst_reader_stall = absl::Nanoseconds(sh->worst_ns.load());
  res.repairs = d->GetStats().repairs_total;
  res.grows = d->GetStats().grows_total;
  std::sort(repairs.begin(), repairs.end());
  if (!repairs.empty()) {
    res.worst_repair = repairs.back();
    res.median_repair = repairs[repairs.size() / 2];
  }
  (void)ZeroCopyDict::Unlink(name);
  return res;
}

// --- Lock contention ---------------------------------------------------------

namespace {

struct LockShared {
  std::atomic<bool> stop{false};
  // When the latest holder left its critical section (written under the
  // lock, so the next holder reads its predecessor's stamp).
  std::atomic<uint64_t> release_ns{0};
  std::atomic<uint64_t> puts[kMaxLockWriters];
  std::atomic<uint64_t> handoffs[kMaxLockWriters];
};

}  // namespace

std::string LockResult::Summary() const {
  return absl::StrFormat(
      "lock: %d writers' puts, %.0f puts/s; latency p50 %s, p99 %s, p99.9 %s, "
      "max %s; share within 100us after a whole 1-5 ms: %.4f; hand-offs %d: "
      "p50 %s, p99 %s, p99.9 %s, max %s; per writer %s (share of fair: min "
      "%.3f, max %.3f)",
      puts, puts_per_second, absl::FormatDuration(p50),
      absl::FormatDuration(p99), absl::FormatDuration(p999),
      absl::FormatDuration(max), share_near_ms_steps, handoffs,
      absl::FormatDuration(handoff_p50), absl::FormatDuration(handoff_p99),
      absl::FormatDuration(handoff_p999), absl::FormatDuration(handoff_max),
      absl::StrJoin(puts_by_writer, "/"), min_share, max_share);
}

absl::StatusOr<LockResult> RunLock(const LockOptions& o) {
  if (o.writers < 1 || o.writers > kMaxLockWriters) {
    return absl::InvalidArgumentError(
        absl::StrCat("lock: writers must be 1..", kMaxLockWriters));
  }
  std::string name = UniqueName("lock");
  absl::StatusOr<ZeroCopyDict> d =
      ZeroCopyDict::Create(name, DictOptions(1000));
  if (!d.ok()) return d.status();
  const uint64_t cap = o.puts_per_writer;
  SharedArray<uint64_t> lat(o.writers * cap);
  SharedArray<uint64_t> hand(o.writers * cap);
  SharedArray<LockShared> shared;
  if (!lat.valid() || !hand.valid() || !shared.valid()) {
    return absl::ResourceExhaustedError("mmap");
  }
  LockShared* sh = shared.get();
  std::vector<pid_t> pids;
  absl::Time start = absl::Now();
  for (int w = 0; w < o.writers; ++w) {
    pids.push_back(Fork([&, w] {
      absl::StatusOr<ZeroCopyDict> c = ZeroCopyDict::Attach(name);
      if (!c.ok()) return 50;
      std::mt19937_64 rng(w);
      std::string v(64, 'v');
      uint64_t* my_lat = lat.get() + w * cap;
      uint64_t* my_hand = hand.get() + w * cap;
      uint64_t i = 0, h = 0;
      for (; i < cap && !sh->stop.load(std::memory_order_relaxed); ++i) {
        const std::string key = Key(rng() % 1000);
        const uint64_t t0 = NowNanos();
        uint64_t acquired = 0, previous_release = 0;
        absl::Status s = c->Write([&](Batch& b) {
          acquired = NowNanos();
          previous_release = sh->release_ns.load(std::memory_order_relaxed);
          absl::Status ps = b.Put(key, v);
          sh->release_ns.store(NowNanos(), std::memory_order_relaxed);
          return ps;
        });
        if (!s.ok()) return 51;
        my_lat[i] = NowNanos() - t0;
        // Waiting when the previous holder released: a hand-off.
        if (previous_release > t0) my_hand[h++] = acquired - previous_release;
      }
      sh->puts[w] = i;
      sh->handoffs[w] = h;
      return 0;
    }));
  }
  if (o.duration > absl::ZeroDuration()) {
    absl::SleepFor(o.duration);
    sh->stop = true;
  }
  int bad = 0;
  for (pid_t p : pids) bad |= WaitExit(p);
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  (void)ZeroCopyDict::Unlink(name);
  if (bad != 0) return absl::InternalError("a writer failed");
  LockResult r;
  std::vector<uint64_t> v, hv;
  for (int w = 0; w < o.writers; ++w) {
    const uint64_t n = sh->puts[w], h = sh->handoffs[w];
    r.puts_by_writer.push_back(n);
    v.insert(v.end(), lat.get() + w * cap, lat.get() + w * cap + n);
    hv.insert(hv.end(), hand.get() + w * cap, hand.get() + w * cap + h);
  }
  if (v.empty()) return absl::InternalError("no puts");
  std::sort(v.begin(), v.end());
  std::sort(hv.begin(), hv.end());
  r.puts = v.size();
  r.puts_per_second = r.puts / secs;
  r.p50 = Quantile(v, 0.5);
  r.p99 = Quantile(v, 0.99);
  r.p999 = Quantile(v, 0.999);
  r.max = Quantile(v, 1.0);
  r.handoffs = hv.size();
  r.handoff_p50 = Quantile(hv, 0.5);
  r.handoff_p99 = Quantile(hv, 0.99);
  r.handoff_p999 = Quantile(hv, 0.999);
  r.handoff_max = Quantile(hv, 1.0);
  const double fair = static_cast<double>(r.puts) / o.writers;
  auto [lo, hi] =
      std::minmax_element(r.puts_by_writer.begin(), r.puts_by_writer.end());
  r.min_share = *lo / fair;
  r.max_share = *hi / fair;
  uint64_t near = 0;
  for (uint64_t ns : v) {
    uint64_t ms = ns / 1000000, rem = ns % 1000000;
    if (ms >= 1 && ms <= 5 && rem < 100000) ++near;
  }
  r.share_near_ms_steps = static_cast<double>(near) / r.puts;
  return r;
}

// --- Counters ----------------------------------------------------------------

std::string CounterResult::Summary() const {
  return absl::StrFormat("counters: %d of %d increments counted", total,
                         expected);
}

absl::StatusOr<CounterResult> RunCounters(const CounterOptions& o) {
  std::string name = UniqueName("counters");
  absl::StatusOr<ZeroCopyDict> d = ZeroCopyDict::Create(name, DictOptions(16));
  if (!d.ok()) return d.status();
  std::vector<pid_t> pids;
  for (int p = 0; p < o.processes; ++p) {
    pids.push_back(Fork([&] {
      absl::StatusOr<ZeroCopyDict> c = ZeroCopyDict::Attach(name);
      if (!c.ok()) return 60;
      for (uint64_t i = 0; i < o.adds; ++i) {
        if (!c->Add("counter", 1).ok()) return 61;
      }
      return 0;
    }));
  }
  int bad = 0;
  for (pid_t p : pids) bad |= WaitExit(p);
  CounterResult r;
  r.expected = static_cast<int64_t>(o.processes * o.adds);
  absl::StatusOr<int64_t> total = d->Add("counter", 0);
  (void)ZeroCopyDict::Unlink(name);
  if (bad != 0) return absl::InternalError("a counting process failed");
  if (!total.ok()) return total.status();
  r.total = *total;
  return r;
}

}  // namespace torture
}  // namespace zcipc
