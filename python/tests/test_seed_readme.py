"""The original package's README examples, verbatim (names included): a
script written for zero-copy-ipc 1.0.1 runs unchanged on this package."""

import pytest

import zero_copy_ipc

SEED_NAMES = ["my_dict", "shared_dict", "temp_dict"]


@pytest.fixture(autouse=True)
def clean_seed_names():
    def clean():
        for n in SEED_NAMES:
            try:
                zero_copy_ipc.unlink(n)
            except FileNotFoundError:
                pass
    clean()
    yield
    clean()


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


def test_basic_usage():
    from zero_copy_ipc import ZeroCopyDict
    # Create shared dictionary
    d = ZeroCopyDict.create(
        "my_dict",
        max_items=1000,
        heap_size=10*1024*1024  # 10MB
    )
    # Write data
    d["name"] = "Alice"
    d["age"] = 30
    d["data"] = {"nested": "dict"}
    # Read data
    assert d["name"] == "Alice"
    # Update data (O(1) operation)
    d["age"] = 31
    assert d["age"] == 31
    # Close
    d.close()


def test_multi_process_sharing():
    # (the README's three processes, here three handles)
    from zero_copy_ipc import ZeroCopyDict
    d1 = ZeroCopyDict.create("shared_dict")
    d1["counter"] = 0
    # Process 2: Attach and read
    d2 = ZeroCopyDict.attach("shared_dict")
    assert d2["counter"] == 0
    # Process 3: Update
    d3 = ZeroCopyDict.attach("shared_dict")
    d3["counter"] = 100  # d1 and d2 immediately see the update!
    assert d1["counter"] == 100 and d2["counter"] == 100
    for d in (d3, d2, d1):
        d.close()


def test_context_manager():
    from zero_copy_ipc import ZeroCopyDict
    with ZeroCopyDict.create("temp_dict") as d:
        d["key"] = "value"
    # Auto cleanup
    with pytest.raises(FileNotFoundError):
        ZeroCopyDict.attach("temp_dict")


def test_supported_data_types_and_capacity_planning():
    from zero_copy_ipc import ZeroCopyDict
    avg_key_size = 10  # bytes
    avg_value_size = 100  # bytes
    num_items = 1000
    heap_size = num_items * (avg_key_size + avg_value_size) * 2
    d = ZeroCopyDict.create(
        "my_dict",
        max_items=1000,
        heap_size=220*1024
    )
    d["int"] = 42
    d["float"] = 3.14
    d["str"] = "hello"
    d["bool"] = True
    d["bytes"] = b"data"
    d["list"] = [1, 2, 3]
    d["dict"] = {"nested": "value"}
    d["tuple"] = (1, 2, 3)
    d["set"] = {1, 2, 3}
    d["point"] = Point(10, 20)
    assert d["point"].x == 10 and d["set"] == {1, 2, 3}
    assert heap_size == 220000
    # The capacity the README plans for fits.
    for i in range(990):
        d[f"k{i:07d}"] = "v" * 100
    assert len(d) == 1000
    d.close()


def test_api_reference_and_monitoring():
    from zero_copy_ipc import ZeroCopyDict
    d = ZeroCopyDict.create("my_dict")
    key, value, default = "key", "value", "default"
    d[key] = value  # Write
    assert d[key] == value  # Read
    assert (key in d) is True  # Check existence
    assert len(d) == 1  # Get length
    assert d.get("missing", default) == default  # Safe read
    assert d.keys() == ["key"]  # Get all keys
    assert d.values() == ["value"]  # Get all values
    assert d.items() == [("key", "value")]  # Get all key-value pairs
    del d[key]  # Delete
    stats = d.stats()
    text = (f"Used slots: {stats['used_slots']}\n"
            f"Load factor: {stats['load_factor']:.2%}\n"
            f"Heap used: {stats['heap_used']} bytes\n")
    gc_stats = d.gc_stats()
    text += (f"Free blocks: {gc_stats['total_free_blocks']}\n"
             f"Free space: {gc_stats['total_free_space']} bytes\n")
    assert "Used slots: 0" in text and "Load factor: 0.00%" in text
    # FAQ: batch operations to reduce lock frequency
    d.update({"k1": "v1", "k2": "v2", "k3": "v3"})
    assert d["k3"] == "v3"
    # FAQ: lock timeout handling compiles as written
    try:
        d["key"] = "value"
    except TimeoutError:
        pytest.fail("no other process holds the lock")
    d.close()  # Close and cleanup
