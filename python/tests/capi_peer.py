"""Another language's client for test_interop.py: the C API
(libzcipc_c.so, include/zcipc/zcipc.h) through ctypes, in its own process,
without zero_copy_ipc.

    capi_peer.py LIB NAME OPS_JSON  ->  prints a JSON list of results

Each op is a list; keys and values are hex strings (any bytes):
    ["put", key, value, type]    zcipc_put_typed -> 0 or the error code
    ["get", key]                 zcipc_get_typed -> [value, type] or null
    ["add", key, delta]          zcipc_add -> the new value or the error code
    ["entries"]                  zcipc_for_each -> [[key, value], ...]
"""

import ctypes
import json
import sys

EACH_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t,
                           ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)


def main():
    lib = ctypes.CDLL(sys.argv[1])
    d, p, n = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    pi = ctypes.POINTER(ctypes.c_int)
    for fn, restype, argtypes in [
            ("zcipc_attach", ctypes.c_int, [p, ctypes.c_void_p,
                                            ctypes.POINTER(d)]),
            ("zcipc_close", None, [d]),
            ("zcipc_put_typed", ctypes.c_int, [d, p, n, p, n, ctypes.c_int]),
            ("zcipc_get_typed", ctypes.c_int, [d, p, n, ctypes.c_void_p, n,
                                               ctypes.POINTER(n), pi]),
            ("zcipc_add", ctypes.c_int, [d, p, n, ctypes.c_int64,
                                         ctypes.POINTER(ctypes.c_int64)]),
            ("zcipc_for_each", ctypes.c_int, [d, EACH_FN, ctypes.c_void_p]),
            ("zcipc_last_error", ctypes.c_char_p, [])]:
        f = getattr(lib, fn)
        f.restype, f.argtypes = restype, argtypes
    handle = d()
    rc = lib.zcipc_attach(sys.argv[2].encode(), None, ctypes.byref(handle))
    if rc != 0:
        sys.exit("attach: %s" % lib.zcipc_last_error().decode())
    out = []
    for op in json.loads(sys.argv[3]):
        if op[0] == "put":
            k, v = bytes.fromhex(op[1]), bytes.fromhex(op[2])
            out.append(lib.zcipc_put_typed(handle, k, len(k), v, len(v),
                                           op[3]))
        elif op[0] == "get":
            k = bytes.fromhex(op[1])
            buf = ctypes.create_string_buffer(1 << 16)
            size, kind = n(), ctypes.c_int()
            rc = lib.zcipc_get_typed(handle, k, len(k), buf, len(buf),
                                     ctypes.byref(size), ctypes.byref(kind))
            out.append([buf.raw[:size.value].hex(), kind.value]
                       if rc == 0 else None)
        elif op[0] == "add":
            k = bytes.fromhex(op[1])
            result = ctypes.c_int64()
            rc = lib.zcipc_add(handle, k, len(k), op[2], ctypes.byref(result))
            out.append(result.value if rc == 0 else -rc)
        elif op[0] == "entries":
            entries = []

            def each(key, key_len, value, value_len, ctx):
                entries.append([ctypes.string_at(key, key_len).hex(),
                                ctypes.string_at(value, value_len).hex()])
                return 0

            rc = lib.zcipc_for_each(handle, EACH_FN(each), None)
            out.append(entries if rc == 0 else -rc)
    lib.zcipc_close(handle)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
