"""Several processes on one dict: multiprocessing with fork and spawn."""

import hashlib
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from zero_copy_ipc import ZeroCopyDict

CONTEXTS = ["fork", "spawn"]


# --- children (module level, so spawn can import them) ---------------------

def _writer(name, wid, n):
    d = ZeroCopyDict.attach(name)
    for i in range(n):
        d[f"w{wid}:{i}"] = {"writer": wid, "i": i}
        d[(wid, i)] = i * 1.5
    d.close()


def _incrementer(name, n, use_cas):
    d = ZeroCopyDict.attach(name)
    for _ in range(n):
        if use_cas:
            while True:
                cur = d["cas"]
                if d.compare_and_swap("cas", cur, cur + 1):
                    break
        else:
            d.add("counter", 1)
    d.close()


def _reader_of_keys(name, queue):
    d = ZeroCopyDict.attach(name)
    # Keys written by the parent under other spellings of the same key.
    queue.put([d[1.0], d[True], d[(2.0, "x")], d["s"], d[b"s"]])
    d.close()


def _handle_passed(d, queue):
    # `d` arrived pickled (spawn) or inherited (fork).
    d["from_child"] = os.getpid()
    queue.put((d.is_owner, d["from_parent"]))
    d.close()   # not the owner in the child: must not remove the dict


def _make_value(key, gen):
    body = f"{key}|{gen}|" + "x" * (gen % 300)
    digest = hashlib.blake2b(body.encode(), digest_size=8).hexdigest()
    return f"{body}|{digest}"


def _check_value(key, value):
    body, _, digest = value.rpartition("|")
    k, gen, _ = body.split("|", 2)
    ok = (k == key and
          hashlib.blake2b(body.encode(), digest_size=8).hexdigest() == digest)
    return ok, int(gen)


def _checked_writer(name, keys, seconds):
    d = ZeroCopyDict.attach(name)
    gen = 1
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for k in keys:
            d[k] = _make_value(k, gen)
        gen += 1
    d.close()


def _checked_reader(name, keys, seconds, queue):
    d = ZeroCopyDict.attach(name)
    torn = reads = backwards = 0
    last = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for k in keys:
            ok, gen = _check_value(k, d[k])
            reads += 1
            torn += not ok
            backwards += gen < last.get(k, 0)
            last[k] = gen
    queue.put((reads, torn, backwards))
    d.close()


# --- tests -----------------------------------------------------------------

@pytest.mark.parametrize("method", CONTEXTS)
def test_writers_in_children_visible_to_all(name, method):
    ctx = mp.get_context(method)
    with ZeroCopyDict.create(name, max_items=5000,
                             heap_size=16 << 20) as d:
        procs = [ctx.Process(target=_writer, args=(name, w, 200))
                 for w in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
        assert len(d) == 4 * 200 * 2
        for w in range(4):
            for i in range(200):
                assert d[f"w{w}:{i}"] == {"writer": w, "i": i}
                assert d[(w, float(i))] == i * 1.5
        d.check()


@pytest.mark.parametrize("method", CONTEXTS)
def test_atomic_counter_across_8_processes(name, method):
    ctx = mp.get_context(method)
    with ZeroCopyDict.create(name, max_items=100, heap_size=1 << 20) as d:
        d["cas"] = 0
        procs = [ctx.Process(target=_incrementer, args=(name, 300, i % 2))
                 for i in range(8)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
            assert p.exitcode == 0
        assert d["counter"] == 4 * 300     # add()
        assert d["cas"] == 4 * 300         # compare_and_swap retry loops


@pytest.mark.parametrize("method", CONTEXTS)
def test_equal_keys_found_from_another_process(name, method):
    ctx = mp.get_context(method)
    q = ctx.Queue()
    with ZeroCopyDict.create(name, max_items=100, heap_size=1 << 20) as d:
        d[1] = "one"
        d[(2, "x")] = "tuple"
        d["s"] = "str"
        d[b"s"] = "bytes"
        p = ctx.Process(target=_reader_of_keys, args=(name, q))
        p.start()
        got = q.get(timeout=60)
        p.join(60)
        assert got == ["one", "one", "tuple", "str", "bytes"]


@pytest.mark.parametrize("method", CONTEXTS)
def test_handle_passed_to_a_child(name, method):
    ctx = mp.get_context(method)
    q = ctx.Queue()
    with ZeroCopyDict.create(name, max_items=100, heap_size=1 << 20) as d:
        d["from_parent"] = "hello"
        p = ctx.Process(target=_handle_passed, args=(d, q))
        p.start()
        is_owner, seen = q.get(timeout=60)
        p.join(60)
        assert p.exitcode == 0
        assert (is_owner, seen) == (False, "hello")
        assert d["from_child"] == p.pid
        assert os.path.exists(f"/dev/shm/zcipc.{name}")


@pytest.mark.parametrize("method", CONTEXTS)
def test_readers_never_see_torn_values(name, method):
    ctx = mp.get_context(method)
    keys = [f"key:{i:08d}" for i in range(64)]
    q = ctx.Queue()
    with ZeroCopyDict.create(name, max_items=1000, heap_size=8 << 20) as d:
        for k in keys:
            d[k] = _make_value(k, 0)
        writer = ctx.Process(target=_checked_writer, args=(name, keys, 2.0))
        readers = [ctx.Process(target=_checked_reader,
                               args=(name, keys, 2.0, q)) for _ in range(2)]
        for p in [writer] + readers:
            p.start()
        results = [q.get(timeout=120) for _ in readers]
        for p in [writer] + readers:
            p.join(60)
            assert p.exitcode == 0
        reads = sum(r[0] for r in results)
        torn = sum(r[1] for r in results)
        backwards = sum(r[2] for r in results)
        assert reads > 1000
        assert torn == 0 and backwards == 0, results
        d.check()


def _hold_lock_in_child(name, seconds):
    """Starts a process that holds the dict's writer lock for `seconds`: a
    compare_and_swap whose comparison (run with the lock held) sleeps.
    Returns once the lock is held."""
    script = textwrap.dedent(f"""
        import time
        from zero_copy_ipc import ZeroCopyDict
        class SlowEq:
            def __eq__(self, other):
                print("holding", flush=True)
                time.sleep({seconds})
                return False
        d = ZeroCopyDict.attach({name!r})
        d.compare_and_swap("k", SlowEq(), 1)
    """)
    child = subprocess.Popen([sys.executable, "-c", script],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "holding"
    return child


def test_lock_timeout_is_timeout_error(name):
    """Another process holds the writer lock: our write gives up after
    lock_timeout with TimeoutError; reads carry on meanwhile."""
    with ZeroCopyDict.create(name, max_items=100, heap_size=1 << 20) as d:
        d["k"] = "v"
        child = _hold_lock_in_child(name, 3)
        try:
            impatient = ZeroCopyDict.attach(name, lock_timeout=0.3)
            start = time.monotonic()
            with pytest.raises(TimeoutError) as e:
                impatient["other"] = 1
            assert 0.25 < time.monotonic() - start < 2.5
            assert name in str(e.value)
            assert impatient["k"] == "v"   # reads never take the lock
            impatient.close()
        finally:
            child.wait(30)
        assert child.returncode == 0
        d["other"] = 2                     # lock free again


def test_threads_run_while_one_waits_for_the_lock(name):
    """A thread waiting for the writer lock releases the GIL."""
    with ZeroCopyDict.create(name, max_items=100, heap_size=1 << 20) as d:
        d["k"] = "v"
        child = _hold_lock_in_child(name, 1.5)
        done = threading.Event()
        t = threading.Thread(target=lambda: (d.__setitem__("w", 1),
                                             done.set()))
        t.start()
        ticks = 0
        while not done.is_set():    # this thread keeps running meanwhile
            ticks += 1
            time.sleep(0.01)
        t.join()
        child.wait(30)
        assert d["w"] == 1
        assert ticks > 20


def test_creator_exit_without_close_removes_the_dict(name):
    script = textwrap.dedent(f"""
        from zero_copy_ipc import ZeroCopyDict
        d = ZeroCopyDict.create({name!r}, max_items=100, heap_size=1 << 20)
        d["k"] = 1
        print("created", flush=True)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "created", out.stderr
    assert not os.path.exists(f"/dev/shm/zcipc.{name}")


def _killed_writer(name):
    d = ZeroCopyDict.attach(name)
    i = 0
    while True:
        d[f"k{i % 500}"] = b"v" * (i % 20000)
        i += 1


def test_writer_killed_mid_write_leaves_a_consistent_dict(name):
    ctx = mp.get_context("fork")
    with ZeroCopyDict.create(name, max_items=1000, heap_size=32 << 20) as d:
        for round_ in range(10):
            p = ctx.Process(target=_killed_writer, args=(name,))
            p.start()
            time.sleep(0.05 + 0.02 * round_)
            os.kill(p.pid, signal.SIGKILL)
            p.join(30)
            d[f"after{round_}"] = round_    # repairs if needed, then writes
            d.check()
        for k, v in d.items():
            if isinstance(k, str) and k.startswith("k"):
                assert v == b"v" * len(v)
        assert d["after9"] == 9


def test_forked_child_exiting_normally_keeps_the_parents_dict(name):
    """A plain os.fork() child inherits the owner handle and the atexit hook;
    its close() and its normal exit must not remove the parent's dict."""
    script = textwrap.dedent(f"""
        import os, sys
        from zero_copy_ipc import ZeroCopyDict
        d = ZeroCopyDict.create({name!r}, max_items=100, heap_size=1 << 20)
        d["k"] = "v"
        pid = os.fork()
        if pid == 0:
            assert not d.is_owner
            d.close()
            sys.exit(0)          # runs atexit in the child
        _, status = os.waitpid(pid, 0)
        assert status == 0, status
        assert os.path.exists("/dev/shm/zcipc.{name}")
        assert ZeroCopyDict.attach({name!r})["k"] == "v"
        print("parent ok", flush=True)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "parent ok", out.stderr
    assert not os.path.exists(f"/dev/shm/zcipc.{name}")  # parent's exit
