#!/usr/bin/env python3
"""Renders the comparison's RESULTS.md and chart from its results.json.

    render.py RESULTS_JSON --md RESULTS.md [--svg results.svg]
              [--chart-link results.svg] [--gnuplot-script results.gp]

results.json is what //bench/compare:compare writes (see
bench/compare/results_json.h). Every figure in the Markdown and the chart
comes from it: the measured figures themselves, ratios and differences
computed here from them, and the run's settings and method constants. The
only numbers of this file are the targets' goals and the choice of the data
sets they are judged on (TARGET_*), and the threshold that defines a
starved reader (STARVED_BELOW): definitions, not measurements.

--svg runs gnuplot (the script goes to --gnuplot-script, or a temporary
file); without gnuplot on PATH the chart is skipped with a message.
Standard library only.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

# The targets: their data sets and goals.
TARGET_SIZE = 100  # value size (bytes) of every target and of the headline
TARGET_SMALL_KEYS = 10000
TARGET_LARGE_KEYS = 1000000
GOAL_GET_VS_FLOOR = 1.2  # zcipc Get CPU ns/op at most this times the floor's
GOAL_THROUGHPUT_VS_PEER = 2.0  # zcipc Get throughput at least this times
GOAL_PUT_OVER_FLOCK_NS = 150.0  # a Put at most this over the bare flock pair
GOAL_BATCHED_UPDATES_PER_SEC = 10e6
GOAL_READERS_VS_LMDB = 2.0
GOAL_READER_P999_NS = 5000.0
GOAL_TORN_READS = 0
# A readers run is "starved" below this fraction of the configuration's own
# single-process read rate.
STARVED_BELOW = 0.10
# The periods of /proc/loadavg, in minutes (names of its three figures).
LOAD_AVERAGE_MINUTES = (1, 5, 15)

PHASES = [
    ("insert", "insert"),
    ("read_hit", "read hit"),
    ("read_miss", "read miss"),
    ("update", "update"),
    ("mixed", None),  # labelled from the method (mixed_update_one_in)
    ("erase", "erase"),
]
PHASE_WORDS = {"read_hit": "read hit", "update": "update",
               "paired_read_hit": "paired read hit", "paired_update": "paired update"}
PEER_ORDER = ["floor", "zcipc", "flock", "LMDB", "Boost.IPC", "Redis"]
MODE_ORDER = {"single": 0, "read": 1}

# One colour family per peer, darker for batches, lighter for zero-copy.
COLORS = {
    ("floor", "single"): "#7f7f7f",
    ("zcipc", "single"): "#1b9e77",
    ("zcipc", "read"): "#7fd8b8",
    ("zcipc", "batch"): "#0b5d46",
    ("LMDB", "single"): "#f0b800",
    ("LMDB", "batch"): "#a6761d",
    ("Boost.IPC", "single"): "#e3464a",
    ("Boost.IPC", "batch"): "#8c1a1a",
    ("Redis", "single"): "#9b8fe0",
    ("Redis", "batch"): "#4b3f99",
}


# ---------------------------------------------------------------- formats


def definitions():
    """The numbers this file writes that are definitions, not results of a
    run (the targets' goals and data sets, thresholds, names), as they
    appear in the Markdown. render_test.py allows exactly these."""
    return {
        "%d" % TARGET_SIZE, keys_label(TARGET_SMALL_KEYS), keys_label(TARGET_LARGE_KEYS),
        "%g" % GOAL_GET_VS_FLOOR, "%g" % GOAL_THROUGHPUT_VS_PEER,
        "%.0f" % GOAL_PUT_OVER_FLOCK_NS, "%g" % (GOAL_BATCHED_UPDATES_PER_SEC / 1e6),
        ns(1e9 / GOAL_BATCHED_UPDATES_PER_SEC), "%g" % (GOAL_READER_P999_NS / 1e3),
        "%d" % GOAL_TORN_READS, pct(STARVED_BELOW * 100),
    } | {str(x) for x in LOAD_AVERAGE_MINUTES}


def rate(v):
    """1.23M, 456.7k: ops/s."""
    if v >= 1e9:
        return "%.2fG" % (v / 1e9)
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e3:
        return "%.1fk" % (v / 1e3)
    return "%.0f" % v


def ns(v):
    """A duration given in nanoseconds."""
    if v >= 1e6:
        return "%.2f ms" % (v / 1e6)
    if v >= 1e4:
        return "%.1f us" % (v / 1e3)
    if v >= 1e3:
        return "%.2f us" % (v / 1e3)
    return "%.0f ns" % v


def times(x):
    return "%.2fx" % x


def seconds(v):
    return "%.2f s" % v if v < 1 else "%.1f s" % v


def keys_label(keys):
    """10^4 for 10000; other counts as they are."""
    k, e = keys, 0
    while k >= 10 and k % 10 == 0:
        k //= 10
        e += 1
    return "10^%d" % e if k == 1 and e > 0 else str(keys)


def power_of_two(n):
    e = n.bit_length() - 1
    return "2^%d" % e if n > 0 and n == 1 << e else str(n)


def count_words(n):
    return "%d %s" % (n, "reader" if n == 1 else "readers")


# ------------------------------------------------------------------- data


class Run:
    """results.json, with its results indexed. Reads schema 1 (no `schema`
    member: strings for versions, memory and load averages, no method
    constants) and schema 2."""

    def __init__(self, doc):
        self.doc = doc
        self.schema = doc.get("schema", 1)
        self.settings = doc["settings"]
        self.method = doc.get("method", {})
        self.machine = doc["machine"]
        self.results = doc["results"]
        self.keys = self.settings["keys"]
        self.sizes = self.settings["value_sizes"]
        self.readers = self.settings["readers"]
        self.index = {}
        for r in self.results:
            self.index.setdefault(self.key_of(r), r)
        rows = {(r["peer"], r["mode"], r["config"]) for r in self.results}
        self.rows = sorted(rows, key=lambda x: (peer_rank(x[0]), MODE_ORDER.get(x[1], 2), x[2]))

    @staticmethod
    def key_of(r):
        return (r["peer"], r["mode"], r["keys"], r["value_size"], r["phase"], r["readers"])

    def find(self, peer, mode, keys, size, phase, readers=0):
        return self.index.get((peer, mode, keys, size, phase, readers))

    def find_row(self, row, keys, size, phase, readers=0):
        return self.find(row[0], row[1], keys, size, phase, readers)

    def versions(self):
        v = self.doc.get("versions", "")
        return ", ".join(v) if isinstance(v, list) else v

    def memory(self):
        if "memory_bytes" in self.machine:
            return "%.1f GiB" % (self.machine["memory_bytes"] / float(1 << 30))
        return self.machine.get("memory", "unknown")

    def load(self, which):
        v = self.doc.get("load_average_" + which)
        if isinstance(v, list):
            return " ".join("%.2f" % x for x in v) if v else "unknown"
        return v or "unknown"

    def load_1min(self, which):
        v = self.doc.get("load_average_" + which)
        if isinstance(v, list):
            return v[0] if v else None
        try:
            return float(v.split()[0])
        except (AttributeError, IndexError, ValueError):
            return None

    def phase_label(self, phase):
        if phase == "mixed":
            n = self.method.get("mixed_update_one_in")
            if n:
                update = 100.0 / n
                return "mixed %s/%s" % (pct(100 - update), pct(update))
            return "mixed"
        return dict(PHASES)[phase]

    def ran(self, peer):
        return any(r["peer"] == peer and r.get("available") for r in self.results)


def pct(v):
    return ("%.0f" % v) if abs(v - round(v)) < 1e-9 else ("%.1f" % v)


def peer_rank(peer):
    return PEER_ORDER.index(peer) if peer in PEER_ORDER else 99


def usable(r):
    return r is not None and r.get("available") and (r.get("ops_per_sec") or 0) > 0


def cpu(r):
    """The harness's CPU ns per operation (or per read, for readers)."""
    v = r.get("cpu_ns_per_op")
    if v is None:
        v = r.get("reader_cpu_ns_per_read")
    return v or 0.0


def wall_ns(r):
    return r.get("ns_per_op") or 0.0


def cell(r, with_ns, with_cpu=False):
    if r is None:
        return ""
    if not r.get("available"):
        return "N/A"
    ops = r.get("ops_per_sec") or 0
    s = rate(ops)
    if with_ns and ops > 0:
        s += " (" + ns(1e9 / ops)
        if with_cpu and r.get("cpu_is_all_work") and cpu(r) > 0:
            s += "; CPU " + ns(cpu(r))
        s += ")"
    if r.get("time_bounded"):
        s += " †"
    if r.get("errors"):
        s += " **err %d**" % r["errors"]
    if r.get("torn"):
        s += " **torn %d**" % r["torn"]
    return s


def latency(r):
    lat = r.get("latency_ns") if r else None
    return lat if lat and lat.get("samples") else None


# ---------------------------------------------------------------- targets


class Target:
    def __init__(self, name, goal):
        self.name, self.goal = name, goal
        self.measured = self.status = self.margin = self.why = ""


def evaluate_targets(run):
    out = []
    small, large = TARGET_SMALL_KEYS, TARGET_LARGE_KEYS
    size = TARGET_SIZE

    def not_measured(t, what="not run in this invocation"):
        t.status, t.measured = "not measured", what
        out.append(t)

    # 1. Get (and zero-copy Read) hit CPU time within GOAL_GET_VS_FLOOR of
    # the floor's, on the paired measurement when it ran.
    g = GOAL_GET_VS_FLOOR
    for keys in (small, large):
        for mode in ("single", "read"):
            get = mode == "single"
            t = Target(
                "%s hit, %d B, %s keys: latency vs the floor"
                % ("Get" if get else "Read (zero-copy, info)", size, keys_label(keys)),
                "<= %gx the floor's ns/op" % g,
            )
            phase = "read_hit"
            if usable(run.find("zcipc", mode, keys, size, "paired_read_hit")) and usable(
                run.find("floor", "single", keys, size, "paired_read_hit")
            ):
                phase = "paired_read_hit"
            z = run.find("zcipc", mode, keys, size, phase)
            f = run.find("floor", "single", keys, size, phase)
            if not usable(z) or not usable(f):
                not_measured(t)
                continue
            ratio = cpu(z) / cpu(f)
            t.measured = "CPU: zcipc %s vs floor %s = **%s**; wall: %s vs %s = %s" % (
                ns(cpu(z)), ns(cpu(f)), times(ratio), ns(wall_ns(z)), ns(wall_ns(f)),
                times(wall_ns(z) / wall_ns(f)))
            ok = ratio <= g
            t.status = ("PASS" if ok else "MISS") + ("" if get else " (info)")
            if ok:
                t.margin = "%.1f%% under the limit" % ((1 - ratio / g) * 100)
            else:
                t.margin = "%.2fx instead of %gx: %s per get (%.0f%%) over the allowed %s" % (
                    ratio, g, ns(cpu(z) - g * cpu(f)), (ratio / g - 1) * 100, ns(g * cpu(f)))
                t.why = (
                    "The floor is one flat_hash_map probe and a std::string copy in the "
                    "process's own heap. A zcipc Get hashes the key (XXH3), probes the "
                    "slot table in the shared segment and runs the reader protocol: load "
                    "the slot's sequence number, compare the stored hash, bounds-check the "
                    "block offset and the lengths read from shared memory (so that a torn "
                    "read retries instead of faulting), read key and value with word-sized "
                    "relaxed atomic loads, fence, re-load the sequence, copy the value "
                    "out; and the public class is a pimpl, one more call. "
                    "bench/callgrind.sh counts the instructions of both paths."
                    if get else
                    "Read skips the copy but keeps the rest of the reader protocol (see Get).")
            out.append(t)

    # 2. Get hit throughput at the small key count against LMDB and Boost.
    g = GOAL_THROUGHPUT_VS_PEER
    for peer, mode, label, info in (
        ("LMDB", "single", "LMDB (one read txn per get)", False),
        ("LMDB", "batch", "LMDB (one read txn per batch, info)", True),
        ("Boost.IPC", "single", "Boost.IPC (sharable lock per get)", False),
        ("Boost.IPC", "batch", "Boost.IPC (sharable lock per batch, info)", True),
    ):
        t = Target("Get hit throughput, %d B, %s keys: zcipc vs %s"
                   % (size, keys_label(small), label), ">= %gx" % g)
        z = run.find("zcipc", "single", small, size, "read_hit")
        o = run.find(peer, mode, small, size, "read_hit")
        if not usable(z) or not usable(o):
            not_measured(t)
            continue
        ratio = cpu(o) / cpu(z)
        t.measured = "CPU: %s/s vs %s/s = **%s**; wall: %s/s vs %s/s = %s" % (
            rate(1e9 / cpu(z)), rate(1e9 / cpu(o)), times(ratio), rate(z["ops_per_sec"]),
            rate(o["ops_per_sec"]), times(z["ops_per_sec"] / o["ops_per_sec"]))
        ok = ratio >= g
        t.status = ("PASS" if ok else "MISS") + (" (info)" if info else "")
        if ok:
            t.margin = "%.1f%% above the goal" % ((ratio / g - 1) * 100)
        else:
            t.margin = "%.1f%% short of %gx" % ((1 - ratio / g) * 100, g)
            t.why = (
                "An LMDB lookup in a reused read transaction is a renew (a reader-slot "
                "store), a B-tree descent and a reset; batched, the renew and reset are "
                "paid once per batch."
                if peer == "LMDB" else
                "Without a writer, Boost's sharable lock is two atomic read-modify-writes "
                "on one cache line and a tree walk; batched, the lock is paid once per "
                "batch.")
        out.append(t)

    # 3. A single locked Put within GOAL_PUT_OVER_FLOCK_NS of the bare flock
    # pair.
    g = GOAL_PUT_OVER_FLOCK_NS
    for keys in (small, large):
        t = Target("Put (replace in place), %d B, %s keys: vs the bare flock pair%s"
                   % (size, keys_label(keys), " (info)" if keys == large else ""),
                   "<= flock pair + %.0f ns" % g)
        phase = "update"
        if usable(run.find("zcipc", "single", keys, size, "paired_update")) and usable(
            run.find("flock", "single", keys, size, "paired_update")
        ):
            phase = "paired_update"
        z = run.find("zcipc", "single", keys, size, phase)
        f = run.find("flock", "single", keys, size, phase)
        if not usable(z) or not usable(f):
            not_measured(t)
            continue
        diff = cpu(z) - cpu(f)
        t.measured = "CPU: Put %s vs flock pair %s: **%+.0f ns**; wall: %s vs %s: %+.0f ns" % (
            ns(cpu(z)), ns(cpu(f)), diff, ns(wall_ns(z)), ns(wall_ns(f)),
            wall_ns(z) - wall_ns(f))
        ok = diff <= g
        t.status = ("PASS" if ok else "MISS") + (" (info)" if keys == large else "")
        if ok:
            t.margin = "%.0f ns under the budget" % (g - diff)
        else:
            t.margin = "%.0f ns over the %.0f ns budget" % (diff - g, g)
            why = (
                "Besides the flock pair, a Put runs the lock's fast path (the in-process "
                "mutex's compare-and-swap, the release's lock_word increment; no futex "
                "call without waiters), hash and probe, the intent record, the redo copy "
                "of the value into the journal, the seqlock odd and even around the copy "
                "in place, and the counters (bench/callgrind.sh counts their "
                "instructions); and it takes the cache misses of its slot and then its "
                "entry block right after a system call (bench/hotpath_probe "
                "--op=flock_touch measures what such a miss costs on a machine).")
            b = run.find("zcipc", "batch", keys, size, "update")
            if usable(b):
                why += (" Inside a Write batch, where the lock is taken once, an update "
                        "cost %s of CPU in this run, against %s over the flock pair here."
                        % (ns(cpu(b)), ns(diff)))
            reps = [x for x in f.get("reps_ops_per_sec", []) if x]
            if len(reps) > 1:
                why += (" The flock pair's own repetitions ranged from %s to %s."
                        % (ns(1e9 / max(reps)), ns(1e9 / min(reps))))
            t.why = why
        out.append(t)

    # 4. Batched updates.
    g = GOAL_BATCHED_UPDATES_PER_SEC
    for keys in (small, large):
        t = Target("Batched updates (Write of %d Puts), %d B, %s keys%s"
                   % (run.settings["batch"], size, keys_label(keys),
                      " (info)" if keys == large else ""),
                   ">= %gM updates/s" % (g / 1e6))
        z = run.find("zcipc", "batch", keys, size, "update")
        if not usable(z):
            not_measured(t)
            continue
        cpu_rate = 1e9 / cpu(z)
        t.measured = "CPU: **%s/s** (%s per update); wall: %s/s (%s)" % (
            rate(cpu_rate), ns(cpu(z)), rate(z["ops_per_sec"]), ns(wall_ns(z)))
        ok = cpu_rate >= g
        t.status = ("PASS" if ok else "MISS") + (" (info)" if keys == large else "")
        if ok:
            t.margin = "%.0f%% above" % ((cpu_rate / g - 1) * 100)
        else:
            t.margin = "%.0f%% short (%s per update instead of %s)" % (
                (1 - cpu_rate / g) * 100, ns(cpu(z)), ns(1e9 / g))
            t.why = (
                "Inside Write the lock is taken once, but each update still runs the "
                "whole crash-safe update protocol of a single Put (hash and probe, intent "
                "record, the redo copy into the journal, seqlock odd and even, the copy in "
                "place, counters; bench/callgrind.sh counts its instructions), plus the "
                "cache misses of a random key's slot and entry block.")
        out.append(t)

    # 5. Readers under a busy writer: throughput against LMDB's best
    # configuration, and zcipc's p99.9.
    nproc = run.machine["nproc"]
    for keys in run.keys:
        for rd in run.readers:
            z = run.find("zcipc", "single", keys, size, "readers", rd)
            l1 = run.find("LMDB", "single", keys, size, "readers", rd)
            l2 = run.find("LMDB", "batch", keys, size, "readers", rd)
            best = None
            if usable(l1) and (not usable(l2) or l1["ops_per_sec"] >= l2["ops_per_sec"]):
                best = l1
            elif usable(l2):
                best = l2
            g = GOAL_READERS_VS_LMDB
            t = Target("Readers under a busy writer, %d B, %s keys, R=%d: zcipc Get aggregate "
                       "vs LMDB's best configuration" % (size, keys_label(keys), rd),
                       ">= %gx" % g)
            if not usable(z) or best is None:
                not_measured(t)
            else:
                ratio = z["ops_per_sec"] / best["ops_per_sec"]
                t.measured = "%s/s vs %s/s (%s) = **%s**; reader CPU per read: %s vs %s" % (
                    rate(z["ops_per_sec"]), rate(best["ops_per_sec"]), best["config"],
                    times(ratio), ns(cpu(z)), ns(cpu(best)))
                ok = ratio >= g
                t.status = "PASS" if ok else "MISS"
                if ok:
                    t.margin = "%.1f%% above the goal" % ((ratio / g - 1) * 100)
                else:
                    t.margin = "%.1f%% short of %gx" % ((1 - ratio / g) * 100, g)
                    why = ("The writer never sleeps and the %s plus the writer share %d "
                           "CPUs, so every configuration is CPU-bound and the ratio reflects "
                           "per-read CPU cost and scheduling as much as the read path. "
                           % (count_words(rd), nproc))
                    zw, lw = z.get("writer_ops_per_sec") or 0, best.get("writer_ops_per_sec") or 0
                    if lw > 0 and zw > lw:
                        why += ("zcipc's writer also made %.1fx the updates of LMDB's in the "
                                "same time (%s/s vs %s/s). " % (zw / lw, rate(zw), rate(lw)))
                    why += ("Each update invalidates cache lines the readers then miss on, "
                            "and a reader that meets a slot being written retries. LMDB's "
                            "readers read a snapshot and never retry, and its best "
                            "configuration may amortise a read transaction over a batch. "
                            "The readers' CPU per read was %s for zcipc vs %s for LMDB "
                            "(%.2fx): where the data outgrows the caches, each read on either "
                            "side is dominated by cache and TLB misses (zcipc: the slot, then "
                            "the heap block; LMDB: the leaf and branch pages), so the fixed "
                            "costs zcipc saves (no transaction, no reader-table update) are a "
                            "smaller share of a read." % (ns(cpu(z)), ns(cpu(best)),
                                                          cpu(best) / cpu(z)))
                    t.why = why
                out.append(t)
            g = GOAL_READER_P999_NS
            t = Target("Reader p99.9 under a busy writer, %d B, %s keys, R=%d (zcipc Get)"
                       % (size, keys_label(keys), rd), "< %g us" % (g / 1e3))
            lat = latency(z) if usable(z) else None
            if lat is None:
                not_measured(t)
                continue
            p999 = lat["p99.9"]
            t.measured = "p50 %s, p99 %s, p99.9 %s, max %s (%d samples)" % (
                ns(lat["p50"]), ns(lat["p99"]), ns(p999), ns(lat["max"]), lat["samples"])
            ok = p999 < g
            t.status = "PASS" if ok else "MISS"
            if ok:
                t.margin = "%s under" % ns(g - p999)
            else:
                t.margin = "%s over (%.1fx the limit)" % (ns(p999 - g), p999 / g)
                t.why = ("With R=%d readers plus the writer there are %d busy processes on "
                         "%d CPUs: a reader preempted in the middle of a timed read records "
                         "the scheduler's time slice, and a reader that meets a slot being "
                         "written retries until the writer's seqlock is even again; a "
                         "preempted writer holding a slot odd stalls readers of that slot."
                         % (rd, rd + 1, nproc))
            out.append(t)

    # 6. Torn reads.
    t = Target("Torn reads under a busy writer (every readers run, every key count and "
               "value size)", "%d" % GOAL_TORN_READS)
    zt = reads = runs = 0
    per_peer = {}
    for r in run.results:
        if r["phase"] != "readers" or not r.get("available"):
            continue
        runs += 1
        if r["peer"] == "zcipc":
            zt += r.get("torn", 0)
            reads += r.get("ops", 0)
        else:
            per_peer[r["peer"]] = per_peer.get(r["peer"], 0) + r.get("torn", 0)
    if runs == 0:
        not_measured(t, "no readers phase ran")
    else:
        peers = ", ".join("%s %d" % (p, n) for p, n in sorted(per_peer.items()))
        t.measured = "zcipc: %d torn in %d checked reads; peers: %s" % (
            zt, reads, peers or "none run")
        t.status = "PASS" if zt <= GOAL_TORN_READS else "MISS"
        t.margin = "" if zt <= GOAL_TORN_READS else "%d torn reads" % zt
        out.append(t)
    return out


# --------------------------------------------------------------- markdown


def repetition_spread(run):
    """The median and max of max/min - 1 over the results measured with
    several repetitions, and their phases; None if there are none."""
    spreads, phases = [], set()
    for r in run.results:
        reps = [x for x in (r.get("reps_ops_per_sec") or []) if x]
        if r.get("available") and len(reps) > 1:
            spreads.append(max(reps) / min(reps) - 1)
            phases.add(PHASE_WORDS.get(r["phase"], r["phase"]))
    if not spreads:
        return None
    return statistics.median(spreads), max(spreads), sorted(phases)


def phase_table(run, keys, size):
    cols = [run.phase_label(p) for p, _ in PHASES]
    cols += ["readers R=%d under a writer" % rd for rd in run.readers]
    lines = ["| configuration | " + " | ".join(cols) + " |",
             "|---|" + "---:|" * len(cols)]
    for row in run.rows:
        cells, any_ = [], False
        for p, _ in PHASES:
            r = run.find_row(row, keys, size, p)
            any_ |= r is not None
            cells.append(cell(r, True))
        for rd in run.readers:
            r = run.find_row(row, keys, size, "readers", rd)
            any_ |= r is not None
            cells.append(cell(r, False))
        if any_:
            lines.append("| %s | %s |" % (row[2], " | ".join(cells)))
    return lines


def readers_table(run, keys, size):
    lines = ["| configuration | R | readers' aggregate | per reader | reader CPU per read | "
             "p50 | p99 | p99.9 | max | latency samples | writer ops/s | torn | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in run.rows:
        for rd in run.readers:
            r = run.find_row(row, keys, size, "readers", rd)
            if r is None or not r.get("available"):
                continue
            c = ns(cpu(r)) + ("" if r.get("cpu_is_all_work", True) else " (client)")
            lat = latency(r)
            lat_cells = ([ns(lat["p50"]), ns(lat["p99"]), ns(lat["p99.9"]), ns(lat["max"]),
                          str(lat["samples"])] if lat else ["-"] * 5)
            errors = str(r.get("errors", 0)) + (" (%s)" % r["note"] if r.get("note") else "")
            lines.append("| %s | %d | %s/s | %s/s | %s | %s | %s/s | %d | %s |" % (
                row[2], rd, rate(r["ops_per_sec"]), rate(r.get("per_reader_ops_per_sec") or 0),
                c, " | ".join(lat_cells), rate(r.get("writer_ops_per_sec") or 0),
                r.get("torn", 0), errors))
    return lines


def markdown(run, chart_link):
    d, s, m = run.doc, run.settings, run.method
    nproc = run.machine["nproc"]
    out = []
    w = out.append
    w("# Multi-process comparison: zcipc and its peers\n")
    w("Generated by `bench/compare.sh` from `results.json` (the driver "
      "`//bench/compare:compare` measures, `bench/compare/render.py` writes this file and "
      "the chart); every figure below comes from that one run. Do not edit by hand: "
      "rerun, or re-render.\n")
    w("- **Date:** %s" % d["date"])
    w("- **Command:** `%s`" % d["command"])
    w("- **Machine:** `nproc` = %d, CPU: %s, %s RAM, kernel %s"
      % (nproc, run.machine["cpu_model"], run.memory(), run.machine["kernel"]))
    w("- **Peers:** %s" % run.versions())
    driver = "%.0f s (without setup and build)" % d["driver_seconds"]
    if d.get("setup_and_build_seconds") is not None:
        driver += "; setup and build before it: %.0f s" % d["setup_and_build_seconds"]
    w("- **Driver time:** " + driver)
    w("- **Load average** (%s min) at the start: %s; at the end: %s (the driver "
      "itself keeps up to %d processes busy; the rest is other work on the machine)"
      % (", ".join(str(x) for x in LOAD_AVERAGE_MINUTES), run.load("start"), run.load("end"),
         (max(run.readers) if run.readers else 0) + 1 + (1 if run.ran("Redis") else 0)))
    for sk in d.get("skipped", []):
        w("- **Skipped:** %s" % sk)
    w("")
    note = ("> The machine has %d CPUs and other work may run on it at the same time (see "
            "the load average)." % nproc)
    load = run.load_1min("start")
    if load is not None and load >= nproc:
        note += (" The %d-minute load average was %.2f at the start, at least the CPU count: "
                 "this run was made on a loaded machine." % (LOAD_AVERAGE_MINUTES[0], load))
    spread = repetition_spread(run)
    if spread:
        med, mx, phases = spread
        note += (" Within this run, the repetitions of one measurement (%s) differed "
                 "between their slowest and fastest by %.0f%% at the median and by up to "
                 "%.0f%%." % (", ".join(phases), med * 100, mx * 100))
    note += (" Ratios are measured in the same run (the single-process targets side by "
             "side, see \"Paired measurements\"), but a ratio near its limit can land on "
             "either side from one run to the next. Read them as approximate.\n")
    w(note)

    # Headline.
    hs = TARGET_SIZE
    hk = [k for k in run.keys if k in (TARGET_SMALL_KEYS, TARGET_LARGE_KEYS)]
    if not hk and run.keys:
        hk = [run.keys[0]]
    if hs in run.sizes and hk:
        w("## Headline (%d B values)\n" % hs)
        w("ops/s of one process (wall-clock ns per operation; CPU: the harness thread's CPU "
          "time per operation, where all the work is in the harness); readers: aggregate "
          "ops/s of R reader processes while one writer process updates continuously, with "
          "the readers' p99.9 latency.\n")
        mk = hk[0]
        rmax = run.readers[-1] if run.readers else 0
        cols = ["read hit %s" % keys_label(k) for k in hk]
        cols += ["update %s" % keys_label(k) for k in hk]
        cols += ["readers R=%d %s" % (rd, keys_label(mk)) for rd in run.readers]
        if rmax > 0:
            cols.append("p99.9 R=%d %s" % (rmax, keys_label(mk)))
        w("| configuration | " + " | ".join(cols) + " |")
        w("|---|" + "---:|" * len(cols))
        for row in run.rows:
            cells, any_ = [], False
            for phase in ("read_hit", "update"):
                for k in hk:
                    r = run.find_row(row, k, hs, phase)
                    any_ |= r is not None
                    cells.append(cell(r, True, True))
            for rd in run.readers:
                cells.append(cell(run.find_row(row, mk, hs, "readers", rd), False))
            if rmax > 0:
                r = run.find_row(row, mk, hs, "readers", rmax)
                if r is not None and r.get("available"):
                    lat = latency(r)
                    cells.append(ns(lat["p99.9"]) if lat else "-")
                else:
                    cells.append("N/A" if r is not None else "")
            if any_:
                w("| %s | %s |" % (row[2], " | ".join(cells)))
        w("")
    if chart_link:
        w("![ops/s per phase and configuration](%s)\n" % chart_link)

    # Targets.
    targets = evaluate_targets(run)
    w("## Targets\n")
    w("Ratios from this run (%d B values). `(info)` lines are context, not targets. The "
      "single-process targets are judged on the CPU time per operation of the harness "
      "thread (user + system, so the flock system calls count), which every in-process "
      "peer is measured with alike and which does not count the time the harness spends "
      "descheduled by other work on the machine; the wall-clock figures of the same run "
      "are shown next to them. The readers targets are wall-clock throughput and "
      "latency.\n" % TARGET_SIZE)
    w("| target | goal | measured | result | by how much |")
    w("|---|---|---|---|---|")
    for t in targets:
        w("| %s | %s | %s | **%s** | %s |" % (t.name, t.goal, t.measured, t.status, t.margin))
    misses = [t for t in targets if t.status.startswith("MISS") and t.why]
    if misses:
        w("\n### Why the misses\n")
        said = set()
        for t in misses:
            text = t.why if t.why not in said else "Same reason as above."
            said.add(t.why)
            w("- **%s** (%s). %s" % (t.name, t.margin, text))

    # Observations: readers starved by the writer.
    starved, runs, order = {}, {}, []
    for r in run.results:
        if r["phase"] != "readers" or not r.get("available") or r["peer"] == "Redis":
            continue
        alone = run.find(r["peer"], r["mode"], r["keys"], r["value_size"], "read_hit")
        if not usable(alone):
            continue
        if r["config"] not in runs:
            order.append(r["config"])
            runs[r["config"]] = 0
            starved[r["config"]] = []
        runs[r["config"]] += 1
        frac = r["ops_per_sec"] / alone["ops_per_sec"]
        if frac < STARVED_BELOW:
            starved[r["config"]].append("%s keys %d B R=%d: %s/s (%.2g%%)" % (
                keys_label(r["keys"]), r["value_size"], r["readers"], rate(r["ops_per_sec"]),
                100 * frac))
    if any(starved[c] for c in order):
        w("\n### Observations\n")
        w("Readers starved under the writer (aggregate under %s%% of the configuration's "
          "own single-process read rate):\n" % pct(STARVED_BELOW * 100))
        for c in order:
            if not starved[c]:
                continue
            line = "- **%s**, %d of %d runs: %s." % (c, len(starved[c]), runs[c],
                                                     "; ".join(starved[c]))
            if c.startswith("Boost.IPC"):
                line += (" Boost's `interprocess_sharable_mutex` prefers writers: a writer "
                         "that calls `lock()` sets its exclusive flag and new sharable locks "
                         "wait until it is done; this writer re-locks as soon as it unlocks, "
                         "so readers get in only in the gaps.")
            w(line)

    # Paired measurements.
    paired = [r for r in run.results if r["phase"].startswith("paired_")]
    if paired:
        w("\n## Paired measurements (the single-process targets)\n")
        sizes = sorted({r["value_size"] for r in paired})
        w("The floor and zcipc filled with the same data (%s B values) and their loops "
          "alternated repetition by repetition (median of each), the bare flock pair "
          "alternated with zcipc's Put the same way, so that both sides of each ratio see "
          "the same moments of the machine. The targets above use these.\n"
          % ", ".join(str(x) for x in sizes))
        w("| key count | configuration | measurement | ops/s | wall ns/op | CPU ns/op | "
          "reps (ops/s) |")
        w("|---|---|---|---:|---:|---:|---|")
        for keys in run.keys:
            for r in paired:
                if r["keys"] != keys:
                    continue
                reps = ", ".join(rate(x) for x in r.get("reps_ops_per_sec") or [])
                err = " **err %d**" % r["errors"] if r.get("errors") else ""
                if not r.get("available"):
                    w("| %s | %s | %s | N/A | | | %s |" % (
                        keys_label(keys), r["config"], paired_label(r), r.get("note", "")))
                    continue
                w("| %s | %s | %s | %s | %s | %s | %s%s |" % (
                    keys_label(keys), r["config"], paired_label(r), rate(r["ops_per_sec"]),
                    ns(wall_ns(r)), ns(cpu(r)), reps, err))

    # Full tables.
    w("\n## All results\n")
    w("Cells: ops/s (ns per operation). † = the one-at-a-time insert hit its time bound "
      "(%s) before inserting its half of the keys; the rest was then filled untimed. N/A = "
      "not applicable (see the notes). Readers columns: aggregate ops/s of the reader "
      "processes." % seconds(s["insert_seconds"]))
    sampled = "latency of %s" % sampled_reads(m)
    for keys in run.keys:
        w("\n### %s keys" % keys_label(keys))
        for size in run.sizes:
            w("\n#### %s keys, %d B values\n" % (keys_label(keys), size))
            out.extend(phase_table(run, keys, size))
            if any(r["keys"] == keys and r["value_size"] == size and r["phase"] == "readers"
                   and r.get("available") for r in run.results):
                w("\nReaders under one busy writer (%.2f s per run; %s, per read; batched "
                  "rows report throughput only):\n" % (s["mp_seconds"], sampled))
                out.extend(readers_table(run, keys, size))

    out.extend(method_section(run))
    return "\n".join(out) + "\n"


def paired_label(r):
    return "read hit" if r["phase"] == "paired_read_hit" else "update / lock pair"


def sampled_reads(method):
    n = method.get("latency_sample_every")
    if not n:
        return "a sample of reads"
    return "every read" if n == 1 else "every %s read" % ordinal(n)


def ordinal(n):
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return "%d%s" % (n, suffix)


def method_section(run):
    s, m = run.settings, run.method
    nproc = run.machine["nproc"]
    sizes = run.sizes
    size_words = (", ".join(str(x) for x in sizes[:-1]) + " or " + str(sizes[-1])
                  if len(sizes) > 1 else str(sizes[0]))
    keys = ("Keys `%s` of the key index" % m["key_format"]) if "key_format" in m \
        else "Keys made from the key index"
    payloads = ("one of %d fixed random strings" % m["payloads"]) if "payloads" in m \
        else "one of a set of fixed random strings"
    seq = ("one fixed-seed uniform random sequence of %s key indexes"
           % power_of_two(m["sequence_length"])) if "sequence_length" in m \
        else "one fixed-seed uniform random sequence of key indexes"
    verify = ("%d values are" % m["verify_values"]) if "verify_values" in m \
        else "a sample of values is"
    mixed = run.phase_label("mixed")
    n = m.get("mixed_update_one_in")
    mixed_what = (" (one operation in %d an update, chosen per position)" % n) if n else ""
    kept = m.get("latency_samples_per_reader")
    rmax = max(run.readers) if run.readers else 0
    redis = run.ran("Redis")
    lines = ["\n## Method\n"]
    if not m:
        lines.append("- **Constants of the method** (sequence length, sample sizes, the mixed "
                     "phase's share of updates) are not recorded in this run's results.json "
                     "(written before they were), so they are not stated below.")
    lines.append(
        "- **Workload.** %s; values of %s bytes: key index, generation, a payload (%s) and "
        "a check (XXH3 of the payload mixed with key and generation), so a value that mixes "
        "two writes, or belongs to another key, fails the check. Lookups walk %s; every "
        "peer and every phase uses the same sequence from the same start. Misses look up "
        "keys of indexes past the last key." % (keys, size_words, payloads, seq))
    lines.append(
        "- **Phases, in this order, per peer and data set.** insert: the first half of a "
        "fixed permutation one at a time (bounded to %s, the remainder then filled "
        "untimed), the second half in batches (unbounded); read hit; read miss; update "
        "(same-size values: in place where the store can); %s%s, the same choice for every "
        "peer; readers under a writer; erase (one at a time: part of the first half of "
        "another permutation, batched: part of the second half, each for the phase time). "
        "The readers phase runs before erase so that it sees the full data set."
        % (seconds(s["insert_seconds"]), mixed, mixed_what))
    lines.append(
        "- **Timing.** Each phase runs for %.2f s per repetition. read hit and update are "
        "the median of %d repetitions (continuing along the sequence); the other phases run "
        "once. Single-process phases time whole loops (ns/op is the inverse of the "
        "throughput); their reads "
        "copy the value out (zero-copy rows touch it in place) without checking it, and %s "
        "verified untimed after the insert and the mixed phases (failures count as "
        "errors)." % (s["phase_seconds"], s["reps"], verify))
    text = (
        "- **Readers under a writer.** One writer process and R reader processes are "
        "forked; each opens its own handle or connection and prefaults its mappings of the "
        "store, untimed (madvise MADV_POPULATE_READ, the writer _WRITE; only the used part "
        "of LMDB's map; nothing for Redis, whose client maps nothing), so that the timed "
        "window measures steady state rather than the first-touch page faults of a freshly "
        "mapped segment. Then, for %.2f s, the writer updates random keys continuously "
        "(same-size values; batched rows: batches of %d) while the readers read random "
        "keys, checking every value's check (torn = failed check). "
        % (s["mp_seconds"], s["batch"]))
    text += "The latency of %s is recorded" % sampled_reads(m)
    text += (" (clock_gettime around the call, so each sample includes the clock's own "
             "cost: an empty timed section measures %.0f ns at p50 here; zero-copy rows "
             "include the check, which runs inside the callback)"
             % run.doc["clock_overhead_ns_p50"])
    if kept:
        text += "; the most recent %s samples per reader are kept" % power_of_two(kept)
    if rmax:
        text += (". On this machine R=%d means %d busy processes%s on %d CPUs."
                 % (rmax, rmax + 1, (" (%d with redis-server)" % (rmax + 2)) if redis else "",
                    nproc))
    else:
        text += "."
    lines.append(text)
    lines.append(
        "- **Batches.** %d operations per batch: zcipc `Write` (lookups need no lock, so "
        "batched lookups are lock-free Gets and a mixed batch runs its Gets inside "
        "`Write`), LMDB one transaction per batch (read-only if the batch has no writes), "
        "Boost one lock hold per batch (sharable if no writes), Redis one pipeline per "
        "batch." % s["batch"])
    lines.append(
        "- **Peers.** floor: `absl::flat_hash_map<std::string, std::string>` in the "
        "driver's own memory (no sharing: multi-process phases N/A). zcipc: `Get` (copy), "
        "`Read` (zero-copy, its own rows for lookups; its writes are the Get/Put row's), "
        "`Put`, `Erase`, `Write`. LMDB: environment on /dev/shm, MDB_NOSYNC | "
        "MDB_WRITEMAP, one read transaction per get (a reset and renewed read-only handle) "
        "and one write transaction per put. Boost.Interprocess: `managed_shared_memory` "
        "holding a `boost::interprocess::map` of shared strings (an ordered tree) under an "
        "`interprocess_sharable_mutex`. Redis: `redis-server` started by the driver on a "
        "unix socket in a temporary directory (no TCP port, no persistence), hiredis, "
        "stopped by its pid at the end. The flock pair: `flock(LOCK_EX)` + "
        "`flock(LOCK_UN)` on a /dev/shm file, measured just before zcipc's phases on each "
        "data set.")
    lines.append(
        "- **Not tuned.** Every peer runs the same workload with the same settings; nothing "
        "was adjusted to favour any peer.")
    return lines


# ------------------------------------------------------------------ chart


def gnuplot_script(run, svg):
    size = TARGET_SIZE if TARGET_SIZE in run.sizes else (run.sizes[0] if run.sizes else None)
    if size is None:
        return None
    rows = [row for row in run.rows if row[0] != "flock"]
    columns = [(p, run.phase_label(p), 0) for p, _ in PHASES]
    columns += [("readers", "readers R=%d" % rd, rd) for rd in run.readers]
    panels = len(run.keys)
    g = []
    w = g.append
    w("set terminal svg size 1400,%d dynamic font 'sans,11' background '#ffffff'"
      % (120 + 460 * panels))
    w("set output '%s'" % svg.replace("'", "''"))
    w("set datafile separator '\\t'\nset datafile missing '?'")
    w("set style data histograms\nset style histogram clustered gap 1")
    w("set style fill solid 0.9 border rgb '#333333'\nset boxwidth 0.9")
    w("set logscale y\nset format y '10^{%L}'\nset ylabel 'ops/s (log scale)'")
    w("set grid ytics\nset key outside right top vertical font 'sans,10'")
    w("set xtics nomirror")
    for keys in run.keys:
        w("$d%d << EOD" % keys)
        w("\t".join(["phase"] + [row[2] for row in rows]))
        for phase, label, rd in columns:
            vals = []
            for row in rows:
                r = run.find_row(row, keys, size, phase, rd)
                vals.append(repr(float(r["ops_per_sec"])) if usable(r) else "?")
            w("\t".join([label] + vals))
        w("EOD")
    w("colors = '%s'" % " ".join(COLORS.get((row[0], row[1]), "#333333") for row in rows))
    w("set multiplot layout %d,1 title 'zcipc and peers: ops/s per phase, %d B values "
      "(%s, nproc=%d)'" % (panels, size, run.doc["date"], run.machine["nproc"]))
    for keys in run.keys:
        w("set title '%s keys'" % keys_label(keys))
        w("plot for [c=2:%d] $d%d using c:xtic(1) title columnheader(c) noenhanced "
          "lc rgb word(colors, c-1)" % (len(rows) + 1, keys))
    w("unset multiplot")
    return "\n".join(g) + "\n"


# ------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("json", help="results.json of a run of //bench/compare:compare")
    ap.add_argument("--md", help="write RESULTS.md here")
    ap.add_argument("--svg", help="draw the chart here with gnuplot")
    ap.add_argument("--chart-link", default=None,
                    help="the chart's path as RESULTS.md links it (default: --svg's "
                         "path relative to --md's directory; empty: no link)")
    ap.add_argument("--gnuplot-script", help="write the gnuplot script here")
    args = ap.parse_args(argv)

    with open(args.json) as f:
        run = Run(json.load(f))

    link = args.chart_link
    if link is None and args.svg and args.md:
        link = os.path.relpath(args.svg, os.path.dirname(os.path.abspath(args.md)))
    if args.md:
        text = markdown(run, link or "")
        with open(args.md, "w") as f:
            f.write(text)

    status = 0
    if args.svg or args.gnuplot_script:
        script = gnuplot_script(run, args.svg or "results.svg")
        if script is None:
            print("render: no data set to chart", file=sys.stderr)
            return 1
        path = args.gnuplot_script
        tmp = None
        if path is None:
            tmp = tempfile.NamedTemporaryFile("w", suffix=".gp", delete=False)
            path = tmp.name
            tmp.close()
        with open(path, "w") as f:
            f.write(script)
        if args.svg:
            gnuplot = shutil.which("gnuplot")
            if gnuplot is None:
                print("render: gnuplot is not installed (tools/setup.sh installs "
                      "gnuplot-nox): no chart", file=sys.stderr)
            else:
                p = subprocess.run([gnuplot, path], capture_output=True, text=True)
                if p.returncode != 0:
                    print("render: gnuplot %s failed:\n%s" % (path, p.stderr), file=sys.stderr)
                    status = 1
        if tmp is not None and status == 0:
            os.unlink(path)
    return status


if __name__ == "__main__":
    sys.exit(main())
