"""Compares the per-call costs (percall.py) of two builds of the package,
run alternately in one session (A, B, A, B, ...) so that the machine's
drift hits both alike; prints the median of each figure and B/A.

    compare_builds.py DIR_A DIR_B [--rounds 7] [--python /usr/bin/python3]
    compare_builds.py DIR_A DIR_B --instructions

Each DIR holds a zero_copy_ipc/ package directory with its extension.

--instructions counts instructions instead of timing (valgrind's
callgrind, PYTHONHASHSEED=0): per call = (instructions of 3n calls - of n
calls) / 2n, which cancels start-up and set-up. Deterministic, so it shows
a difference of 1% that wall-clock time on a busy machine cannot; it
includes the Python loop around each call, as the timed figures do.
Slow: about 10 minutes for every figure of both builds.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--instructions", action="store_true")
    a = ap.parse_args()
    if a.instructions:
        instructions(a)
        return
    runs = ([], [])  # per round: A's figures, B's figures
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        for r in range(a.rounds):
            for d, figures in ((a.a, runs[0]), (a.b, runs[1])):
                env = dict(os.environ, PYTHONPATH=d)
                subprocess.run([a.python, os.path.join(HERE, "percall.py"),
                                "--n", str(a.n), "--reps", "3", "--json",
                                out], env=env, check=True,
                               stdout=subprocess.DEVNULL)
                with open(out) as f:
                    figures.append(json.load(f)["ns"])
            print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    print(f"{'per call (ns, median of ' + str(a.rounds) + ')':<30}"
          f"{'A':>9}{'B':>9}{'B/A':>8}")
    for label in runs[0][0]:
        ma = statistics.median(x[label] for x in runs[0])
        mb = statistics.median(x[label] for x in runs[1])
        print(f"{label:<30}{ma:9.1f}{mb:9.1f}{mb / ma:8.3f}")


LABELS = ("d[k]", "d.get(k)", "d.get(absent, None)", "k in d", "len(d)",
          "d[k] = str", "d[k] = int", "d[k] pickled", "d.add(k)",
          "d.add(k, 2)", "compare_and_swap", "batch write (per write)",
          "keys() (per key)", "encode_key")


def count(python, d, label, n):
    env = dict(os.environ, PYTHONPATH=d, PYTHONHASHSEED="0")
    r = subprocess.run(["valgrind", "--tool=callgrind",
                        "--callgrind-out-file=/dev/null", python,
                        os.path.join(HERE, "percall.py"), "--only", label,
                        "--n", str(n)], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    for line in r.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split(":")[-1])
    raise RuntimeError("no callgrind total in:\n" + r.stderr)


def instructions(a):
    n = 10000
    print(f"{'instructions per call':<30}{'A':>9}{'B':>9}{'B/A':>8}")
    for label in LABELS:
        per = [(count(a.python, d, label, 3 * n) -
                count(a.python, d, label, n)) / (2 * n) for d in (a.a, a.b)]
        print(f"{label:<30}{per[0]:9.0f}{per[1]:9.0f}{per[1] / per[0]:8.3f}",
              flush=True)


if __name__ == "__main__":
    main()
