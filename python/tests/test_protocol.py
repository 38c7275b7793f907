"""The dict protocol, checked against a real dict as the oracle."""

import collections.abc
import pickle
import random

import pytest

import zero_copy_ipc
from zero_copy_ipc import ZeroCopyDict


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x,
                                                               other.y)


def canon(key):
    if isinstance(key, tuple):
        return tuple(map(canon, key))
    if isinstance(key, (bool, float)) and key == int(key):
        return int(key)
    return key


def test_is_a_mutable_mapping(d):
    assert isinstance(d, collections.abc.MutableMapping)
    assert isinstance(d, collections.abc.Mapping)


def test_seed_readme_example(name):
    d = ZeroCopyDict.create(name, max_items=1000, heap_size=10 * 1024 * 1024)
    d["name"] = "Alice"
    d["age"] = 30
    d["data"] = {"nested": "dict"}
    assert d["name"] == "Alice"
    d["age"] = 31
    assert d["age"] == 31
    assert d["data"] == {"nested": "dict"}
    d.close()


def test_supported_value_types_round_trip(d):
    values = {
        "int": 42, "neg": -7, "big": 2**100, "float": 3.14, "str": "hello",
        "unicode": "h\u00e9llo \u2603 \U0001f600", "surrogate": "a\udc80b",
        "bool": True, "false": False, "none": None, "bytes": b"data\x00\xff",
        "empty_bytes": b"", "empty_str": "", "list": [1, 2, 3],
        "dict": {"nested": "value"}, "tuple": (1, 2, 3), "set": {1, 2, 3},
        "point": Point(10, 20), "bytearray": bytearray(b"xy"),
        "large": b"x" * (2 * 1024 * 1024),
    }
    for k, v in values.items():
        d[k] = v
    for k, v in values.items():
        got = d[k]
        assert got == v and type(got) is type(v), k


def test_bytes_values_are_stored_raw():
    # Raw: the bytes themselves, the type beside them (0 bytes, 1 text,
    # 4 pickle), no tag byte, no pickle.
    assert zero_copy_ipc.encode_value(b"abc") == (b"abc", 0)
    assert zero_copy_ipc.encode_value("abc") == (b"abc", 1)
    data, kind = zero_copy_ipc.encode_value([1])
    assert kind == 4 and data.startswith(b"\x80")


class MyStr(str):
    pass


class MyInt(int):
    pass


def test_subclasses_keep_their_type(d):
    d["s"] = MyStr("x")
    d["i"] = MyInt(3)
    assert type(d["s"]) is MyStr and d["s"] == "x"
    assert type(d["i"]) is MyInt and d["i"] == 3


def test_numeric_keys_behave_as_in_a_dict(d):
    ref = {}
    for store in (ref, d):
        store[1] = "one"
        store[True] = "true"   # same key as 1
        store[1.0] = "float"   # same key again
        store[0] = "zero"
        store[-0.0] = "negzero"
        store[False] = "false"
        store[2.5] = "two and a half"
        store[2**70] = "big"
        store[float(2**70)] = "big float"  # equal to 2**70
        store[float("inf")] = "inf"
    assert len(d) == len(ref) == 5
    for k in [1, 1.0, True, 0, 0.0, -0.0, False, 2.5, 2**70, float("inf")]:
        assert d[k] == ref[k], k
    assert sorted(map(repr, d.keys())) == sorted(map(repr, ref.keys()))


def test_str_and_bytes_keys_differ(d):
    d["a"] = 1
    d[b"a"] = 2
    assert d["a"] == 1 and d[b"a"] == 2 and len(d) == 2


def test_tuple_keys(d):
    d[(1, "a", b"b", None, (2, 3.5))] = "t"
    assert d[(1.0, "a", b"b", None, (2, 3.5))] == "t"
    assert d[(True, "a", b"b", None, (2.0, 3.5))] == "t"
    assert (1, "a") not in d
    assert list(d) == [(1, "a", b"b", None, (2, 3.5))]
    d[()] = "empty"
    assert d[()] == "empty"


def test_bad_keys(d):
    with pytest.raises(TypeError):
        d[[1]] = 1
    with pytest.raises(TypeError):
        d[{"a": 1}]
    with pytest.raises(TypeError):
        [1] in d
    with pytest.raises(ValueError):
        d[float("nan")] = 1
    with pytest.raises(ValueError):  # over the engine's key limit
        d["k" * (zero_copy_ipc.MAX_KEY_SIZE + 1)] = 1
    assert len(d) == 0


def test_missing_keys(d):
    with pytest.raises(KeyError) as e:
        d["nope"]
    assert e.value.args == ("nope",)
    with pytest.raises(KeyError):
        del d["nope"]
    with pytest.raises(KeyError):
        d.pop("nope")
    with pytest.raises(KeyError):
        d.popitem()
    assert d.get("nope") is None
    assert d.get("nope", 5) == 5
    assert d.pop("nope", "dflt") == "dflt"


def test_methods(d):
    assert d.setdefault("a", [1]) == [1]
    assert d.setdefault("a", [2]) == [1]
    assert d.setdefault("n") is None and "n" in d and d["n"] is None
    d.update({"b": 2}, c=3)
    d.update([("e", 5), ("f", 6)])
    assert sorted(d.keys(), key=repr) == sorted(["a", "n", "b", "c", "e", "f"],
                                                key=repr)
    assert isinstance(d.keys(), list) and isinstance(d.items(), list)
    assert d.pop("b") == 2 and "b" not in d
    k, v = d.popitem()
    assert k not in d and v is not None or k == "n"
    assert len(d) == 4
    assert d == dict(d.items())
    d.clear()
    assert len(d) == 0 and list(d) == [] and d == {}
    assert repr(d) == f"ZeroCopyDict(name={d.name!r}, items=0)"


def test_random_sequences_match_a_dict(d):
    """Property-style: random operation sequences, a real dict as oracle."""
    keys = ([f"k{i}" for i in range(40)] + list(range(20)) +
            [b"b%d" % i for i in range(10)] + [(i, "t") for i in range(10)] +
            [1.5, 2.0, None, True])
    values = [0, 1, -5, 2**80, 1.25, "s", "", b"", b"\x00" * 50,
              [1, [2]], {"x": 1}, None, True, "long" * 200]
    for seed in range(8):
        rng = random.Random(seed)
        d.clear()
        ref = {}
        for step in range(700):
            k = rng.choice(keys)
            op = rng.randrange(13)
            if op <= 3:
                v = rng.choice(values)
                d[k] = v
                ref[k] = v
            elif op == 4:
                assert (k in d) == (k in ref)
                if k in ref:
                    del d[k]
                    del ref[k]
                else:
                    with pytest.raises(KeyError):
                        del d[k]
            elif op == 5:
                dflt = rng.choice(values)
                assert d.get(k, dflt) == ref.get(k, dflt)
            elif op == 6:
                v = rng.choice(values)
                assert d.setdefault(k, v) == ref.setdefault(k, v)
            elif op == 7:
                assert d.pop(k, "D") == ref.pop(k, "D")
            elif op == 8:
                upd = {rng.choice(keys): rng.choice(values) for _ in range(3)}
                d.update(upd)
                ref.update(upd)
            elif op == 9:
                if ref:
                    pk, pv = d.popitem()
                    assert ref.pop(pk) == pv
                else:
                    with pytest.raises(KeyError):
                        d.popitem()
            elif op == 10:
                if k in ref:
                    assert d[k] == ref[k]
                else:
                    with pytest.raises(KeyError):
                        d[k]
            elif op == 11:
                delta = rng.randrange(-3, 4)
                cur = ref.get(k, 0)
                if type(cur) is int and abs(cur + delta) < 2**63:
                    assert d.add(k, delta) == cur + delta
                    ref[k] = cur + delta
                else:
                    with pytest.raises((TypeError, OverflowError)):
                        d.add(k, delta)
            else:
                exp = ref.get(k) if rng.random() < 0.5 else rng.choice(values)
                new = rng.choice(values)
                want = ref.get(k) == exp
                assert d.compare_and_swap(k, exp, new) == want
                if want:
                    ref[k] = new
            assert len(d) == len(ref)
        assert dict(d.items()) == ref
        # Keys come back in their canonical type (2.0 and True as ints): the
        # one documented difference from a dict, which keeps the first
        # object inserted.
        assert sorted(map(repr, d)) == sorted(map(repr, map(canon, ref)))
        assert sorted(map(repr, d.values())) == sorted(map(repr,
                                                           ref.values()))
        d.check()


def test_add_and_compare_and_swap(d):
    assert d.add("c") == 1
    assert d.add("c", 41) == 42
    assert d.add("c", -50) == -8
    d["s"] = "text"
    with pytest.raises(TypeError):
        d.add("s", 1)
    d["m"] = 2**63 - 1
    with pytest.raises(OverflowError):
        d.add("m", 1)
    assert d["m"] == 2**63 - 1
    assert d.compare_and_swap("new", None, "v") is True   # absent ~ None
    assert d.compare_and_swap("new", None, "w") is False
    assert d.compare_and_swap("new", "v", [1, 2]) is True
    assert d.compare_and_swap("new", [1, 2], {"a"}) is True  # pickled ==
    assert d["new"] == {"a"}
    d["f"] = 1
    assert d.compare_and_swap("f", 1.0, 2) is True  # 1 == 1.0, as in Python


def test_batch(d):
    d["gone"] = 1
    d["c"] = 10
    with d.batch() as b:
        for i in range(100):
            b[f"k{i}"] = i
        del b["gone"]
        del b["never-there"]   # ignored
        b.add("c", 5)
        b.update({"u": 1})
        assert len(b) == 104
        assert "k0" not in d   # applied when the block ends
    assert d["k99"] == 99 and "gone" not in d and d["c"] == 15 and d["u"] == 1
    with pytest.raises(RuntimeError):
        with d.batch() as b:
            b["x"] = 1
            raise RuntimeError("abandon")
    assert "x" not in d
    with pytest.raises(TypeError):
        with d.batch() as b:
            b[[1]] = 1


def test_stats_keys(d):
    d["a"] = "x" * 100
    s = d.stats()
    for key in ("name", "slot_count", "used_slots", "heap_size", "heap_used",
                "load_factor", "is_owner"):
        assert key in s, key
    assert s["name"] == d.name and s["used_slots"] == 1
    assert s["slot_count"] == 2000 and s["heap_size"] == 8 * 1024 * 1024
    assert s["load_factor"] == pytest.approx(1 / 2000)
    assert s["is_owner"] is True and s["heap_used"] > 100
    g = d.gc_stats()
    for key in ("free_blocks", "free_size", "heap_used", "heap_size",
                "fragmentation", "total_free_blocks", "total_free_space"):
        assert key in g, key
    assert g["total_free_space"] == g["free_size"] > 0
    assert g["heap_used"] + g["free_size"] == g["heap_size"]


def test_create_arguments(name):
    with ZeroCopyDict.create(name, slot_count=50, max_items=9999,
                             heap_size=10) as d:
        s = d.stats()
        assert s["slot_count"] == 50            # slot_count wins
        assert s["heap_size"] == 1024 * 1024    # raised to the minimum
    with ZeroCopyDict.create(name, max_items=3, auto_grow=False) as d:
        assert d.stats()["slot_count"] == 16
        for i in range(16):
            d[i] = i
        with pytest.raises(MemoryError) as e:  # table full
            d[16] = 16
        assert isinstance(e.value, RuntimeError)  # what the original raised
        assert isinstance(e.value, zero_copy_ipc.TableFullError)
        assert name in str(e.value)
        assert d.get(99) is None and 99 not in d  # lookups still work
    with pytest.raises(ValueError):
        ZeroCopyDict.create(name, max_items=-1)
    with pytest.raises(ValueError):
        ZeroCopyDict.create(name, heap_size=2**64 + 5)   # no wrap-around
    with pytest.raises(ValueError):
        ZeroCopyDict.create(name, heap_size=2**62)       # over the engine's 1 TiB
    with pytest.raises(ValueError):
        ZeroCopyDict.create(name, lock_timeout=-1)
    with pytest.raises(TypeError):
        ZeroCopyDict.create(name, heap_size="big")


def test_heap_full_is_memory_error_and_changes_nothing(name):
    with ZeroCopyDict.create(name, max_items=100, heap_size=1 << 20,
                             auto_grow=False) as d:
        d["a"] = b"1" * 1000
        with pytest.raises(MemoryError) as e:
            d["b"] = b"2" * (2 << 20)
        assert not isinstance(e.value, RuntimeError)  # heap, not table
        assert "heap full" in str(e.value)
        with pytest.raises(MemoryError):
            d["a"] = b"3" * (2 << 20)
        assert d["a"] == b"1" * 1000 and "b" not in d
        d.check()


def test_names(name):
    for bad in ("", "../x", "a/b", ".", "..", "x" * 300):
        with pytest.raises(ValueError):
            ZeroCopyDict.create(bad)
        with pytest.raises(ValueError):
            ZeroCopyDict.attach(bad)
    with pytest.raises(TypeError):
        ZeroCopyDict.attach(3)
    with pytest.raises(FileNotFoundError):
        ZeroCopyDict.attach(name)
    with ZeroCopyDict.create(name):
        with pytest.raises(FileExistsError):
            ZeroCopyDict.create(name)
    with pytest.raises(TypeError):
        ZeroCopyDict()


def test_not_a_dict_is_value_error(name):
    path = f"/dev/shm/zcipc.{name}"
    with open(path, "wb") as f:
        f.write(b"\x00" * 4096 + b"garbage" * 1000)
    with pytest.raises(ValueError) as e:
        ZeroCopyDict.attach(name, lock_timeout=0.2)
    assert isinstance(e.value, zero_copy_ipc.CorruptDictError)
    assert name in str(e.value)


def test_close_and_context_manager(name, tmp_path):
    path = f"/dev/shm/zcipc.{name}"
    d = ZeroCopyDict.create(name)
    d["k"] = 1
    other = ZeroCopyDict.attach(name)
    assert not other.is_owner and d.is_owner
    other.close()                       # not the owner: nothing removed
    assert other.closed
    import os
    assert os.path.exists(path)
    keeper = ZeroCopyDict.attach(name)
    d.close()                           # owner: removes the name
    d.close()                           # idempotent
    assert not os.path.exists(path)
    assert keeper["k"] == 1             # attached handles keep working
    keeper["k"] = 2
    assert keeper["k"] == 2
    with pytest.raises(FileNotFoundError):
        ZeroCopyDict.attach(name)
    keeper.close()
    with pytest.raises(ValueError):
        d["k"]
    with pytest.raises(ValueError):
        len(d)
    assert repr(d) == f"ZeroCopyDict(name={name!r}, closed)"
    with ZeroCopyDict.create(name) as d2:
        d2["x"] = 1
    assert not os.path.exists(path)


def test_pickling_a_handle_attaches(d):
    d["k"] = "v"
    e = pickle.loads(pickle.dumps(d))
    assert e is not d and e.name == d.name and e["k"] == "v"
    assert not e.is_owner
    e.close()


def test_open_creates_or_attaches(name):
    a = ZeroCopyDict.open(name, max_items=100, heap_size=1 << 20)
    b = ZeroCopyDict.open(name)
    a["x"] = 1
    assert b["x"] == 1 and a.is_owner and not b.is_owner
    b.close()
    a.close()


def test_codec_round_trip_and_reads_foreign_bytes():
    for k in ["s", "", b"b", b"", b"\x80", b"\xff", 0, -1, 2**64, 1.5,
              None, (1, (2, "x")), (), "\udc80"]:
        assert zero_copy_ipc.decode_key(zero_copy_ipc.encode_key(k)) == k
    assert zero_copy_ipc.encode_key(1) == zero_copy_ipc.encode_key(1.0)
    assert zero_copy_ipc.encode_key(1) == zero_copy_ipc.encode_key(True)
    # Foreign bytes never raise: UTF-8 is a str, a tagged encoding that does
    # not parse or other bytes are bytes.
    for text in [b"", b"zzz", b"i123", b"caf\xc3\xa9"]:
        assert zero_copy_ipc.decode_key(text) == text.decode()
    for other in [b"\xff", b"\xffzzz", b"\xffi123", b"\xfft\x05ab",
                  b"\xffI12x", b"\xffn1", b"\x80abc", b"\xed\xa0\x80"]:
        assert zero_copy_ipc.decode_key(other) == other
    # A typed value whose bytes do not fit its type, or a reserved type,
    # is its bytes.
    for data, kind in [(b"", 2), (b"Q", 2), (b"F12", 3), (b"\xff", 1),
                       (b"x", 5), (b"y", 255)]:
        assert zero_copy_ipc.decode_value(data, kind) == data


# --- edge cases found in review ---------------------------------------------

class ReentrantValue:
    """Pickling it uses the dict it is being stored in."""

    dict_to_touch = None

    def __reduce__(self):
        d = ReentrantValue.dict_to_touch
        d.get("other")
        d["nested"] = "written while pickling"
        return (ReentrantValue, ())

    def __eq__(self, other):
        return isinstance(other, ReentrantValue)


class Exploding:
    """Unpickling it fails."""

    def __setstate__(self, state):
        raise RuntimeError("cannot unpickle here")


def test_pickling_that_uses_the_dict_does_not_corrupt_the_value(d):
    d["other"] = "hello"
    ReentrantValue.dict_to_touch = d
    try:
        d["k"] = ReentrantValue()
        assert d["k"] == ReentrantValue()
        assert d["nested"] == "written while pickling"
        d["k2"] = [ReentrantValue(), "tail"]
        assert d["k2"] == [ReentrantValue(), "tail"]
    finally:
        ReentrantValue.dict_to_touch = None


def test_tuple_key_error_carries_the_key(d):
    for key in [(1, 2), (), ("a",)]:
        with pytest.raises(KeyError) as e:
            d[key]
        assert e.value.args == (key,)
        with pytest.raises(KeyError) as e:
            d.pop(key)
        assert e.value.args == (key,)


def test_pop_keeps_a_value_that_cannot_be_decoded(d):
    e = Exploding()
    e.x = 1
    d["job"] = e
    d["other"] = 1
    with pytest.raises(RuntimeError, match="cannot unpickle"):
        d.pop("job")
    assert "job" in d
    with pytest.raises(RuntimeError, match="cannot unpickle"):
        for _ in range(5):
            d.popitem()     # "other" first or not: "job" raises, stays
    assert "job" in d


def test_nesting_limits(d):
    deep = ()
    for _ in range(70):
        deep = (deep,)
    with pytest.raises(ValueError):
        d[deep] = 1
    ok = ()
    for _ in range(60):
        ok = (ok,)
    d[ok] = "deep"
    assert d[ok] == "deep" and list(d) == [ok]
    # A hostile encoding from shared memory: read as the bytes it is, never
    # a crash. 0xFF 't' + varint(len) + inner, nested far past the limit.
    inner = b"n"
    for _ in range(100000):
        n = len(inner)
        varint = bytearray()
        while n >= 0x80:
            varint.append((n & 0x7F) | 0x80)
            n >>= 7
        varint.append(n)
        inner = b"t" + bytes(varint) + inner
        if len(inner) > 1 << 20:
            break
    assert zero_copy_ipc.decode_key(b"\xff" + inner) == b"\xff" + inner


def test_nan_keys(d):
    nan = float("nan")
    with pytest.raises(ValueError):
        d[nan] = 1
    with pytest.raises(ValueError):
        d.setdefault((1, nan), 1)
    assert nan not in d and (1, nan) not in d
    assert d.get(nan) is None and d.get(nan, 5) == 5
    assert d.pop(nan, "x") == "x"
    with pytest.raises(KeyError):
        d[nan]
    with pytest.raises(KeyError):
        del d[nan]


def test_huge_int_keys(d):
    big = 7 ** 10000          # over Python's 4300-digit str limit
    d[big] = "big"
    d[-big] = "negative"
    assert d[big] == "big" and d[-big] == "negative"
    assert sorted(d.keys()) == [-big, big]


def test_names_with_nul_are_refused(name):
    with pytest.raises(ValueError):
        ZeroCopyDict.create(name + "\x00tail")
    with pytest.raises(ValueError):
        ZeroCopyDict.attach(name + "\x00tail")


def test_add_keyword_and_types(d):
    assert d.add("c", delta=5) == 5
    assert d.add(key="c") == 6
    with pytest.raises(TypeError):
        d.add("c", True)
    with pytest.raises(TypeError):
        d.add("c", 1.5)
    with pytest.raises(TypeError):
        with d.batch() as b:
            b.add("c", True)


def test_compare_and_swap_with_an_unpicklable_expected(d):
    d["k"] = 1
    assert d.compare_and_swap("k", lambda: 1, 2) is False
    assert d["k"] == 1


def test_copy_is_a_plain_dict(d):
    d["a"] = [1]
    c = d.copy()
    assert type(c) is dict and c == {"a": [1]}
    c["b"] = 2
    assert "b" not in d


def test_stale_owner_close_leaves_a_newer_dict_alone(name):
    import os
    h1 = ZeroCopyDict.create(name)
    zero_copy_ipc.unlink(name)
    h2 = ZeroCopyDict.create(name)
    h2["mine"] = 1
    h1.close()                              # its dict is long gone
    assert os.path.exists(f"/dev/shm/zcipc.{name}")
    assert ZeroCopyDict.attach(name)["mine"] == 1
    h2.close()
    assert not os.path.exists(f"/dev/shm/zcipc.{name}")


def test_keys_and_items_are_lists_and_view_like(d):
    d["a"] = 1
    d["b"] = [2]
    keys = d.keys()
    assert isinstance(keys, list) and sorted(keys) == ["a", "b"]
    assert keys == {"a", "b"} and keys == {"a": 0, "b": 0}.keys()
    assert keys != {"a"} and keys == d.keys()
    assert keys & {"a", "z"} == {"a"} and keys | {"z"} == {"a", "b", "z"}
    assert keys - {"a"} == {"b"} and {"a", "z"} - keys == {"z"}
    assert not keys.isdisjoint({"b"})
    assert keys[0] in ("a", "b") and len(keys) == 2
    ref = {"a": 1, "b": [2]}
    assert d.items() == ref.items()          # unhashable values too
    assert d.items() != {"a": 1, "b": [3]}.items()
    assert sorted(d.items()) == [("a", 1), ("b", [2])]
    assert d.items() == d.items()


def test_add_arguments_positional_and_keyword(d):
    # add() reads positional calls from the tuple and keyword calls through
    # PyArg_ParseTupleAndKeywords (python/src/dict_atomic.cc): both agree.
    assert d.add("c") == 1
    assert d.add("c", 2) == 3
    assert d.add(key="c") == 4
    assert d.add("c", delta=-4) == 0
    assert d.add(delta=3, key="c") == 3
    for args, kwargs in (((), {}), (("c", 1, 2), {}), (("c",), {"x": 1}),
                         (("c",), {"key": "c"}), ((), {"delta": 1})):
        with pytest.raises(TypeError):
            d.add(*args, **kwargs)
    with d.batch() as b:
        b.add("c")
        b.add("c", 2)
        b.add(key="c", delta=4)
        with pytest.raises(TypeError):
            b.add()
        with pytest.raises(TypeError):
            b.add("c", 1, 2)
    assert d["c"] == 10
