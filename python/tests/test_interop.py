"""Interop: another language (the C API through ctypes, in its own process;
the zcipc CLI) and Python read each other's keys and values, with their
types (docs/PYTHON.md, "Interop")."""

import json
import os
import pickle
import struct
import subprocess
import sys

import pytest

import zero_copy_ipc

HERE = os.path.dirname(os.path.abspath(__file__))
BYTES, TEXT, INT64, FLOAT64, PICKLE = range(5)


def peer(name, ops):
    """Runs `ops` (see capi_peer.py) in another process through the C API."""
    r = subprocess.run(
        [sys.executable, os.path.join(HERE, "capi_peer.py"),
         os.environ["ZCIPC_C_LIB"], name, json.dumps(ops)],
        capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def cli(*args):
    r = subprocess.run([os.environ["ZCIPC_CLI"], *args], capture_output=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def le64(v):
    return struct.pack("<q", v)


def put(key, value, kind):
    return ["put", key.hex(), value.hex(), kind]


def test_python_reads_what_another_language_wrote(d):
    binary = b"\x80\x01bin"       # not UTF-8: a bytes key, stored raw
    tagged_junk = b"\xff\x00junk"  # 0xFF but no tagged encoding
    ops = [put(b"k1", b"raw\x00", BYTES),
           put("gr\u00fc\u00dfe".encode(), "h\u00e9llo".encode(), TEXT),
           put(b"n", le64(-5), INT64),
           put(b"f", struct.pack("<d", 2.5), FLOAT64),
           put(b"p", pickle.dumps([1, {"a": 2}]), PICKLE),
           put(b"reserved", b"xyz", 7),
           put(b"short-int", b"\x01\x02", INT64),
           put(b"bad-text", b"\xff\xfe", TEXT),
           put(binary, b"v", BYTES),
           put(tagged_junk, b"w", BYTES),
           ["add", b"ctr".hex(), 5]]
    assert peer(d.name, ops) == [0] * 10 + [5]
    expected = {"k1": b"raw\x00", "gr\u00fc\u00dfe": "h\u00e9llo", "n": -5,
                "f": 2.5, "p": [1, {"a": 2}], "reserved": b"xyz",
                "short-int": b"\x01\x02", "bad-text": b"\xff\xfe",
                binary: b"v", tagged_junk: b"w", "ctr": 5}
    for k, v in expected.items():
        if k != tagged_junk:  # reachable from keys() only (docs/PYTHON.md)
            got = d[k]
            assert got == v and type(got) is type(v), k
    # No whole-dict method raises on keys or values another language wrote.
    assert dict(d.items()) == expected
    assert sorted(map(repr, d.keys())) == sorted(map(repr, expected))
    assert len(d.values()) == len(expected)
    assert d.copy() == expected
    assert {key for _, _, key in d.changes(0)} == set(expected)
    # A C++ Add counter is an int to Python's add, and the reverse.
    assert d.add("ctr", 2) == 7
    d["mine"] = 40
    assert peer(d.name, [["add", b"mine".hex(), 2]]) == [42]
    assert d["mine"] == 42
    assert d.pop(binary) == b"v" and binary not in d


def test_another_language_reads_what_python_wrote(d):
    big = 2**70
    d["k1"] = b"raw"
    d["s"] = "h\u00e9llo"
    d["i"] = -7
    d["f"] = 1.25
    d["big"] = big
    d["none"] = None
    d["bool"] = True
    d["list"] = [1, "x"]
    d["surrogate"] = "\udc80"
    d[b"\x80bin"] = b"x"
    d[b"k"] = "bytes key that is UTF-8"
    d[3] = "three"
    d[("t", 1)] = 0.5
    with d.batch() as b:
        b["batched"] = "t"
        b.add("counted", 3)
    d.setdefault("sd", 2.5)
    assert d.compare_and_swap("cas", None, "v")
    assert d.compare_and_swap("i", -7, -8)
    want = {
        b"k1": (b"raw", BYTES),
        b"s": ("h\u00e9llo".encode(), TEXT),
        b"i": (le64(-8), INT64),
        b"f": (struct.pack("<d", 1.25), FLOAT64),
        b"big": (pickle.dumps(big, 5), PICKLE),
        b"none": (pickle.dumps(None, 5), PICKLE),
        b"bool": (pickle.dumps(True, 5), PICKLE),
        b"list": (pickle.dumps([1, "x"], 5), PICKLE),
        b"surrogate": (pickle.dumps("\udc80", 5), PICKLE),
        b"\x80bin": (b"x", BYTES),
        b"\xffbk": (b"bytes key that is UTF-8", TEXT),
        b"\xffi" + le64(3): (b"three", TEXT),
        zero_copy_ipc.encode_key(("t", 1)): (struct.pack("<d", 0.5),
                                             FLOAT64),
        b"batched": (b"t", TEXT),
        b"counted": (le64(3), INT64),
        b"sd": (struct.pack("<d", 2.5), FLOAT64),
        b"cas": (b"v", TEXT),
    }
    got = peer(d.name, [["get", k.hex()] for k in want] + [["entries"]])
    for (k, (value, kind)), g in zip(want.items(), got):
        assert g == [value.hex(), kind], k
    assert sorted(bytes.fromhex(k) for k, _ in got[-1]) == sorted(want)
    assert peer(d.name, [["get", b"absent".hex()]]) == [None]
    # Tuples stay tagged: 0xFF 't' + (varint length + element)*.
    assert zero_copy_ipc.encode_key(("t", 1)) == (
        b"\xfft" + b"\x02st" + b"\x09i" + le64(1))


def test_the_cli_reads_and_writes_what_python_does(d):
    d["greeting"] = "h\u00e9llo"
    d["requests"] = 41
    d["ratio"] = 2.5
    assert cli("get", d.name, "greeting", "--raw") == "h\u00e9llo".encode()
    assert cli("get", d.name, "greeting") == "h\u00e9llo\n".encode()
    assert cli("get", d.name, "requests") == b"41\n"
    assert cli("get", d.name, "ratio") == b"2.5\n"
    assert cli("add", d.name, "requests", "1").strip() == b"42"
    assert d["requests"] == 42
    cli("put", d.name, "from-cli", "value")
    cli("put", "--type=text", d.name, "text-from-cli", "t\u00e9xt")
    cli("put", "--type=int", d.name, "int-from-cli", "-3")
    assert d["from-cli"] == b"value"
    assert d["text-from-cli"] == "t\u00e9xt"
    assert d["int-from-cli"] == -3 and d.add("int-from-cli") == -2
    assert {"from-cli", "text-from-cli", "int-from-cli"} <= set(d.keys())


def test_bytes_keys_raw_or_tagged():
    enc = zero_copy_ipc.encode_key
    assert enc("k") == b"k" and enc("") == b""
    assert enc(b"\x80k") == b"\x80k"           # not UTF-8: raw
    assert enc(b"k") == b"\xffbk"              # UTF-8: tagged
    assert enc(b"") == b"\xffb"
    assert enc(b"\xffk") == b"\xffb\xffk"      # starts with 0xFF: tagged
    assert enc("\udc80") == b"\xffs\xed\xb2\x80"  # lone surrogate: tagged
    assert enc(b"k") != enc("k")


def test_utf8_check_agrees_with_python():
    # encode_key(bytes) is raw exactly when Python's strict decoder refuses
    # the bytes (and they do not start with 0xFF).
    samples = [bytes([a, b, c]) for a in (0x41, 0x7f, 0x80, 0xc1, 0xc2, 0xdf,
                                          0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5)
               for b in (0x41, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0)
               for c in (0x41, 0x80, 0xbf, 0xc0)]
    samples += [b"\xf0\x90\x80\x80", b"\xf4\x8f\xbf\xbf", b"\xf4\x90\x80\x80",
                b"\xed\x9f\xbf", b"\xed\xa0\x80", b"\xe0\x9f\xbf",
                b"\xc0\x80", b"\xf0\x8f\xbf\xbf", "\u20ac\U0001f600".encode()]
    for s in samples:
        try:
            s.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            utf8 = False
        assert (zero_copy_ipc.encode_key(s) == s) == (not utf8), s
        assert zero_copy_ipc.decode_key(s) == (s.decode() if utf8 else s), s
