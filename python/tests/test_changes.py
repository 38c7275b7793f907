"""The change feed's number from Python: change_seq() and wait_for_change()."""

import multiprocessing
import threading
import time

import pytest

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
