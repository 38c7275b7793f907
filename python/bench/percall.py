"""Per-call cost (ns) of the package's hot paths, one process.

Each figure is the best of --reps timed loops of --n calls (the best, not
the median, because on a shared VM the noise only ever adds). Compare two
builds by running them alternately in one session and taking medians
(python/bench/compare_builds.py does).

    PYTHONPATH=<dir with zero_copy_ipc/> python3 percall.py [--json out.json]
"""

import argparse
import json
import os
import sys
import time

from zero_copy_ipc import ZeroCopyDict, encode_key


def timed(fn, n, reps):
    best = None
    for _ in range(reps):
        t = time.perf_counter()
        fn(n)
        dt = (time.perf_counter() - t) / n
        best = dt if best is None or dt < best else best
    return best * 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--only", help="run just this figure's loop, once, "
                                   "untimed (for an instruction count)")
    a = ap.parse_args()
    name = f"percall_{os.getpid()}"
    keys = [f"key_{i}" for i in range(1000)]
    with ZeroCopyDict.create(name, max_items=20000,
                             heap_size=64 << 20) as d:
        for i, k in enumerate(keys):
            d[k] = f"value_{i}"
        d["n"] = 0
        d["t"] = {"id": 1, "name": "user_1", "tags": ["a", "b", 1]}
        k0 = keys[7]
        v_str = "value_x"

        def get_item(n):
            for i in range(n):
                d[k0]

        def get_method(n):
            g = d.get
            for i in range(n):
                g(k0)

        def get_missing(n):
            g = d.get
            for i in range(n):
                g("absent", None)

        def contains(n):
            for i in range(n):
                k0 in d

        def length(n):
            for i in range(n):
                len(d)

        def set_str(n):
            for i in range(n):
                d[k0] = v_str

        def set_int(n):
            for i in range(n):
                d["n"] = i

        def get_pickled(n):
            for i in range(n):
                d["t"]

        def add1(n):
            a = d.add
            for i in range(n):
                a("n")

        def add2(n):
            a = d.add
            for i in range(n):
                a("n", 2)

        def cas(n):
            c = d.compare_and_swap
            for i in range(n):
                c(k0, v_str, v_str)

        def batch100(n):
            for j in range(n // 100):
                with d.batch() as b:
                    for i in range(100):
                        b[keys[i]] = i

        def keys_list(n):
            for j in range(n // 1000):
                d.keys()

        def encode(n):
            for i in range(n):
                encode_key(k0)

        figures = {}
        loops = (("d[k]", get_item), ("d.get(k)", get_method),
                          ("d.get(absent, None)", get_missing),
                          ("k in d", contains), ("len(d)", length),
                          ("d[k] = str", set_str), ("d[k] = int", set_int),
                          ("d[k] pickled", get_pickled),
                          ("d.add(k)", add1), ("d.add(k, 2)", add2),
                          ("compare_and_swap", cas),
                          ("batch write (per write)", batch100),
                          ("keys() (per key)", keys_list),
                          ("encode_key", encode))
        if a.only is not None:
            dict(loops)[a.only](a.n)
            return
        for label, fn in loops:
            figures[label] = timed(fn, a.n, a.reps)
            print(f"{label:<26} {figures[label]:8.1f} ns", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"python": sys.version.split()[0], "ns": figures}, f)


if __name__ == "__main__":
    main()
