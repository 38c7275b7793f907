"""Online growth: auto_grow (a full dict grows on a write, per handle),
reserve() (grows now, never shrinks, None keeps a figure), max_segment_size,
and the growth figures stats() reports."""

import pytest

from zero_copy_ipc import TableFullError, ZeroCopyDict


def test_auto_grow_is_the_default(name):
    with ZeroCopyDict.create(name, max_items=16, heap_size=1 << 20) as d:
        before = d.stats()
        assert before["max_items"] == 16 and before["grows_total"] == 0
        n = 5000  # far past max_items, and past the 1 MiB heap
        for i in range(n):
            d[i] = ("value", i, b"x" * 300)
        assert len(d) == n
        for i in range(n):
            assert d[i] == ("value", i, b"x" * 300), i
        s = d.stats()
        assert s["max_items"] >= n
        assert s["slot_count"] == s["max_items"]  # the seed's name for it
        assert s["index_slots"] * 3 >= s["max_items"] * 4  # load <= 0.75
        assert s["heap_size"] > 1 << 20
        assert s["grows_total"] >= 2  # the table and the heap
        assert s["growing"] is False
        assert s["segment_size"] <= s["max_segment_size"]
        d.check()


def test_another_handle_reads_what_grew(name):
    with ZeroCopyDict.create(name, max_items=16, heap_size=1 << 20) as d:
        other = ZeroCopyDict.attach(name)
        try:
            for i in range(1000):
                d[f"k{i}"] = i
            assert len(other) == 1000
            assert all(other[f"k{i}"] == i for i in range(1000))
            # The other handle grows it too (its own auto_grow, the default).
            for i in range(1000, 3000):
                other[f"k{i}"] = i
            assert all(d[f"k{i}"] == i for i in range(3000))
            assert d.stats()["max_items"] == other.stats()["max_items"]
        finally:
            other.close()


def test_auto_grow_false_raises_the_full_errors(name):
    with ZeroCopyDict.create(name, max_items=16, heap_size=1 << 20,
                             auto_grow=False) as d:
        for i in range(16):
            d[i] = i
        with pytest.raises(TableFullError) as e:
            d[16] = 16
        assert name in str(e.value)
        with pytest.raises(MemoryError) as e:
            d[0] = b"x" * (2 << 20)
        assert type(e.value) is MemoryError  # the heap, not the table
        s = d.stats()
        assert s["max_items"] == 16 and s["heap_size"] == 1 << 20
        assert s["grows_total"] == 0
        assert len(d) == 16 and d[0] == 0


def test_auto_grow_is_per_handle(name):
    with ZeroCopyDict.create(name, max_items=16, heap_size=1 << 20) as d:
        fixed = ZeroCopyDict.attach(name, auto_grow=False)
        try:
            for i in range(16):
                fixed[i] = i
            with pytest.raises(TableFullError):
                fixed[16] = 16
            d[16] = 16  # the creating handle grows it
            assert d.stats()["grows_total"] >= 1
            assert fixed[16] == 16
        finally:
            fixed.close()
    with ZeroCopyDict.open(name, max_items=16, auto_grow=False) as d:
        for i in range(16):
            d[i] = i
        with pytest.raises(TableFullError):
            d[16] = 16


def test_reserve_grows(name):
    with ZeroCopyDict.create(name, max_items=16, heap_size=1 << 20,
                             auto_grow=False) as d:
        d["before"] = "kept"
        d.reserve(max_items=100000)
        s = d.stats()
        assert s["max_items"] >= 100000
        # None: kept (the grown table is a block of the heap, so the heap
        # may have grown to hold it, never shrunk).
        assert s["heap_size"] >= 1 << 20
        assert s["grows_total"] >= 1
        assert s["growing"] is False
        assert d["before"] == "kept"
        # Room now even without auto_grow (10,000 small entries: about
        # 0.5 MiB of the 1 MiB heap).
        for i in range(10000):
            d[i] = i
        assert len(d) == 10001

        d.reserve(heap_size=8 << 20)
        s2 = d.stats()
        assert s2["heap_size"] >= 8 << 20
        assert s2["max_items"] == s["max_items"]  # None: kept
        d[b"big"] = b"y" * (4 << 20)
        d.check()


def test_reserve_never_shrinks(name):
    with ZeroCopyDict.create(name, max_items=1000, heap_size=4 << 20) as d:
        before = d.stats()
        d.reserve(max_items=16, heap_size=1 << 20)
        d.reserve()  # both None: nothing to do
        d.reserve(max_items=before["max_items"],
                  heap_size=before["heap_size"])
        after = d.stats()
        for key in ("max_items", "index_slots", "heap_size", "segment_size",
                    "grows_total"):
            assert after[key] == before[key], key
        assert after["grows_total"] == 0


def test_reserve_arguments(name):
    with ZeroCopyDict.create(name, max_items=16) as d:
        with pytest.raises(TypeError):
            d.reserve(max_items="many")
        with pytest.raises(TypeError):
            d.reserve(heap_size=1.5)
        with pytest.raises(ValueError):
            d.reserve(max_items=-1)
        with pytest.raises(ValueError):
            d.reserve(heap_size=2**64)
    with pytest.raises(ValueError):  # closed
        d.reserve(max_items=100)


def test_max_segment_size_bounds_growth(name):
    with ZeroCopyDict.create(name, max_items=16, heap_size=1 << 20,
                             change_log_bytes=0,
                             max_segment_size=4 << 20) as d:
        s = d.stats()
        assert s["segment_size"] <= s["max_segment_size"] <= 4 << 20
        with pytest.raises(MemoryError) as e:
            d.reserve(heap_size=64 << 20)
        assert name in str(e.value)
        assert d.stats()["heap_size"] == 1 << 20  # nothing changed
        # Growing on a write stops at the bound too, with the full error.
        with pytest.raises(MemoryError):
            for i in range(100000):
                d[i] = b"z" * 1000
        assert d[0] == b"z" * 1000
        d.check()


def test_max_segment_size_default_and_arguments(name):
    with ZeroCopyDict.create(name, max_items=16) as d:
        s = d.stats()
        # None: the size of /dev/shm (at least the segment itself).
        assert s["max_segment_size"] >= s["segment_size"] > 0
    with pytest.raises(TypeError):
        ZeroCopyDict.create(name, max_segment_size="big")
    with pytest.raises(ValueError):
        ZeroCopyDict.create(name, max_segment_size=-1)
    with pytest.raises(TypeError):
        ZeroCopyDict.create(name, auto_grow=1)
    with pytest.raises(TypeError):
        ZeroCopyDict.attach(name, auto_grow=None)


def test_stats_has_the_growth_keys(d):
    s = d.stats()
    assert s["grows_total"] == 0
    assert s["growing"] is False
    assert isinstance(s["max_segment_size"], int)
