"""Compares the per-call costs (percall.py) of two builds of the package,
run alternately in one session (A, B, A, B, ...) so that the machine's
drift hits both alike; prints the median of each figure and B/A.

    compare_builds.py DIR_A DIR_B [--rounds 7] [--python /usr/bin/python3]

Each DIR holds a zero_copy_ipc/ package directory with its extension.
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
    a = ap.parse_args()
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


if __name__ == "__main__":
    main()
