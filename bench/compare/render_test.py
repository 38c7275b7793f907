#!/usr/bin/env python3
"""Tests of bench/compare/render.py: every figure of the JSON it needs
reaches RESULTS.md, and no figure of RESULTS.md is fixed in the renderer.

    render_test.py [--json results.json]

Without --json it renders a synthetic results.json with distinctive values
(every peer and phase, the targets' data sets, readers runs, paired
measurements, a starved peer). With --json (compare_smoke_test.sh passes
the smoke run's) it runs the same checks on that file too.

"No fixed figure" is checked by perturbation: the JSON is rendered as is
and again twice with every figure changed (measurements, settings, the
method's constants, the machine; readers counts renumbered consistently;
key counts and value sizes kept, since they name the data sets and the
targets). A number that stays the same in the same place of a line of the
same shape in all three renders must be a key count, a value size, a number
inside one of the JSON's strings, a count of result rows, or one of
render.definitions() (the targets' goals): anything else is a number
written by the renderer itself.
"""

import argparse
import copy
import difflib
import json
import os
import random
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import render  # noqa: E402

NUMBER = re.compile(r"(?<![A-Za-z0-9_.^])\d+(?:\.\d+)?")

# Fields that name the data sets and the result rows, not figures.
STRUCTURAL = {"keys", "value_size", "value_sizes", "schema", "readers", "date_unix"}

JSON_FILE = None  # --json


def synthetic(seed=7):
    """A schema-2 results.json with every configuration of a full run at the
    targets' data sets, values drawn from a seeded generator."""
    rng = random.Random(seed)
    keys = [render.TARGET_SMALL_KEYS, render.TARGET_LARGE_KEYS]
    sizes = [render.TARGET_SIZE]
    readers = [1, 2]
    configs = [
        ("floor", "single", "floor (in-process flat_hash_map)", False),
        ("zcipc", "single", "zcipc Get/Put", True),
        ("zcipc", "read", "zcipc Read (zero-copy)/Put", True),
        ("zcipc", "batch", "zcipc Write x100 (gets lock-free)", True),
        ("LMDB", "single", "LMDB txn per op", True),
        ("LMDB", "batch", "LMDB txn per 100 ops", True),
        ("Boost.IPC", "single", "Boost.IPC lock per op", True),
        ("Boost.IPC", "batch", "Boost.IPC lock per 100 ops", True),
        ("Redis", "single", "Redis one at a time", True),
        ("Redis", "batch", "Redis pipelined x100", True),
    ]

    def timed(peer, mode, config, k, size, phase, reps, scale):
        rates = [rng.uniform(0.5, 1.5) * scale for _ in range(reps)]
        med = sorted(rates)[len(rates) // 2]
        cpus = [1e9 / x * rng.uniform(0.9, 1.0) for x in rates]
        return {"peer": peer, "config": config, "mode": mode, "keys": k, "value_size": size,
                "phase": phase, "readers": 0, "available": True,
                "ops": int(med * 0.15), "seconds": 0.15, "ops_per_sec": med,
                "ns_per_op": 1e9 / med, "cpu_ns_per_op": sorted(cpus)[len(cpus) // 2],
                "cpu_is_all_work": peer != "Redis", "reps_ops_per_sec": rates,
                "reps_cpu_ns_per_op": cpus, "time_bounded": phase == "insert" and peer == "Redis",
                "errors": 0, "torn": 0}

    results = []
    for k in keys:
        for size in sizes:
            scale = 1e7 if k == keys[0] else 1e6
            for peer, mode, config, mp in configs:
                if peer == "zcipc" and mode == "single":
                    results.append(timed("flock", "single", "bare flock pair (reference)", k,
                                         size, "update", 3, 1e6))
                for phase, _ in render.PHASES:
                    if mode == "read" and phase in ("insert", "update", "erase"):
                        results.append({"peer": peer, "config": config, "mode": mode, "keys": k,
                                        "value_size": size, "phase": phase, "readers": 0,
                                        "available": False, "note": "writes: the Get/Put row"})
                        continue
                    reps = 3 if phase in ("read_hit", "update") else 1
                    s = scale * (1e-3 if peer == "Redis" else 1)
                    results.append(timed(peer, mode, config, k, size, phase, reps, s))
                for rd in readers:
                    if not mp:
                        results.append({"peer": peer, "config": config, "mode": mode, "keys": k,
                                        "value_size": size, "phase": "readers", "readers": rd,
                                        "available": False, "note": "in-process only"})
                        continue
                    agg = scale * rng.uniform(0.3, 1.2) * (1e-3 if peer in ("Boost.IPC", "Redis")
                                                           else 1)
                    r = {"peer": peer, "config": config, "mode": mode, "keys": k,
                         "value_size": size, "phase": "readers", "readers": rd,
                         "available": True, "ops": int(agg * 0.5), "seconds": 0.5,
                         "ops_per_sec": agg, "reader_cpu_ns_per_read": 1e9 / agg * rd,
                         "per_reader_ops_per_sec": agg / rd,
                         "writer_ops_per_sec": scale * rng.uniform(0.01, 0.1),
                         "cpu_is_all_work": peer != "Redis", "reps_ops_per_sec": [agg],
                         "reps_cpu_ns_per_op": [1e9 / agg * rd], "time_bounded": False,
                         "errors": 0, "torn": 0}
                    if mode != "batch":
                        r["latency_ns"] = {"p50": rng.uniform(80, 900),
                                           "p99": rng.uniform(900, 3000),
                                           "p99.9": rng.uniform(1000, 9000),
                                           "max": rng.uniform(1e5, 5e6),
                                           "samples": rng.randint(1000, 900000)}
                    results.append(r)
            for peer, mode, config, phase in (
                ("floor", "single", "floor (in-process flat_hash_map)", "paired_read_hit"),
                ("zcipc", "single", "zcipc Get/Put", "paired_read_hit"),
                ("zcipc", "read", "zcipc Read (zero-copy)/Put", "paired_read_hit"),
                ("flock", "single", "bare flock pair (reference)", "paired_update"),
                ("zcipc", "single", "zcipc Get/Put", "paired_update"),
            ):
                results.append(timed(peer, mode, config, k, size, phase, 5,
                                     scale if phase == "paired_read_hit" else 1e6))
    return {
        "schema": 2, "date": "2031-07-19 08:41:27 UTC", "date_unix": 1942296087,
        "command": "bench/compare.sh --synthetic",
        "machine": {"nproc": 3, "cpu_model": "Test CPU", "kernel": "Linux test",
                    "memory_bytes": 13 * (1 << 30) + 12345},
        "versions": ["zcipc (this tree)", "LMDB 0.9.77", "Boost 1.83.0", "Redis server v=9.9.9"],
        "driver_seconds": 287.3, "setup_and_build_seconds": 41.0,
        "clock_overhead_ns_p50": 27.0,
        "load_average_start": [3.21, 2.43, 1.87], "load_average_end": [4.56, 3.12, 2.09],
        "settings": {"phase_seconds": 0.15, "insert_seconds": 1.5, "mp_seconds": 0.5,
                     "reps": 3, "paired_reps": 5, "batch": 100, "readers": readers,
                     "multi_process": True, "keys": keys, "value_sizes": sizes,
                     "peers": ["floor", "zcipc", "lmdb", "boost", "redis"]},
        "method": {"key_format": "key:%08d", "payloads": 256, "sequence_length": 1 << 20,
                   "mixed_update_one_in": 10, "verify_values": 4096,
                   "latency_sample_every": 4, "latency_samples_per_reader": 1 << 20},
        "skipped": [],
        "results": results,
    }


def perturb(doc, seed):
    """A copy of doc with every figure changed and the structure kept."""
    rng = random.Random(seed)
    reader_map = {r: r + 2 for r in doc["settings"]["readers"]}

    def walk(v, key):
        if isinstance(v, bool) or isinstance(v, str) or v is None:
            return v
        if isinstance(v, dict):
            return {k: walk(x, k) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, key) for x in v]
        if key == "readers":
            return reader_map.get(v, v)
        if key in STRUCTURAL:
            return v
        if isinstance(v, int):
            return int(v * rng.uniform(1.2, 1.9)) + rng.randint(3, 9)
        return v * rng.uniform(1.2, 1.9) + rng.uniform(1, 2)

    out = walk(copy.deepcopy(doc), None)
    # Every configuration's figures move by their own factor too, so that
    # ratios between configurations change.
    factor = {}
    for r in out["results"]:
        f = factor.setdefault(r["config"], rng.uniform(1.3, 3.0))
        for k in ("ops_per_sec", "cpu_ns_per_op", "reader_cpu_ns_per_read"):
            if isinstance(r.get(k), float):
                r[k] *= f
    return out


def render_md(doc):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "results.json")
        with open(path, "w") as f:
            json.dump(doc, f)
        md = os.path.join(d, "RESULTS.md")
        assert render.main([path, "--md", md, "--chart-link", "results.svg"]) == 0
        with open(md) as f:
            return f.read()


def allowed_numbers(doc):
    allowed = set()
    for text in render.definitions():
        allowed.update(NUMBER.findall(text))

    def walk(v, key):
        if isinstance(v, str):
            allowed.update(NUMBER.findall(v))
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, k)
        elif isinstance(v, list):
            for x in v:
                walk(x, key)
        elif key in ("keys", "value_size", "value_sizes") and not isinstance(v, bool):
            allowed.add(str(v))
            allowed.update(NUMBER.findall(render.keys_label(v)))
    walk(doc, None)
    # Counts of result rows (which perturbing the figures cannot change):
    # a configuration's readers runs, in the observations.
    runs = {}
    for r in doc["results"]:
        if r["phase"] == "readers" and r.get("available"):
            runs[r["config"]] = runs.get(r["config"], 0) + 1
    allowed.update(str(n) for n in runs.values())
    return allowed


def fixed_numbers(doc):
    """Numbers that stay put in every render and are not allowed."""
    a = render_md(doc).splitlines()
    # Five perturbations: a small derived figure (a 0.1% share) can round to
    # the same text under one or two of them by chance, not under all five.
    others = [render_md(perturb(doc, seed)).splitlines()
              for seed in (1, 2, 3, 4, 5)]
    shape = lambda line: NUMBER.sub("#", line)
    stable = None
    for b in others:
        sm = difflib.SequenceMatcher(None, [shape(x) for x in a], [shape(x) for x in b],
                                     autojunk=False)
        same = set()
        for block in sm.get_matching_blocks():
            for i in range(block.size):
                la, lb = a[block.a + i], b[block.b + i]
                for j, (x, y) in enumerate(zip(NUMBER.findall(la), NUMBER.findall(lb))):
                    if x == y:
                        same.add((block.a + i, j, x))
        stable = same if stable is None else stable & same
    allowed = allowed_numbers(doc)
    return sorted((i + 1, x, a[i]) for i, j, x in stable if x not in allowed)


class RenderTest(unittest.TestCase):
    def docs(self):
        docs = [("synthetic", synthetic())]
        if JSON_FILE:
            with open(JSON_FILE) as f:
                docs.append((JSON_FILE, json.load(f)))
        return docs

    def test_figures_reach_the_markdown(self):
        for name, doc in self.docs():
            md = render_md(doc)
            run = render.Run(doc)
            with self.subTest(doc=name):
                self.assertIn(doc["date"], md)
                self.assertIn(run.load("start"), md)
                self.assertIn(run.load("end"), md)
                self.assertIn("`nproc` = %d" % doc["machine"]["nproc"], md)
                for r in doc["results"]:
                    if r["phase"].startswith("paired_"):
                        want = render.rate(r["ops_per_sec"]) if r["available"] else "N/A"
                    elif r["phase"] == "readers":
                        want = render.cell(r, False)
                    else:
                        want = render.cell(r, True)
                    self.assertIn("| %s |" % r["config"], md)
                    self.assertIn(want, md, "%s %s %d keys R=%d" % (
                        r["config"], r["phase"], r["keys"], r["readers"]))
                    lat = render.latency(r)
                    if lat:
                        self.assertIn(render.ns(lat["p99.9"]), md)
                        self.assertIn(str(lat["samples"]), md)

    def test_distinctive_values(self):
        doc = synthetic()
        z = next(r for r in doc["results"] if r["config"] == "zcipc Get/Put"
                 and r["phase"] == "read_hit" and r["keys"] == render.TARGET_SMALL_KEYS)
        f = next(r for r in doc["results"] if r["peer"] == "floor"
                 and r["phase"] == "paired_read_hit" and r["keys"] == render.TARGET_SMALL_KEYS)
        zp = next(r for r in doc["results"] if r["config"] == "zcipc Get/Put"
                  and r["phase"] == "paired_read_hit" and r["keys"] == render.TARGET_SMALL_KEYS)
        z["ops_per_sec"] = 31415926.0
        z["cpu_ns_per_op"] = 27.1828
        f["cpu_ns_per_op"], zp["cpu_ns_per_op"] = 61.0, 77.0
        doc["clock_overhead_ns_p50"] = 43.0
        doc["settings"]["batch"] = 137
        doc["method"]["verify_values"] = 5113
        md = render_md(doc)
        self.assertIn("31.42M (32 ns; CPU 27 ns)", md)
        self.assertIn("CPU: zcipc 77 ns vs floor 61 ns = **1.26x**", md)
        self.assertIn("an empty timed section measures 43 ns", md)
        self.assertIn("Write of 137 Puts", md)
        self.assertIn("batches of 137", md)
        self.assertIn("5113 values are verified", md)

    def test_no_fixed_figures(self):
        for name, doc in self.docs():
            with self.subTest(doc=name):
                bad = fixed_numbers(doc)
                self.assertEqual(bad, [], "numbers that do not come from the JSON:\n" +
                                 "\n".join("line %d: %s in: %s" % b for b in bad[:20]))

    def test_the_check_catches_a_fixed_figure(self):
        # The perturbation check itself: a sentence with a number of its own
        # is reported.
        original = render.method_section
        try:
            render.method_section = lambda run: original(run) + [
                "- A Get takes about 337 instructions."]
            bad = fixed_numbers(synthetic())
        finally:
            render.method_section = original
        self.assertIn("337", [x for _, x, _ in bad])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--json")
    args, rest = ap.parse_known_args()
    JSON_FILE = args.json
    unittest.main(argv=[sys.argv[0]] + rest)
