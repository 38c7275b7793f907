#include "bench/compare/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"

namespace zcipc {
namespace bench {
namespace {

struct PhaseInfo {
  const char* id;
  const char* label;
};
constexpr PhaseInfo kPhases[] = {
    {"insert", "insert"}, {"read_hit", "read hit"}, {"read_miss", "read miss"},
    {"update", "update"}, {"mixed", "mixed 90/10"}, {"erase", "erase"},
};

int PeerRank(const std::string& peer) {
  static const char* order[] = {"floor", "zcipc",     "flock",
                                "LMDB",  "Boost.IPC", "Redis"};
  for (int i = 0; i < 6; ++i) {
    if (peer == order[i]) return i;
  }
  return 99;
}
int ModeRank(const std::string& mode) {
  return mode == "single" ? 0 : mode == "read" ? 1 : 2;
}

struct Row {
  std::string peer, mode, config;
  bool operator<(const Row& o) const {
    return std::make_tuple(PeerRank(peer), ModeRank(mode), config) <
           std::make_tuple(PeerRank(o.peer), ModeRank(o.mode), o.config);
  }
};

std::vector<Row> Rows(const std::vector<Result>& results) {
  std::set<Row> rows;
  for (const Result& r : results) rows.insert({r.peer, r.mode, r.config});
  return std::vector<Row>(rows.begin(), rows.end());
}

const Result* Find(const std::vector<Result>& results, const std::string& peer,
                   const std::string& mode, uint64_t keys, uint64_t size,
                   const std::string& phase, int readers = 0) {
  for (const Result& r : results) {
    if (r.peer == peer && r.mode == mode && r.keys == keys &&
        r.value_size == size && r.phase == phase && r.readers == readers) {
      return &r;
    }
  }
  return nullptr;
}
const Result* FindRow(const std::vector<Result>& results, const Row& row,
                      uint64_t keys, uint64_t size, const std::string& phase,
                      int readers = 0) {
  return Find(results, row.peer, row.mode, keys, size, phase, readers);
}

bool Usable(const Result* r) {
  return r != nullptr && r->available && r->ops_per_sec > 0;
}

std::string KeysLabel(uint64_t keys) {
  int e = 0;
  uint64_t k = keys;
  while (k >= 10 && k % 10 == 0) {
    k /= 10;
    ++e;
  }
  if (k == 1 && e > 0) return absl::StrCat("10^", e);
  return absl::StrCat(keys);
}

std::string Ns(double ns) {
  if (ns >= 1e6) return absl::StrFormat("%.2f ms", ns / 1e6);
  if (ns >= 1e4) return absl::StrFormat("%.1f us", ns / 1e3);
  if (ns >= 1e3) return absl::StrFormat("%.2f us", ns / 1e3);
  return absl::StrFormat("%.0f ns", ns);
}

std::string Cell(const Result* r, bool with_ns, bool with_cpu = false) {
  if (r == nullptr) return "";
  if (!r->available) return "N/A";
  std::string s = FormatRate(r->ops_per_sec);
  if (with_ns && r->ops_per_sec > 0) {
    absl::StrAppend(&s, " (", Ns(1e9 / r->ops_per_sec));
    if (with_cpu && r->cpu_is_all_work && r->cpu_ns_per_op > 0) {
      absl::StrAppend(&s, "; CPU ", Ns(r->cpu_ns_per_op));
    }
    absl::StrAppend(&s, ")");
  }
  if (r->time_bounded) absl::StrAppend(&s, " †");
  if (r->errors > 0) absl::StrAppend(&s, " **err ", r->errors, "**");
  if (r->torn > 0) absl::StrAppend(&s, " **torn ", r->torn, "**");
  return s;
}

std::string Json(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}
std::string Num(double v) {
  if (!std::isfinite(v)) return "null";
  return absl::StrFormat("%.6g", v);
}

// Which value size / key counts the targets use.
constexpr uint64_t kTargetSize = 100;

std::string Times(double x) { return absl::StrFormat("%.2fx", x); }

}  // namespace

std::string FormatRate(double v) {
  if (v >= 1e9) return absl::StrFormat("%.2fG", v / 1e9);
  if (v >= 1e6) return absl::StrFormat("%.2fM", v / 1e6);
  if (v >= 1e3) return absl::StrFormat("%.1fk", v / 1e3);
  return absl::StrFormat("%.0f", v);
}

std::vector<Target> EvaluateTargets(const RunInfo& info,
                                    const std::vector<Result>& results) {
  std::vector<Target> t;
  const uint64_t small = 10000, large = 1000000;
  auto not_measured = [&](Target x, const std::string& what) {
    x.status = "not measured";
    x.measured = what;
    t.push_back(x);
  };

  // 1. Get hit latency within 1.2x of the floor, at 10^4 and 10^6 keys.
  for (uint64_t keys : {small, large}) {
    for (const char* mode : {"single", "read"}) {
      Target x;
      const bool get = std::string(mode) == "single";
      x.name =
          absl::StrCat(get ? "Get" : "Read (zero-copy, info)", " hit, 100 B, ",
                       KeysLabel(keys), " keys: latency vs the floor");
      x.goal = "<= 1.2x the floor's ns/op";
      // The paired measurement (floor and zcipc alternated) when it ran.
      const char* phase = Usable(Find(results, "zcipc", mode, keys, kTargetSize,
                                      "paired_read_hit")) &&
                                  Usable(Find(results, "floor", "single", keys,
                                              kTargetSize, "paired_read_hit"))
                              ? "paired_read_hit"
                              : "read_hit";
      const Result* z = Find(results, "zcipc", mode, keys, kTargetSize, phase);
      const Result* f =
          Find(results, "floor", "single", keys, kTargetSize, phase);
      if (!Usable(z) || !Usable(f)) {
        not_measured(x, "not run in this invocation");
        continue;
      }
      double ratio = z->cpu_ns_per_op / f->cpu_ns_per_op;
      x.measured = absl::StrFormat(
          "CPU: zcipc %s vs floor %s = **%s**; wall: %s vs %s = %s",
          Ns(z->cpu_ns_per_op), Ns(f->cpu_ns_per_op), Times(ratio),
          Ns(z->ns_per_op), Ns(f->ns_per_op),
          Times(z->ns_per_op / f->ns_per_op));
      bool pass = ratio <= 1.2;
      x.status = pass ? "PASS" : "MISS";
      if (!get) x.status += " (info)";
      x.margin = pass
                     ? absl::StrFormat("%.1f%% under the limit",
                                       (1 - ratio / 1.2) * 100)
                     : absl::StrFormat(
                           "%.2fx instead of 1.2x: %s per get (%.0f%%) over "
                           "the allowed %s",
                           ratio, Ns(z->cpu_ns_per_op - 1.2 * f->cpu_ns_per_op),
                           (ratio / 1.2 - 1) * 100, Ns(1.2 * f->cpu_ns_per_op));
      if (!pass) {
        x.why = get ? "The floor is one flat_hash_map probe and a std::string "
                      "copy in the "
                      "process's own heap (about 240 user-space instructions "
                      "per lookup under "
                      "callgrind, bench/callgrind.sh). A zcipc Get (about 340) "
                      "hashes the key "
                      "(XXH3), probes the slot table in the shared segment and "
                      "runs the reader "
                      "protocol: load the slot's sequence number, compare the "
                      "stored hash, "
                      "bounds-check the block offset and the lengths read from "
                      "shared memory "
                      "(so that a torn read retries instead of faulting), read "
                      "key and value "
                      "with word-sized relaxed atomic loads (no vector copy: "
                      "the value is "
                      "copied a word at a time), fence, re-load the sequence "
                      "and the table's, "
                      "copy the value out; and the public class is a pimpl, "
                      "one more call. At "
                      "10^4 keys these fixed costs are the whole difference; "
                      "at 10^6 keys both "
                      "sides are dominated by cache and TLB misses (zcipc: the "
                      "slot, then the "
                      "heap block, whose further lines it prefetches as soon "
                      "as the slot is "
                      "read)."
                    : "Read skips the copy but keeps the rest of the reader "
                      "protocol (see Get).";
      }
      t.push_back(x);
    }
  }

  // 2. Get hit throughput at 10^4 keys >= 2x LMDB and Boost.IPC.
  struct Peer {
    const char* peer;
    const char* mode;
    const char* label;
    bool info;
  };
  for (const Peer& p :
       {Peer{"LMDB", "single", "LMDB (one read txn per get)", false},
        Peer{"LMDB", "batch", "LMDB (one read txn per batch, info)", true},
        Peer{"Boost.IPC", "single", "Boost.IPC (sharable lock per get)", false},
        Peer{"Boost.IPC", "batch", "Boost.IPC (sharable lock per batch, info)",
             true}}) {
    Target x;
    x.name = absl::StrCat("Get hit throughput, 100 B, 10^4 keys: zcipc vs ",
                          p.label);
    x.goal = ">= 2x";
    const Result* z =
        Find(results, "zcipc", "single", small, kTargetSize, "read_hit");
    const Result* o =
        Find(results, p.peer, p.mode, small, kTargetSize, "read_hit");
    if (!Usable(z) || !Usable(o)) {
      not_measured(x, "not run in this invocation");
      continue;
    }
    double ratio = o->cpu_ns_per_op / z->cpu_ns_per_op;
    x.measured = absl::StrFormat(
        "CPU: %s/s vs %s/s = **%s**; wall: %s/s vs %s/s = %s",
        FormatRate(1e9 / z->cpu_ns_per_op), FormatRate(1e9 / o->cpu_ns_per_op),
        Times(ratio), FormatRate(z->ops_per_sec), FormatRate(o->ops_per_sec),
        Times(z->ops_per_sec / o->ops_per_sec));
    bool pass = ratio >= 2;
    x.status = pass ? "PASS" : "MISS";
    if (p.info) x.status += " (info)";
    x.margin =
        pass ? absl::StrFormat("%.1f%% above the goal", (ratio / 2 - 1) * 100)
             : absl::StrFormat("%.1f%% short of 2x", (1 - ratio / 2) * 100);
    if (!pass) {
      x.why =
          std::string(p.peer) == "LMDB"
              ? "An LMDB lookup in a reused read transaction is a renew (a "
                "reader-slot "
                "store), a B-tree descent of a few cached pages at 10^4 keys "
                "and a "
                "reset; batched, the renew and reset are paid once per batch."
              : "Without a writer, Boost's sharable lock is two atomic "
                "read-modify-writes on one cache line and the tree walk stays "
                "in "
                "cache at 10^4 keys; batched, the lock is paid once per batch.";
    }
    t.push_back(x);
  }

  // 3. A single locked Put within 150 ns of the bare flock pair.
  for (uint64_t keys : {small, large}) {
    Target x;
    x.name = absl::StrCat("Put (replace in place), 100 B, ", KeysLabel(keys),
                          " keys: vs the bare flock pair",
                          keys == large ? " (info)" : "");
    x.goal = "<= flock pair + 150 ns";
    const char* phase = Usable(Find(results, "zcipc", "single", keys,
                                    kTargetSize, "paired_update")) &&
                                Usable(Find(results, "flock", "single", keys,
                                            kTargetSize, "paired_update"))
                            ? "paired_update"
                            : "update";
    const Result* z =
        Find(results, "zcipc", "single", keys, kTargetSize, phase);
    const Result* f =
        Find(results, "flock", "single", keys, kTargetSize, phase);
    if (!Usable(z) || !Usable(f)) {
      not_measured(x, "not run in this invocation");
      continue;
    }
    double diff = z->cpu_ns_per_op - f->cpu_ns_per_op;
    x.measured = absl::StrFormat(
        "CPU: Put %s vs flock pair %s: **%+.0f ns**; wall: %s vs %s: %+.0f ns",
        Ns(z->cpu_ns_per_op), Ns(f->cpu_ns_per_op), diff, Ns(z->ns_per_op),
        Ns(f->ns_per_op), z->ns_per_op - f->ns_per_op);
    bool pass = diff <= 150;
    x.status = pass ? "PASS" : "MISS";
    if (keys == large) x.status += " (info)";
    x.margin =
        pass ? absl::StrFormat("%.0f ns under the budget", 150 - diff)
             : absl::StrFormat("%.0f ns over the 150 ns budget", diff - 150);
    if (!pass) {
      x.why =
          "Besides the flock pair, a Put runs about 650 user-space "
          "instructions "
          "(bench/callgrind.sh): the lock's fast path (the in-process mutex's "
          "compare-and-swap, the release's lock_word increment; no futex call "
          "without "
          "waiters), hash and probe, the intent record, the redo copy of the "
          "value "
          "into the journal, the seqlock odd and even around the copy in "
          "place, the "
          "counters; an empty Write (lock and unlock only) measures about 100 "
          "ns over "
          "the pair. The rest is memory: on this VM a cache miss right after a "
          "system "
          "call costs several hundred ns (bench/hotpath_probe "
          "--op=flock_touch: two "
          "independent random loads between the flock calls add about "
          "130-220 ns from a 1-2 MiB buffer and 360-440 ns from a 64 MiB one), "
          "and a Put's slot and entry block "
          "are "
          "such misses at 10^4 keys and more (the dict is over 2 MiB), one "
          "after the "
          "other (the slot gives the block). Inside a Write batch the same "
          "work "
          "costs far less (see the batched target). flock itself moves by "
          "hundreds "
          "of ns between runs on this VM.";
    }
    t.push_back(x);
  }

  // 4. Batched updates >= 10M/s.
  for (uint64_t keys : {small, large}) {
    Target x;
    x.name = absl::StrCat("Batched updates (Write of ", info.settings.batch,
                          " Puts), 100 B, ", KeysLabel(keys), " keys",
                          keys == large ? " (info)" : "");
    x.goal = ">= 10M updates/s";
    const Result* z =
        Find(results, "zcipc", "batch", keys, kTargetSize, "update");
    if (!Usable(z)) {
      not_measured(x, "not run in this invocation");
      continue;
    }
    const double cpu_rate = 1e9 / z->cpu_ns_per_op;
    x.measured = absl::StrFormat(
        "CPU: **%s/s** (%s per update); wall: %s/s (%s)", FormatRate(cpu_rate),
        Ns(z->cpu_ns_per_op), FormatRate(z->ops_per_sec), Ns(z->ns_per_op));
    bool pass = cpu_rate >= 1e7;
    x.status = pass ? "PASS" : "MISS";
    if (keys == large) x.status += " (info)";
    x.margin =
        pass
            ? absl::StrFormat("%.0f%% above", (cpu_rate / 1e7 - 1) * 100)
            : absl::StrFormat("%.0f%% short (%s per update instead of 100 ns)",
                              (1 - cpu_rate / 1e7) * 100, Ns(z->cpu_ns_per_op));
    if (!pass) {
      x.why =
          "Inside Write the lock is taken once, but each update still runs the "
          "whole crash-safe update protocol of a single Put (hash and probe, "
          "intent "
          "record, the redo copy into the journal, seqlock odd and even, the "
          "copy in "
          "place, counters): about 460 user-space instructions per update "
          "under "
          "callgrind (bench/callgrind.sh), plus the slot and entry block of a "
          "random "
          "key, which at 10^4 keys (over 2 MiB of slots and heap) are not in "
          "the "
          "core's L2. At 10^6 keys they are DRAM and TLB misses.";
    }
    t.push_back(x);
  }

  // 5. Readers under a busy writer.
  for (uint64_t keys : info.keys) {
    for (int readers : info.settings.readers) {
      const Result* z = Find(results, "zcipc", "single", keys, kTargetSize,
                             "readers", readers);
      const Result* l1 = Find(results, "LMDB", "single", keys, kTargetSize,
                              "readers", readers);
      const Result* l2 =
          Find(results, "LMDB", "batch", keys, kTargetSize, "readers", readers);
      const Result* lbest =
          Usable(l1) && (!Usable(l2) || l1->ops_per_sec >= l2->ops_per_sec) ? l1
          : Usable(l2)                                                      ? l2
                       : nullptr;
      Target x;
      x.name =
          absl::StrCat("Readers under a busy writer, 100 B, ", KeysLabel(keys),
                       " keys, R=", readers,
                       ": zcipc Get aggregate vs LMDB's best configuration");
      x.goal = ">= 2x";
      if (!Usable(z) || lbest == nullptr) {
        not_measured(x, "not run in this invocation");
      } else {
        double ratio = z->ops_per_sec / lbest->ops_per_sec;
        x.measured = absl::StrFormat(
            "%s/s vs %s/s (%s) = **%s**; reader CPU per read: %s vs %s",
            FormatRate(z->ops_per_sec), FormatRate(lbest->ops_per_sec),
            lbest->config, Times(ratio), Ns(z->cpu_ns_per_op),
            Ns(lbest->cpu_ns_per_op));
        bool pass = ratio >= 2;
        x.status = pass ? "PASS" : "MISS";
        x.margin =
            pass ? absl::StrFormat("%.1f%% above the goal",
                                   (ratio / 2 - 1) * 100)
                 : absl::StrFormat("%.1f%% short of 2x", (1 - ratio / 2) * 100);
        if (!pass) {
          x.why = absl::StrCat(
              "The writer never sleeps and the ", readers,
              readers == 1 ? " reader" : " readers",
              " plus the writer "
              "share ",
              info.nproc,
              " CPUs, so every configuration is CPU-bound and the "
              "ratio reflects per-read CPU cost and scheduling as much as the "
              "read "
              "path. ",
              z->writer_ops_per_sec > lbest->writer_ops_per_sec
                  ? absl::StrFormat(
                        "zcipc's writer also made %.1fx the updates of LMDB's "
                        "in the same time (%s/s vs %s/s). ",
                        z->writer_ops_per_sec / lbest->writer_ops_per_sec,
                        FormatRate(z->writer_ops_per_sec),
                        FormatRate(lbest->writer_ops_per_sec))
                  : "",
              "Each update invalidates cache lines the readers then miss on, "
              "and a "
              "reader that meets a slot being written retries. LMDB's readers "
              "read a "
              "snapshot and never retry, and its best configuration may "
              "amortise a "
              "read transaction over a batch.",
              keys > 10000
                  ? absl::StrFormat(
                        " Above all, at %s keys the data no longer fits in the "
                        "caches: "
                        "each read on either side is dominated by cache and "
                        "TLB misses "
                        "(zcipc: the slot, then the heap block; LMDB: the leaf "
                        "page and "
                        "the branch pages that fell out of cache; both: the "
                        "harness's "
                        "own key string), so the fixed costs zcipc saves (no "
                        "transaction, no reader-table update) are a smaller "
                        "share of a "
                        "read: the readers' CPU per read was %s for zcipc vs "
                        "%s for "
                        "LMDB (%.2fx).",
                        KeysLabel(keys), Ns(z->cpu_ns_per_op),
                        Ns(lbest->cpu_ns_per_op),
                        lbest->cpu_ns_per_op / z->cpu_ns_per_op)
                  : "");
        }
        t.push_back(x);
      }
      Target y;
      y.name =
          absl::StrCat("Reader p99.9 under a busy writer, 100 B, ",
                       KeysLabel(keys), " keys, R=", readers, " (zcipc Get)");
      y.goal = "< 5 us";
      if (!Usable(z) || !z->has_latency || z->latency.samples == 0) {
        not_measured(y, "not run in this invocation");
      } else {
        y.measured = absl::StrFormat(
            "p50 %s, p99 %s, p99.9 %s, max %s (%llu samples)",
            Ns(z->latency.p50), Ns(z->latency.p99), Ns(z->latency.p999),
            Ns(z->latency.max),
            static_cast<unsigned long long>(z->latency.samples));
        bool pass = z->latency.p999 < 5000;
        y.status = pass ? "PASS" : "MISS";
        y.margin = pass
                       ? absl::StrFormat("%s under", Ns(5000 - z->latency.p999))
                       : absl::StrFormat("%s over (%.1fx the limit)",
                                         Ns(z->latency.p999 - 5000),
                                         z->latency.p999 / 5000);
        if (!pass) {
          y.why = absl::StrCat("With R=", readers,
                               " readers plus the writer there are ",
                               readers + 1, " busy processes on ", info.nproc,
                               " CPUs: a reader preempted in the middle of a "
                               "timed read records the "
                               "scheduler's time slice (milliseconds), and a "
                               "reader that meets a slot "
                               "being written retries until the writer's "
                               "seqlock is even again; a "
                               "preempted writer holding a slot odd stalls "
                               "readers of that slot.");
        }
        t.push_back(y);
      }
    }
  }
  {
    Target x;
    x.name =
        "Torn reads under a busy writer (every readers run, every key count "
        "and value size)";
    x.goal = "0";
    uint64_t zt = 0, others = 0, runs = 0, reads = 0;
    std::string other_detail;
    std::map<std::string, uint64_t> per_peer;
    for (const Result& r : results) {
      if (r.phase != "readers" || !r.available) continue;
      ++runs;
      if (r.peer == "zcipc") {
        zt += r.torn;
        reads += r.ops;
      } else {
        others += r.torn;
        per_peer[r.peer] += r.torn;
      }
    }
    for (const auto& [peer, n] : per_peer)
      absl::StrAppend(&other_detail, peer, " ", n, ", ");
    if (runs == 0) {
      not_measured(x, "no readers phase ran");
    } else {
      x.measured = absl::StrFormat(
          "zcipc: %llu torn in %llu checked reads; peers: %s",
          static_cast<unsigned long long>(zt),
          static_cast<unsigned long long>(reads),
          other_detail.empty()
              ? "none run"
              : other_detail.substr(0, other_detail.size() - 2));
      x.status = zt == 0 ? "PASS" : "MISS";
      x.margin = zt == 0 ? "" : absl::StrCat(zt, " torn reads");
      t.push_back(x);
    }
  }
  return t;
}

bool WriteJson(const std::string& path, const RunInfo& info,
               const std::vector<Result>& results,
               const std::vector<Target>& targets) {
  std::ofstream f(path);
  if (!f) return false;
  const Settings& s = info.settings;
  f << "{\n";
  f << "  \"date\": " << Json(info.date) << ",\n";
  f << "  \"command\": " << Json(info.command) << ",\n";
  f << "  \"machine\": {\"nproc\": " << info.nproc
    << ", \"cpu_model\": " << Json(info.cpu_model)
    << ", \"kernel\": " << Json(info.kernel)
    << ", \"memory\": " << Json(info.memory) << "},\n";
  f << "  \"versions\": " << Json(info.versions) << ",\n";
  f << "  \"driver_seconds\": " << Num(info.wall_seconds) << ",\n";
  f << "  \"clock_overhead_ns_p50\": " << Num(info.clock_overhead_ns) << ",\n";
  f << "  \"load_average_start\": " << Json(info.load_start) << ",\n";
  f << "  \"load_average_end\": " << Json(info.load_end) << ",\n";
  f << "  \"settings\": {\"phase_seconds\": " << Num(s.phase_seconds)
    << ", \"insert_seconds\": " << Num(s.insert_seconds)
    << ", \"mp_seconds\": " << Num(s.mp_seconds) << ", \"reps\": " << s.reps
    << ", \"batch\": " << s.batch << ", \"readers\": ["
    << absl::StrJoin(s.readers, ", ") << "], \"keys\": ["
    << absl::StrJoin(info.keys, ", ") << "], \"value_sizes\": ["
    << absl::StrJoin(info.sizes, ", ") << "], \"peers\": [";
  for (size_t i = 0; i < info.peers.size(); ++i)
    f << (i ? ", " : "") << Json(info.peers[i]);
  f << "]},\n  \"skipped\": [";
  for (size_t i = 0; i < info.skipped.size(); ++i)
    f << (i ? ", " : "") << Json(info.skipped[i]);
  f << "],\n  \"targets\": [\n";
  for (size_t i = 0; i < targets.size(); ++i) {
    const Target& x = targets[i];
    f << "    {\"name\": " << Json(x.name) << ", \"goal\": " << Json(x.goal)
      << ", \"measured\": " << Json(x.measured)
      << ", \"status\": " << Json(x.status)
      << ", \"margin\": " << Json(x.margin) << "}"
      << (i + 1 < targets.size() ? "," : "") << "\n";
  }
  f << "  ],\n  \"results\": [\n";
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    f << "    {\"peer\": " << Json(r.peer) << ", \"config\": " << Json(r.config)
      << ", \"mode\": " << Json(r.mode) << ", \"keys\": " << r.keys
      << ", \"value_size\": " << r.value_size
      << ", \"phase\": " << Json(r.phase) << ", \"readers\": " << r.readers
      << ", \"available\": " << (r.available ? "true" : "false");
    if (!r.note.empty()) f << ", \"note\": " << Json(r.note);
    if (r.available) {
      f << ", \"ops\": " << r.ops << ", \"seconds\": " << Num(r.seconds)
        << ", \"ops_per_sec\": " << Num(r.ops_per_sec);
      if (r.phase != "readers") {
        f << ", \"ns_per_op\": " << Num(r.ns_per_op)
          << ", \"cpu_ns_per_op\": " << Num(r.cpu_ns_per_op)
          << ", \"cpu_is_all_work\": "
          << (r.cpu_is_all_work ? "true" : "false");
      }
      f << ", \"reps_ops_per_sec\": [";
      for (size_t k = 0; k < r.reps_ops_per_sec.size(); ++k) {
        f << (k ? ", " : "") << Num(r.reps_ops_per_sec[k]);
      }
      f << "], \"time_bounded\": " << (r.time_bounded ? "true" : "false")
        << ", \"errors\": " << r.errors << ", \"torn\": " << r.torn;
      if (r.phase == "readers") {
        f << ", \"per_reader_ops_per_sec\": " << Num(r.per_reader_ops_per_sec)
          << ", \"reader_cpu_ns_per_read\": " << Num(r.cpu_ns_per_op)
          << ", \"cpu_is_all_work\": " << (r.cpu_is_all_work ? "true" : "false")
          << ", \"writer_ops_per_sec\": " << Num(r.writer_ops_per_sec);
        if (r.has_latency) {
          f << ", \"latency_ns\": {\"p50\": " << Num(r.latency.p50)
            << ", \"p99\": " << Num(r.latency.p99)
            << ", \"p99.9\": " << Num(r.latency.p999)
            << ", \"max\": " << Num(r.latency.max)
            << ", \"samples\": " << r.latency.samples << "}";
        }
      }
    }
    f << "}" << (i + 1 < results.size() ? "," : "") << "\n";
  }
  f << "  ]\n}\n";
  return static_cast<bool>(f);
}

namespace {

void PhaseTable(std::ostream& f, const std::vector<Result>& results,
                uint64_t keys, uint64_t size, const std::vector<int>& readers) {
  std::vector<Row> rows = Rows(results);
  f << "| configuration |";
  for (const PhaseInfo& p : kPhases) f << " " << p.label << " |";
  for (int r : readers) f << " readers R=" << r << " under a writer |";
  f << "\n|---|";
  for (size_t i = 0; i < std::size(kPhases) + readers.size(); ++i) f << "---:|";
  f << "\n";
  for (const Row& row : rows) {
    bool any = false;
    std::string line = absl::StrCat("| ", row.config, " |");
    for (const PhaseInfo& p : kPhases) {
      const Result* r = FindRow(results, row, keys, size, p.id);
      any |= r != nullptr;
      absl::StrAppend(&line, " ", Cell(r, true), " |");
    }
    for (int rd : readers) {
      const Result* r = FindRow(results, row, keys, size, "readers", rd);
      any |= r != nullptr;
      absl::StrAppend(&line, " ", Cell(r, false), " |");
    }
    if (any) f << line << "\n";
  }
}

void ReadersTable(std::ostream& f, const std::vector<Result>& results,
                  uint64_t keys, uint64_t size,
                  const std::vector<int>& readers) {
  f << "| configuration | R | readers' aggregate | per reader | reader CPU per "
       "read | p50 | "
       "p99 | p99.9 | max | latency samples | writer ops/s | torn | errors |\n"
       "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const Row& row : Rows(results)) {
    for (int rd : readers) {
      const Result* r = FindRow(results, row, keys, size, "readers", rd);
      if (r == nullptr || !r->available) continue;
      f << "| " << row.config << " | " << rd << " | "
        << FormatRate(r->ops_per_sec) << "/s | "
        << FormatRate(r->per_reader_ops_per_sec) << "/s | "
        << (r->cpu_is_all_work
                ? Ns(r->cpu_ns_per_op)
                : absl::StrCat(Ns(r->cpu_ns_per_op), " (client)"))
        << " | ";
      if (r->has_latency && r->latency.samples > 0) {
        f << Ns(r->latency.p50) << " | " << Ns(r->latency.p99) << " | "
          << Ns(r->latency.p999) << " | " << Ns(r->latency.max) << " | "
          << r->latency.samples << " | ";
      } else {
        f << "- | - | - | - | - | ";
      }
      f << FormatRate(r->writer_ops_per_sec) << "/s | " << r->torn << " | "
        << r->errors;
      if (!r->note.empty()) f << " (" << r->note << ")";
      f << " |\n";
    }
  }
}

}  // namespace

bool WriteMarkdown(const std::string& path, const RunInfo& info,
                   const std::vector<Result>& results,
                   const std::vector<Target>& targets,
                   const std::string& chart) {
  std::ofstream f(path);
  if (!f) return false;
  const Settings& s = info.settings;
  f << "# Multi-process comparison: zcipc and its peers\n\n"
    << "Generated by `bench/compare.sh` (the driver is "
       "`//bench/compare:compare`); "
       "every number below comes from the same run. Do not edit by hand: "
       "rerun.\n\n";
  f << "- **Date:** " << info.date << "\n"
    << "- **Command:** `" << info.command << "`\n"
    << "- **Machine:** `nproc` = " << info.nproc << ", CPU: " << info.cpu_model
    << ", " << info.memory << " RAM, kernel " << info.kernel << "\n"
    << "- **Peers:** " << info.versions << "\n"
    << "- **Driver time:** " << absl::StrFormat("%.0f s", info.wall_seconds)
    << " (without setup and build)\n"
    << "- **Load average** (1, 5, 15 min) at the start: " << info.load_start
    << "; at the end: " << info.load_end
    << " (the driver itself keeps 1 to 4 processes busy; the rest is other "
       "work on "
       "the machine)\n";
  for (const std::string& sk : info.skipped)
    f << "- **Skipped:** " << sk << "\n";
  f << "\n> The machine is a shared, noisy 2-core VM: other work runs on it at "
       "the "
       "same time (see the load average). Figures move by 10-30% between runs "
       "when "
       "it is quiet and by 2x or more when other processes compete for the two "
       "CPUs; "
       "ratios are measured in the same run (the single-process targets side "
       "by "
       "side, see \"Paired measurements\"), but a ratio near its limit can "
       "land on "
       "either side from one run to the next. Read them as approximate.\n\n";

  // Headline.
  const uint64_t hs = kTargetSize;
  std::vector<uint64_t> hk;
  for (uint64_t k : info.keys) {
    if (k == 10000 || k == 1000000) hk.push_back(k);
  }
  if (hk.empty() && !info.keys.empty()) hk.push_back(info.keys.front());
  if (std::find(info.sizes.begin(), info.sizes.end(), hs) != info.sizes.end()) {
    f << "## Headline (100 B values)\n\n"
      << "ops/s of one process (wall-clock ns per operation; CPU: the harness "
         "thread's CPU time per operation, where all the work is in the "
         "harness); "
         "readers: aggregate ops/s of "
         "R reader processes while one writer process updates continuously, "
         "with "
         "the readers' p99.9 latency.\n\n";
    f << "| configuration |";
    for (uint64_t k : hk) f << " read hit " << KeysLabel(k) << " |";
    for (uint64_t k : hk) f << " update " << KeysLabel(k) << " |";
    const uint64_t mk = hk.front();
    int rmax = s.readers.empty() ? 0 : s.readers.back();
    for (int rd : s.readers)
      f << " readers R=" << rd << " " << KeysLabel(mk) << " |";
    if (rmax > 0) f << " p99.9 R=" << rmax << " " << KeysLabel(mk) << " |";
    f << "\n|---|";
    for (size_t i = 0; i < 2 * hk.size() + s.readers.size() + (rmax > 0); ++i)
      f << "---:|";
    f << "\n";
    for (const Row& row : Rows(results)) {
      std::string line = absl::StrCat("| ", row.config, " |");
      bool any = false;
      for (uint64_t k : hk) {
        const Result* r = FindRow(results, row, k, hs, "read_hit");
        any |= r != nullptr;
        absl::StrAppend(&line, " ", Cell(r, true, true), " |");
      }
      for (uint64_t k : hk) {
        const Result* r = FindRow(results, row, k, hs, "update");
        any |= r != nullptr;
        absl::StrAppend(&line, " ", Cell(r, true, true), " |");
      }
      for (int rd : s.readers) {
        absl::StrAppend(
            &line, " ",
            Cell(FindRow(results, row, mk, hs, "readers", rd), false), " |");
      }
      if (rmax > 0) {
        const Result* r = FindRow(results, row, mk, hs, "readers", rmax);
        absl::StrAppend(
            &line, " ",
            r != nullptr && r->available && r->has_latency &&
                    r->latency.samples > 0
                ? Ns(r->latency.p999)
                : (r != nullptr && r->available ? "-" : (r ? "N/A" : "")),
            " |");
      }
      if (any) f << line << "\n";
    }
    f << "\n";
  }
  if (!chart.empty())
    f << "![ops/s per phase and configuration](" << chart << ")\n\n";

  // Targets.
  f << "## Targets\n\nRatios from this run (100 B values). `(info)` lines are "
       "context, not targets. The single-process targets are judged on the CPU "
       "time "
       "per operation of the harness thread (user + system, so the flock "
       "system "
       "calls count), which every in-process peer is measured with alike and "
       "which "
       "does not count the time the harness spends descheduled by other work "
       "on this "
       "shared VM; the wall-clock figures of the same run are shown next to "
       "them. "
       "The readers targets are wall-clock throughput and latency.\n\n| target "
       "| goal | measured | result | by how much |\n"
       "|---|---|---|---|---|\n";
  for (const Target& x : targets) {
    f << "| " << x.name << " | " << x.goal << " | " << x.measured << " | **"
      << x.status << "** | " << x.margin << " |\n";
  }
  bool any_miss = false;
  for (const Target& x : targets)
    any_miss |= x.status.rfind("MISS", 0) == 0 && !x.why.empty();
  if (any_miss) {
    f << "\n### Why the misses\n\n";
    std::set<std::string> said;
    for (const Target& x : targets) {
      if (x.status.rfind("MISS", 0) != 0 || x.why.empty()) continue;
      f << "- **" << x.name << "** (" << x.margin << "). ";
      if (said.insert(x.why).second) {
        f << x.why << "\n";
      } else {
        f << "Same reason as above.\n";
      }
    }
  }

  // Observations computed from the data: readers starved by the writer
  // (under 10% of the configuration's single-process read rate).
  std::vector<std::string> order;
  std::map<std::string, std::pair<int, std::vector<std::string>>>
      starved;  // config -> runs, cases
  for (const Result& r : results) {
    if (r.phase != "readers" || !r.available || r.peer == "Redis") continue;
    const Result* alone =
        Find(results, r.peer, r.mode, r.keys, r.value_size, "read_hit");
    if (!Usable(alone)) continue;
    auto& entry = starved[r.config];
    if (entry.first++ == 0) order.push_back(r.config);
    if (r.ops_per_sec >= 0.1 * alone->ops_per_sec) continue;
    entry.second.push_back(
        absl::StrFormat("%s keys %d B R=%d: %s/s (%.1f%%)", KeysLabel(r.keys),
                        r.value_size, r.readers, FormatRate(r.ops_per_sec),
                        100 * r.ops_per_sec / alone->ops_per_sec));
  }
  bool any_starved = false;
  for (const std::string& config : order)
    any_starved |= !starved[config].second.empty();
  if (any_starved) {
    f << "\n### Observations\n\nReaders starved under the writer (aggregate "
         "under 10% of the "
         "configuration's own single-process read rate):\n\n";
    for (const std::string& config : order) {
      const auto& [runs, cases] = starved[config];
      if (cases.empty()) continue;
      f << "- **" << config << "**, " << cases.size() << " of " << runs
        << " runs: " << absl::StrJoin(cases, "; ") << ".";
      if (config.rfind("Boost.IPC", 0) == 0) {
        f << " Boost's `interprocess_sharable_mutex` prefers writers: a writer "
             "that "
             "calls `lock()` sets its exclusive flag and new sharable locks "
             "wait until "
             "it is done; this writer re-locks as soon as it unlocks, so "
             "readers get in "
             "only in the gaps.";
      }
      f << "\n";
    }
  }

  // Paired measurements.
  bool any_paired = false;
  for (const Result& r : results)
    any_paired |= r.phase.rfind("paired_", 0) == 0;
  if (any_paired) {
    f << "\n## Paired measurements (the single-process targets)\n\n"
      << "The floor and zcipc filled with the same data (100 B values) and "
         "their "
         "loops alternated repetition by repetition (median of each), the bare "
         "flock pair alternated with zcipc's Put the same way, so that both "
         "sides "
         "of each ratio see the same moments of this shared machine. The "
         "targets "
         "above use these.\n\n"
      << "| key count | configuration | measurement | ops/s | wall ns/op | CPU "
         "ns/op | reps (ops/s) |\n"
         "|---|---|---|---:|---:|---:|---|\n";
    for (uint64_t keys : info.keys) {
      for (const Result& r : results) {
        if (r.keys != keys || r.phase.rfind("paired_", 0) != 0) continue;
        std::vector<std::string> reps;
        for (double v : r.reps_ops_per_sec) reps.push_back(FormatRate(v));
        f << "| " << KeysLabel(keys) << " | " << r.config << " | "
          << (r.phase == "paired_read_hit" ? "read hit" : "update / lock pair")
          << " | " << FormatRate(r.ops_per_sec) << " | " << Ns(r.ns_per_op)
          << " | " << Ns(r.cpu_ns_per_op) << " | " << absl::StrJoin(reps, ", ")
          << (r.errors ? absl::StrCat(" **err ", r.errors, "**") : "")
          << " |\n";
      }
    }
  }

  // Full tables.
  f << "\n## All results\n\n"
    << "Cells: ops/s (ns per operation). † = the one-at-a-time insert hit its "
       "time bound ("
    << absl::StrFormat("%.1f s", s.insert_seconds)
    << ") before inserting its half of the keys; the rest was then filled "
       "untimed. "
       "N/A = not applicable (see the notes). Readers columns: aggregate ops/s "
       "of the "
       "reader processes.\n";
  for (uint64_t keys : info.keys) {
    f << "\n### " << KeysLabel(keys) << " keys\n";
    for (uint64_t size : info.sizes) {
      f << "\n#### " << KeysLabel(keys) << " keys, " << size << " B values\n\n";
      PhaseTable(f, results, keys, size, s.readers);
      bool any_readers = false;
      for (const Result& r : results) {
        any_readers |= r.keys == keys && r.value_size == size &&
                       r.phase == "readers" && r.available;
      }
      if (any_readers) {
        f << "\nReaders under one busy writer ("
          << absl::StrFormat("%.2f s", s.mp_seconds)
          << " per run; latency of every 4th read, per read; batched rows "
             "report "
             "throughput only):\n\n";
        ReadersTable(f, results, keys, size, s.readers);
      }
    }
  }

  f << "\n## Method\n\n"
    << "- **Workload.** Keys `key:%08d`; values of 16, 100 or 1000 bytes: key "
       "index, "
       "generation, a payload (one of 256 fixed random strings) and a 64-bit "
       "check "
       "(XXH3 of the payload mixed with key and generation), so a value that "
       "mixes "
       "two writes, or belongs to another key, fails the check. Lookups walk "
       "one "
       "fixed-seed uniform random sequence of 2^20 key indexes; every peer and "
       "every phase uses the same sequence from the same start. Misses look up "
       "`key:%08d` of indexes past the last key.\n"
    << "- **Phases, in this order, per peer and data set.** insert: the first "
       "half of "
       "a fixed permutation one at a time (bounded to "
    << absl::StrFormat("%.1f s", s.insert_seconds)
    << ", the remainder then filled untimed), the second half in batches "
       "(unbounded); "
       "read hit; read miss; update (same-size values: in place where the "
       "store can); "
       "mixed 90/10 (the same fixed per-position choice for every peer); "
       "readers under a "
       "writer; erase (one at a time: part of the first half of another "
       "permutation, "
       "batched: part of the second half, each for the phase time). The "
       "readers phase "
       "runs before erase so that it sees the full data set.\n"
    << "- **Timing.** Each phase runs for "
    << absl::StrFormat("%.2f s", s.phase_seconds)
    << " per repetition. read hit and update are the median of " << s.reps
    << " repetitions (continuing along the sequence); the other phases run "
       "once. "
       "Single-process phases time whole loops (ns/op = 1/throughput); their "
       "reads copy the value out (zero-copy rows touch it in place) without "
       "checking it, and 4096 values are verified untimed after the insert and "
       "the "
       "mixed phases (failures count as errors).\n"
    << "- **Readers under a writer.** One writer process and R reader "
       "processes are "
       "forked; each opens its own handle or connection and prefaults its "
       "mappings "
       "of the store, untimed (madvise MADV_POPULATE_READ, the writer _WRITE; "
       "only "
       "the used part of LMDB's map; nothing for Redis, whose client maps "
       "nothing), "
       "so that the timed window measures steady state rather than the "
       "first-touch "
       "page faults of a freshly mapped segment (a first run without this "
       "showed "
       "them as a p99 of 6-8 us at 10^6 keys). Then, for "
    << absl::StrFormat("%.2f s", s.mp_seconds)
    << ", the writer updates random keys continuously (same-size values; "
       "batched "
       "rows: batches of "
    << s.batch
    << ") while the readers read random keys, checking every value's check "
       "(torn = failed check). The latency of every "
       "4th read is recorded (clock_gettime around the call, so each sample "
       "includes "
       "the clock's own cost: an empty timed section measures "
    << absl::StrFormat("%.0f ns", info.clock_overhead_ns)
    << " at p50 here; zero-copy rows include the check, which runs inside the "
       "callback); the most recent 2^20 samples per "
       "reader are kept. On this machine R=2 means three busy processes (four "
       "with "
       "redis-server) on "
    << info.nproc << " CPUs.\n"
    << "- **Batches.** " << s.batch
    << " operations per batch: zcipc `Write` (lookups "
       "need no lock, so batched lookups are lock-free Gets and a mixed batch "
       "runs "
       "its Gets inside `Write`), LMDB one transaction per batch (read-only if "
       "the "
       "batch has no writes), Boost one lock hold per batch (sharable if no "
       "writes), "
       "Redis one pipeline per batch.\n"
    << "- **Peers.** floor: `absl::flat_hash_map<std::string, std::string>` in "
       "the "
       "driver's own memory (no sharing: multi-process phases N/A). zcipc: "
       "`Get` "
       "(copy), `Read` (zero-copy, its own rows for lookups; its writes are "
       "the "
       "Get/Put row's), `Put`, `Erase`, `Write`. LMDB: environment on "
       "/dev/shm, "
       "MDB_NOSYNC | MDB_WRITEMAP, one read transaction per get (a reset and "
       "renewed "
       "read-only handle) and one write transaction per put. "
       "Boost.Interprocess: "
       "`managed_shared_memory` holding a `boost::interprocess::map` of shared "
       "strings (an ordered tree) under an `interprocess_sharable_mutex`. "
       "Redis: "
       "`redis-server` started by the driver on a unix socket in a temporary "
       "directory (`--port 0 --save '' --appendonly no`), hiredis, stopped by "
       "its "
       "pid at the end. The flock pair: `flock(LOCK_EX)` + `flock(LOCK_UN)` on "
       "a "
       "/dev/shm file, measured just before zcipc's phases on each data set.\n"
    << "- **Not tuned.** The workload is the issue's; nothing was adjusted to "
       "favour any peer.\n";
  return static_cast<bool>(f);
}

namespace {

// One colour family per peer, darker for batches, lighter for zero-copy.
std::string Color(const Row& row) {
  if (row.peer == "floor") return "#7f7f7f";
  if (row.peer == "zcipc")
    return row.mode == "single" ? "#1b9e77"
           : row.mode == "read" ? "#7fd8b8"
                                : "#0b5d46";
  if (row.peer == "LMDB") return row.mode == "single" ? "#f0b800" : "#a6761d";
  if (row.peer == "Boost.IPC")
    return row.mode == "single" ? "#e3464a" : "#8c1a1a";
  if (row.peer == "Redis") return row.mode == "single" ? "#9b8fe0" : "#4b3f99";
  return "#333333";
}

}  // namespace

bool WriteGnuplot(const std::string& path, const std::string& svg,
                  const RunInfo& info, const std::vector<Result>& results) {
  std::ofstream f(path);
  if (!f) return false;
  uint64_t size = kTargetSize;
  if (std::find(info.sizes.begin(), info.sizes.end(), size) ==
      info.sizes.end()) {
    if (info.sizes.empty()) return false;
    size = info.sizes.front();
  }
  std::vector<Row> rows = Rows(results);
  std::vector<std::pair<std::string, std::string>> columns;  // phase id, label
  for (const PhaseInfo& p : kPhases) columns.push_back({p.id, p.label});
  for (int rd : info.settings.readers) {
    columns.push_back(
        {absl::StrCat("readers", rd), absl::StrCat("readers R=", rd)});
  }
  const size_t panels = info.keys.size();
  f << "set terminal svg size 1400," << 120 + 460 * panels
    << " dynamic font 'sans,11' background '#ffffff'\n";
  f << "set output '" << svg << "'\n";
  f << "set datafile separator '\\t'\nset datafile missing '?'\n";
  f << "set style data histograms\nset style histogram clustered gap 1\n"
    << "set style fill solid 0.9 border rgb '#333333'\nset boxwidth 0.9\n"
    << "set logscale y\nset format y '10^{%L}'\nset ylabel 'ops/s (log "
       "scale)'\n"
    << "set grid ytics\nset key outside right top vertical font 'sans,10'\n"
    << "set xtics nomirror\n";
  for (uint64_t keys : info.keys) {
    f << "$d" << keys << " << EOD\nphase";
    for (const Row& row : rows) {
      if (row.peer == "flock") continue;
      f << "\t" << row.config;
    }
    f << "\n";
    for (const auto& [id, label] : columns) {
      f << label;
      for (const Row& row : rows) {
        if (row.peer == "flock") continue;
        const Result* r = id.rfind("readers", 0) == 0
                              ? FindRow(results, row, keys, size, "readers",
                                        std::stoi(id.substr(7)))
                              : FindRow(results, row, keys, size, id);
        if (Usable(r)) {
          f << "\t" << absl::StrFormat("%.6g", r->ops_per_sec);
        } else {
          f << "\t?";
        }
      }
      f << "\n";
    }
    f << "EOD\n";
  }
  size_t ncols = 0;
  std::string colors;
  for (const Row& row : rows) {
    if (row.peer == "flock") continue;
    ++ncols;
    absl::StrAppend(&colors, colors.empty() ? "" : " ", Color(row));
  }
  f << "colors = '" << colors << "'\n";
  f << "set multiplot layout " << panels
    << ",1 title 'zcipc and peers: ops/s per phase, " << size << " B values ("
    << info.date << ", nproc=" << info.nproc << ")'\n";
  for (uint64_t keys : info.keys) {
    f << "set title '" << KeysLabel(keys) << " keys'\n";
    f << "plot for [c=2:" << ncols + 1 << "] $d" << keys
      << " using c:xtic(1) title columnheader(c) noenhanced lc rgb "
         "word(colors, c-1)\n";
  }
  f << "unset multiplot\n";
  return static_cast<bool>(f);
}

bool CheckResults(const std::vector<Result>& results, std::string* why) {
  bool ok = true;
  for (const Result& r : results) {
    std::string what =
        absl::StrCat(r.config, " ", r.keys, " keys ", r.value_size, " B ",
                     r.phase, r.readers ? absl::StrCat(" R=", r.readers) : "");
    if (!r.available) {
      if (r.errors > 0) {
        absl::StrAppend(why, what, ": failed: ", r.note, "\n");
        ok = false;
      }
      continue;
    }
    if (r.ops == 0 || !(r.ops_per_sec > 0)) {
      absl::StrAppend(why, what, ": no operations measured\n");
      ok = false;
    }
    if (r.torn > 0) {
      absl::StrAppend(why, what, ": ", r.torn, " torn reads\n");
      ok = false;
    }
    if (r.errors > 0) {
      absl::StrAppend(why, what, ": ", r.errors, " errors ", r.note, "\n");
      ok = false;
    }
    if (r.phase == "readers" && r.has_latency && r.latency.samples == 0) {
      absl::StrAppend(why, what, ": no latency samples\n");
      ok = false;
    }
    if (r.phase == "readers" && !(r.writer_ops_per_sec > 0)) {
      absl::StrAppend(why, what, ": the writer made no updates\n");
      ok = false;
    }
  }
  return ok;
}

}  // namespace bench
}  // namespace zcipc
