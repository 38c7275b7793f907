"""A multi-process round trip on the interpreter running it (the wheel test
for every CPython, python/tests/abi3_versions_test.sh): a spawned child
attaches to a dict it was handed and writes every kind of key and value
while the parent reads them, then the parent writes and a second child
checks what it reads. Exits non-zero (an AssertionError) on any mismatch.

    python abi3_roundtrip.py
"""

import multiprocessing
import os
import sys

from zero_copy_ipc import ZeroCopyDict

EXPECTED = {
    "str": "zürich",
    b"bytes": b"\x00\xff raw",
    7: 2**40,
    2.5: -1.25,
    (1, "t", None): None,
    "pickled": {"id": 1, "tags": ["a", "b"], "score": 0.5},
    "big": 2**100,
    "flag": True,
    "lone \ud800 surrogate": "value \udfff",  # not valid UTF-8
}


def write_all(d):
    for k, v in EXPECTED.items():
        d[k] = v
    for _ in range(10):
        d.add("counter", 3)
    with d.batch() as b:
        for i in range(100):
            b[f"batch{i}"] = i


def check_all(d):
    for k, v in EXPECTED.items():
        assert d[k] == v and type(d[k]) is type(v), (k, d[k], v)
    assert d[7.0] == 2**40 and d.get(True) is None  # 7 == 7.0; True == 1
    assert d["counter"] == 30, d["counter"]
    assert [d[f"batch{i}"] for i in range(100)] == list(range(100))
    assert len(d) == len(EXPECTED) + 1 + 100, len(d)


def check_methods(d):
    """The methods whose calling convention depends on the version (tuple
    arguments on 3.9, an array from 3.10 on: python/src/dict_type.cc)."""
    assert d.get("absent") is None and d.get("absent", 5) == 5
    assert d.setdefault("sd", [1]) == [1] and d.setdefault("sd", 2) == [1]
    assert d.compare_and_swap("sd", [1], "swapped")
    assert not d.compare_and_swap("sd", [1], "again")
    assert d.pop("sd") == "swapped" and d.pop("sd", "gone") == "gone"
    for method, args in ((d.get, ()), (d.get, (1, 2, 3)), (d.pop, ()),
                         (d.setdefault, (1, 2, 3, 4, 5)),
                         (d.compare_and_swap, (1, 2))):
        try:
            method(*args)
        except TypeError:
            continue
        raise AssertionError(f"{method.__name__}{args} did not raise")


def child_write(d):
    write_all(d)  # d arrives pickled as its name: the child attaches


def child_check(name, queue):
    try:
        with ZeroCopyDict.attach(name) as d:
            check_all(d)
            d["seen_by_child"] = os.getpid()
        queue.put("ok")
    except BaseException as e:  # reported to the parent
        queue.put(repr(e))


def main():
    ctx = multiprocessing.get_context("spawn")
    name = f"abi3_roundtrip_{os.getpid()}"
    with ZeroCopyDict.create(name, max_items=1000, heap_size=1 << 20) as d:
        writer = ctx.Process(target=child_write, args=(d,))
        writer.start()
        writer.join(60)
        assert writer.exitcode == 0, writer.exitcode
        check_all(d)  # what the child wrote, read here
        check_methods(d)

        d.clear()
        write_all(d)
        queue = ctx.Queue()
        reader = ctx.Process(target=child_check, args=(name, queue))
        reader.start()
        verdict = queue.get(timeout=60)
        reader.join(60)
        assert verdict == "ok", verdict
        assert d["seen_by_child"] == reader.pid
        d.check()
    assert not os.path.exists(f"/dev/shm/zcipc.{name}")
    print(f"round trip ok on Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
