"""Lock-free reads that meet an entry a live but stopped writer left
half-written: they give up after lock_timeout with TimeoutError naming the
dict and the writer's pid, and let other Python threads run while they wait
(the GIL is released once the wait is past its spin phase)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from zero_copy_ipc import ZeroCopyDict, encode_key, encode_value


def stall_writer_path():
    """//tests/tools:stall_writer, from python/BUILD.bazel's env or the
    runfiles tree (the test runs from the workspace's runfiles root)."""
    for path in (os.environ.get("ZCIPC_STALL_WRITER"),
                 os.path.join("tests", "tools", "stall_writer")):
        if path and os.access(path, os.X_OK):
            return os.path.abspath(path)
    pytest.skip("//tests/tools:stall_writer not built (run under bazel test)")


def wait_until_stopped(proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"stall_writer exited {proc.returncode}: "
                                 f"{proc.stderr.read()}")
        with open(f"/proc/{proc.pid}/status") as f:
            if "State:\tT" in f.read():
                return
        time.sleep(0.01)
    raise AssertionError("stall_writer did not stop")


# Runs in a child interpreter: a reader thread does each lock-free read of
# the stalled key while the main thread counts; prints what happened. In a
# child so that a read that never gives up (or keeps the GIL) fails the test
# by a timeout instead of hanging it.
READER = textwrap.dedent("""
    import json, sys, threading, time
    from zero_copy_ipc import ZeroCopyDict

    name, lock_timeout = sys.argv[1], float(sys.argv[2])
    d = ZeroCopyDict.attach(name, lock_timeout=lock_timeout)
    # Each op runs in a new thread. The wait hooks stay installed on a
    # thread once it has read: "read_again" waits in a thread that has
    # read before, "read_after_pop" after a pop too (every read of a thread
    # shares one state); "iter_after_read" walks (with the GIL released,
    # where the hooks must do nothing) in a thread that has read before.
    ops = {
        "getitem": lambda: d["k"],
        "get": lambda: d.get("k"),
        "contains": lambda: "k" in d,
        "pop": lambda: d.pop("k"),
        "iter": lambda: list(d),
        "read_again": lambda: (d["other"], d["k"]),
        "read_after_pop": lambda: (d["other"], d.pop("absent", None), d["k"]),
        "iter_after_read": lambda: (d["other"], list(d)),
    }
    results = {}
    for op, call in ops.items():
        out = {}
        def read():
            started = time.monotonic()
            try:
                out["value"] = repr(call())
            except BaseException as e:
                out["type"] = type(e).__name__
                out["message"] = str(e)
            out["elapsed"] = time.monotonic() - started
        t = threading.Thread(target=read)
        ticks = 0
        t.start()
        while t.is_alive():  # this thread runs only if the reader lets it
            ticks += 1
            time.sleep(0.005)
        t.join()
        out["ticks"] = ticks
        results[op] = out
    print(json.dumps(results), flush=True)
""")


def test_read_of_a_stalled_entry_times_out_and_releases_the_gil(name):
    stall_writer = stall_writer_path()
    lock_timeout = 1.0
    # new is bytes: the stall writer stores untyped values (kBytes).
    old, new = "x" * 1000, b"y" * 500
    with ZeroCopyDict.create(name, max_items=100, heap_size=1 << 20) as d:
        d["k"] = old
        d["other"] = 1
        writer = subprocess.Popen(
            [stall_writer, name, encode_key("k"),
             encode_value(new)[0]],
            stderr=subprocess.PIPE, text=False)
        try:
            wait_until_stopped(writer)
            try:
                reader = subprocess.run(
                    [sys.executable, "-c", READER, name, str(lock_timeout)],
                    capture_output=True, text=True, timeout=60,
                    env=os.environ.copy())
            except subprocess.TimeoutExpired:
                pytest.fail("a read of the stalled entry never gave up")
            assert reader.returncode == 0, reader.stderr
            results = json.loads(reader.stdout)
            for op, r in results.items():
                assert r.get("type") == "TimeoutError", (op, r)
                assert name in r["message"], (op, r)
                assert str(writer.pid) in r["message"], (op, r)
                assert r["elapsed"] >= lock_timeout * 0.9, (op, r)
                # The main thread kept running while the reader waited.
                assert r["ticks"] >= 10, (op, r)
            # Other keys read as usual meanwhile.
            assert d["other"] == 1
        finally:
            writer.send_signal(signal.SIGKILL)
            writer.wait(30)
        # A dead writer: the next read repairs the entry (the in-place
        # update was staged, so it rolls forward).
        assert d["k"] == new
        assert "k" in d and d.get("k") == new
        d.check()
