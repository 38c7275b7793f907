"""The change feed from Python: change_seq(), wait_for_change() and
changes()."""

import multiprocessing
import os
import subprocess
import threading
import time

import pytest

import zero_copy_ipc
from zero_copy_ipc import ZeroCopyDict


def test_change_seq_counts_changes(d):
    assert d.change_seq() == 0
    d["a"] = 1
    d["a"] = 2
    d["b"] = b"x"
    del d["a"]
    assert d.change_seq() == 4
    d.add("n", 5)
    assert d.change_seq() == 5
    with pytest.raises(KeyError):
        del d["missing"]
    assert d.change_seq() == 5


def test_wait_for_change_returns_at_once_or_times_out(d):
    d["a"] = 1
    assert d.wait_for_change(0) == 1
    start = time.monotonic()
    with pytest.raises(TimeoutError) as e:
        d.wait_for_change(1, timeout=0.05)
    assert time.monotonic() - start >= 0.04
    assert d.name in str(e.value)
    with pytest.raises(ValueError):
        d.wait_for_change(0, timeout=-1)


def _writer(name, delay):
    time.sleep(delay)
    w = ZeroCopyDict.attach(name)
    w["k"] = "v"
    w.close()


def test_wait_for_change_wakes_on_another_process_and_releases_the_gil(d):
    ticks = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            ticks[0] += 1
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    p = multiprocessing.get_context("fork").Process(
        target=_writer, args=(d.name, 0.3))
    p.start()
    try:
        seq = d.wait_for_change(0, timeout=30)
    finally:
        stop.set()
        counter.join()
        p.join()
    assert seq == 1
    assert d["k"] == "v"
    # The counter thread ran while the main thread waited: the GIL was
    # released for the wait.
    assert ticks[0] >= 10


# --- the change feed: changes(since) ---------------------------------------


def _write_some(name):
    w = ZeroCopyDict.attach(name)
    w["a"] = 1                      # 1 put "a"
    w[2] = "x"                      # 2 put 2
    w[(1, "t")] = b""               # 3 put (1, "t")
    del w["a"]                      # 4 erase "a"
    w.add("n", 5)                   # 5 put "n"
    w[True] = "one"                 # 6 put 1 (True is the key 1, as in a dict)
    with w.batch() as b:
        b["p"] = 1                  # 7 put "p"
        del b[2]                    # 8 erase 2
    w.close()


EXPECTED = [(1, "put", "a"), (2, "put", 2), (3, "put", (1, "t")),
            (4, "erase", "a"), (5, "put", "n"), (6, "put", 1),
            (7, "put", "p"), (8, "erase", 2)]


def _in_child(target, *args):
    p = multiprocessing.get_context("fork").Process(target=target, args=args)
    p.start()
    p.join(60)
    assert p.exitcode == 0


def test_changes_from_another_process_in_order(d):
    _in_child(_write_some, d.name)
    changes = d.changes(0)
    assert changes == EXPECTED
    # Keys come back as the mapping decodes them (the canonical type).
    assert [type(k) for _, _, k in changes] == [str, int, tuple, str, str,
                                                int, str, int]
    assert d.change_seq() == 8


def test_changes_since_filters(d):
    _in_child(_write_some, d.name)
    for since in range(0, 9):
        assert d.changes(since) == EXPECTED[since:]
    assert d.changes(8) == []


def test_changes_kinds_of_atomic_operations(d):
    d["k"] = 1                                   # 1
    assert d.compare_and_swap("k", 1, 2)         # 2 put
    assert not d.compare_and_swap("k", 1, 3)     # not stored: no change
    assert d.pop("k") == 2                       # 3 erase
    assert d.setdefault("s", 0) == 0             # 4 put
    assert d.setdefault("s", 9) == 0             # present: no change
    d.clear()                                    # 5 erase
    assert d.changes(0) == [(1, "put", "k"), (2, "put", "k"),
                            (3, "erase", "k"), (4, "put", "s"),
                            (5, "erase", "s")]


def test_keys_the_cli_wrote_come_back_as_the_package_reads_them(d):
    # The CLI stores keys as their bytes: UTF-8 is a str key, as the
    # package stores str keys; a tagged key (0xFF ...) is the object.
    cli = os.environ["ZCIPC_CLI"]
    subprocess.run([cli, "put", d.name, "raw-key", "v"], check=True,
                   stdout=subprocess.DEVNULL)
    d[b"k"] = 1  # valid UTF-8 bytes: stored tagged, 0xFF 'b' k
    d["after"] = 1
    assert d.changes(0) == [(1, "put", "raw-key"), (2, "put", b"k"),
                            (3, "put", "after")]


def test_changes_arguments(d):
    with pytest.raises(TypeError):
        d.changes("0")
    with pytest.raises(TypeError):
        d.changes(True)
    with pytest.raises(OverflowError) as e:
        d.changes(-1)
    assert d.name in str(e.value)
    d.close()
    with pytest.raises(ValueError):
        d.changes(0)


def test_change_log_bytes_option(name):
    with ZeroCopyDict.create(name, change_log_bytes=5000) as d:
        assert d.stats()["change_log_bytes"] == 8192  # rounded up to 4096s
        assert d.stats()["oldest_retained_change"] == 0
        d["x"] = 1
        assert d.stats()["oldest_retained_change"] == 1
    with ZeroCopyDict.create(name) as d:
        assert d.stats()["change_log_bytes"] == 1 << 20  # the default
    for bad in (100, 2**33):
        with pytest.raises(ValueError):
            ZeroCopyDict.create(name, change_log_bytes=bad)
    with pytest.raises(ValueError):
        ZeroCopyDict.create(name, change_log_bytes=-1)
    with pytest.raises(TypeError):
        ZeroCopyDict.create(name, change_log_bytes=4096.0)


def test_changes_with_the_log_disabled_is_runtime_error(name):
    # FailedPrecondition, mapped as the package maps it (errors table).
    with ZeroCopyDict.create(name, change_log_bytes=0) as d:
        d["x"] = 1
        assert d.change_seq() == 1
        with pytest.raises(RuntimeError) as e:
            d.changes(0)
        assert not isinstance(e.value, zero_copy_ipc.ChangesLost)
        assert d.stats()["change_log_bytes"] == 0


def _churn(name, start, stop):
    """Puts and erases keys k0..k49 with 30-byte values until `stop` is set,
    then sets `done` (so the reader knows every change is in)."""
    w = ZeroCopyDict.attach(name)
    start.wait(30)
    i = 0
    while not stop.is_set() or i < 3000:
        k = f"k{i % 50}"
        if i % 7 == 3:
            w.pop(k, None)
        else:
            w[k] = f"{i:030d}"
        i += 1
    w.close()


def test_small_ring_raises_changes_lost_and_the_documented_resync(name):
    with ZeroCopyDict.create(name, change_log_bytes=4096) as d:
        for i in range(1000):   # far more than 4 KiB of changes
            d[f"fill{i}"] = i
        with pytest.raises(zero_copy_ipc.ChangesLost) as e:
            d.changes(0)
        lost = e.value
        assert isinstance(lost, LookupError)
        oldest = d.stats()["oldest_retained_change"]
        assert 1 < oldest <= 1000
        assert lost.since == 0 and lost.oldest_retained == oldest
        assert name in str(lost) and str(oldest) in str(lost)
        # From the oldest retained change on, the log still answers.
        assert d.changes(oldest - 1)[0] == (oldest, "put",
                                            f"fill{oldest - 1}")

        # The documented loop, against a writer in another process that
        # keeps overflowing the ring: ChangesLost -> seq = change_seq()
        # BEFORE the rescan -> items() -> continue with changes(seq).
        ctx = multiprocessing.get_context("fork")
        start, stop = ctx.Event(), ctx.Event()
        writer = ctx.Process(target=_churn, args=(name, start, stop))
        writer.start()
        mirror, seq, rescans, applied = {}, 0, 0, 0
        missing = object()
        try:
            start.set()
            churn_until = time.monotonic() + 1.5
            deadline = time.monotonic() + 60
            while writer.is_alive() and time.monotonic() < deadline:
                if time.monotonic() > churn_until:
                    stop.set()
                try:
                    batch = d.changes(seq)
                except zero_copy_ipc.ChangesLost:
                    seq = d.change_seq()
                    mirror = dict(d.items())
                    rescans += 1
                    continue
                for s, kind, key in batch:
                    value = d.get(key, missing)   # values are not in the log
                    if kind == "erase" or value is missing:
                        mirror.pop(key, None)
                    else:
                        mirror[key] = value
                    seq = s
                    applied += 1
        finally:
            stop.set()
            writer.join(60)
        assert writer.exitcode == 0
        # The writer is done: drain what is left (a rescan if the ring
        # wrapped again), then the mirror equals the dict.
        try:
            for s, kind, key in d.changes(seq):
                value = d.get(key, missing)
                if kind == "erase" or value is missing:
                    mirror.pop(key, None)
                else:
                    mirror[key] = value
        except zero_copy_ipc.ChangesLost:
            mirror = dict(d.items())
            rescans += 1
        assert rescans >= 1
        assert mirror == dict(d.items())
