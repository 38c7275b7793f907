"""The C API's shared library from Python's ctypes, beside a C++ process.

The Python process creates a dict through libzcipc_c.so and reads it while a
C++ process (tests/capi/cpp_peer.cc, on the C++ API) writes it, then writes
keys the C++ process checks. Run by tests/capi/ctypes_test.sh with
ZCIPC_C_LIB (the shared library) and ZCIPC_CPP_PEER (the C++ program) set.
"""

import ctypes
import os
import subprocess
import unittest

OK, INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, OUT_OF_RANGE = 0, 3, 5, 6, 11
FAILED_PRECONDITION = 9
KIND_NOT_A_COUNTER = 8

WRITES = 200000  # iterations of the C++ writer


class Options(ctypes.Structure):
    _fields_ = [
        ("max_items", ctypes.c_uint64),
        ("heap_size", ctypes.c_uint64),
        ("lock_timeout_ms", ctypes.c_int64),
    ]


READ_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t,
                           ctypes.c_void_p)
EACH_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                           ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)


def load(path):
    lib = ctypes.CDLL(path)
    d, p, n = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    sigs = {
        "zcipc_options_init": (None, [ctypes.POINTER(Options)]),
        "zcipc_create": (ctypes.c_int, [p, ctypes.POINTER(Options),
                                        ctypes.POINTER(d)]),
        "zcipc_attach": (ctypes.c_int, [p, ctypes.POINTER(Options),
                                        ctypes.POINTER(d)]),
        "zcipc_open_or_create": (ctypes.c_int, [p, ctypes.POINTER(Options),
                                                ctypes.POINTER(d)]),
        "zcipc_close": (None, [d]),
        "zcipc_unlink": (ctypes.c_int, [p]),
        "zcipc_put": (ctypes.c_int, [d, p, n, p, n]),
        "zcipc_get": (ctypes.c_int, [d, p, n, ctypes.c_void_p, n,
                                     ctypes.POINTER(n)]),
        "zcipc_read": (ctypes.c_int, [d, p, n, READ_FN, ctypes.c_void_p]),
        "zcipc_erase": (ctypes.c_int, [d, p, n]),
        "zcipc_add": (ctypes.c_int, [d, p, n, ctypes.c_int64,
                                     ctypes.POINTER(ctypes.c_int64)]),
        "zcipc_compare_and_swap": (ctypes.c_int, [d, p, n, p, n, p, n,
                                                  ctypes.POINTER(ctypes.c_int)]),
        "zcipc_size": (ctypes.c_uint64, [d]),
        "zcipc_for_each": (ctypes.c_int, [d, EACH_FN, ctypes.c_void_p]),
        "zcipc_last_error": (ctypes.c_char_p, []),
        "zcipc_last_error_kind": (ctypes.c_int, []),
        "zcipc_last_error_code": (ctypes.c_int, []),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


LIB = load(os.environ["ZCIPC_C_LIB"])
PEER = os.environ["ZCIPC_CPP_PEER"]


class Dict:
    """A few Pythonic helpers over the raw calls."""

    def __init__(self, handle):
        self.handle = handle

    def put(self, key, value):
        return LIB.zcipc_put(self.handle, key, len(key), value, len(value))

    def get(self, key):
        """(code, bytes or None), growing the buffer as the API asks."""
        size = 16
        while True:
            buf = ctypes.create_string_buffer(size)
            length = ctypes.c_size_t(0)
            rc = LIB.zcipc_get(self.handle, key, len(key), buf, size,
                               ctypes.byref(length))
            if rc == OUT_OF_RANGE:
                size = length.value
                continue
            return rc, (buf.raw[:length.value] if rc == OK else None)

    def add(self, key, delta):
        result = ctypes.c_int64(0)
        rc = LIB.zcipc_add(self.handle, key, len(key), delta,
                           ctypes.byref(result))
        return rc, result.value

    def items(self):
        out = {}

        def each(k, k_len, v, v_len, ctx):
            out[ctypes.string_at(k, k_len)] = ctypes.string_at(v, v_len)
            return 0

        rc = LIB.zcipc_for_each(self.handle, EACH_FN(each), None)
        return rc, out


def last_error():
    return LIB.zcipc_last_error().decode()


class CtypesTest(unittest.TestCase):

    def setUp(self):
        self.name = ("capi-ctypes-%d" % os.getpid()).encode()
        LIB.zcipc_unlink(self.name)
        options = Options()
        LIB.zcipc_options_init(ctypes.byref(options))
        self.assertEqual(options.lock_timeout_ms, 10000)
        options.max_items = 1000
        options.heap_size = 1 << 20
        handle = ctypes.c_void_p()
        self.assertEqual(
            LIB.zcipc_create(self.name, ctypes.byref(options),
                             ctypes.byref(handle)), OK, last_error())
        self.dict = Dict(handle)

    def tearDown(self):
        LIB.zcipc_close(self.dict.handle)
        LIB.zcipc_unlink(self.name)

    def test_reads_beside_a_cpp_writer_and_the_reverse(self):
        d = self.dict
        writer = subprocess.Popen([PEER, "write", self.name, str(WRITES)])
        # Read while the C++ process writes: every value is whole and the
        # counters never go back. Add to the counter both processes bump.
        last_latest = last_counter = reads = python_adds = 0
        while True:
            done = d.get(b"writer-done")[0] == OK
            # The writer may set writer-done and exit between the two
            # checks: look at writer-done again once it has exited.
            if (not done and writer.poll() is not None and
                    d.get(b"writer-done")[0] != OK):
                self.fail("the C++ writer exited %d before it finished" %
                          writer.returncode)
            rc, latest = d.get(b"latest")
            if rc == OK:
                self.assertGreaterEqual(int(latest), last_latest)
                last_latest = int(latest)
                reads += 1
            else:
                self.assertEqual(rc, NOT_FOUND, last_error())
            rc, counter = d.get(b"counter")
            if rc == OK:
                self.assertEqual(len(counter), 8)
                value = int.from_bytes(counter, "little", signed=True)
                self.assertGreaterEqual(value, last_counter)
                last_counter = value
            rc, _ = d.add(b"shared-counter", 1)
            self.assertEqual(rc, OK, last_error())
            python_adds += 1
            if done:
                break
        self.assertEqual(writer.wait(timeout=120), 0)
        self.assertGreater(reads, 0)

        rc, latest = d.get(b"latest")
        self.assertEqual((rc, latest), (OK, str(WRITES).encode()))
        self.assertEqual(d.add(b"counter", 0), (OK, WRITES))
        self.assertEqual(d.add(b"shared-counter", 0),
                         (OK, WRITES + python_adds))
        rc, items = d.items()
        self.assertEqual(rc, OK, last_error())
        self.assertEqual(len(items), 64 + 4)
        self.assertEqual(LIB.zcipc_size(d.handle), len(items))
        for i in range(WRITES - 63, WRITES + 1):
            self.assertEqual(items[b"entry-%d" % (i % 64)], b"value-%d" % i)

        # The reverse: Python writes, the C++ process reads.
        self.assertEqual(d.put(b"from-python", b"\x00\x01py\xff"), OK)
        self.assertEqual(d.add(b"py-counter", 42), (OK, 42))
        stored = ctypes.c_int(-1)
        self.assertEqual(
            LIB.zcipc_compare_and_swap(d.handle, b"cas", 3, None, 0, b"new", 3,
                                       ctypes.byref(stored)), OK)
        self.assertEqual(stored.value, 1)
        self.assertEqual(LIB.zcipc_erase(d.handle, b"writer-done", 11), OK)
        subprocess.run([
            PEER, "expect", self.name, "from-python", b"\x00\x01py\xff".hex(),
            "py-counter", (42).to_bytes(8, "little").hex(), "cas",
            b"new".hex(), "writer-done", "-", "latest",
            str(WRITES).encode().hex()
        ], check=True)

    def test_read_and_for_each_callbacks(self):
        d = self.dict
        for i in range(10):
            self.assertEqual(d.put(b"k%d" % i, b"v%d" % i), OK)
        seen = []

        def on_read(value, length, ctx):
            seen.append(ctypes.string_at(value, length))

        self.assertEqual(
            LIB.zcipc_read(d.handle, b"k3", 2, READ_FN(on_read), None), OK)
        self.assertEqual(seen[-1], b"v3")
        visits = []

        def stop_at_three(k, k_len, v, v_len, ctx):
            visits.append(ctypes.string_at(k, k_len))
            return 1 if len(visits) == 3 else 0

        self.assertEqual(
            LIB.zcipc_for_each(d.handle, EACH_FN(stop_at_three), None), OK)
        self.assertEqual(len(visits), 3)

    def test_errors(self):
        d = self.dict
        self.assertEqual(d.get(b"missing"), (NOT_FOUND, None))
        self.assertIn(self.name.decode(), last_error())
        self.assertIn("missing", last_error())
        self.assertEqual(LIB.zcipc_last_error_code(), NOT_FOUND)

        self.assertEqual(d.put(b"k", b"0123456789"), OK)
        length = ctypes.c_size_t(0)
        buf = ctypes.create_string_buffer(4)
        self.assertEqual(
            LIB.zcipc_get(d.handle, b"k", 1, buf, 4, ctypes.byref(length)),
            OUT_OF_RANGE)
        self.assertEqual(length.value, 10)

        self.assertEqual(LIB.zcipc_put(d.handle, None, 5, b"v", 1),
                         INVALID_ARGUMENT)
        self.assertIn("key", last_error())
        self.assertEqual(LIB.zcipc_put(None, b"k", 1, b"v", 1),
                         INVALID_ARGUMENT)
        self.assertEqual(d.add(b"k", 1)[0], FAILED_PRECONDITION)
        self.assertEqual(LIB.zcipc_last_error_kind(), KIND_NOT_A_COUNTER)

        handle = ctypes.c_void_p()
        self.assertEqual(
            LIB.zcipc_create(self.name, None, ctypes.byref(handle)),
            ALREADY_EXISTS)
        self.assertIsNone(handle.value)
        self.assertEqual(
            LIB.zcipc_attach(b"capi-ctypes-absent", None, ctypes.byref(handle)),
            NOT_FOUND)
        self.assertEqual(
            LIB.zcipc_open_or_create(self.name, None, ctypes.byref(handle)),
            OK)
        self.assertEqual(Dict(handle).get(b"k"), (OK, b"0123456789"))
        LIB.zcipc_close(handle)


if __name__ == "__main__":
    unittest.main()
