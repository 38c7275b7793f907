"""zero_copy_ipc: a shared-memory dict for processes on one machine.

The API of the original ``zero-copy-ipc`` package, on the zcipc C++ engine::

    from zero_copy_ipc import ZeroCopyDict

    d = ZeroCopyDict.create("my_dict", max_items=1000, heap_size=10 * 1024 * 1024)
    d["name"] = "Alice"          # any picklable value; bytes are stored raw
    other = ZeroCopyDict.attach("my_dict")   # in any process
    print(other["name"])         # lock-free read
    d.close()                    # the creator's close() removes the dict

Reads never take a lock (a per-slot seqlock validates them); writes take one
writer lock (an flock plus a futex) held for a few microseconds. See
docs/PYTHON.md in the source tree for the details.

Thread safety: a ZeroCopyDict may be shared by threads; every method is safe
to call concurrently, and calls that wait for the writer lock release the GIL.
"""

import sys as _sys

# The extension is built once for the stable ABI of CPython 3.9
# (python/BUILD.bazel): refuse older interpreters here, in syntax that every
# Python parses, before _core (3.8+ syntax) or the extension is loaded.
_SUPPORTED = "CPython 3.9 or newer (tested on 3.9 to 3.13)"
if _sys.version_info[:2] < (3, 9):
    raise ImportError(
        "zero_copy_ipc needs %s; this is Python %d.%d.%d (%s)"
        % ((_SUPPORTED,) + tuple(_sys.version_info[:3]) + (_sys.executable,)))

from ._core import *  # noqa: E402,F401,F403 (the API; _core.__all__)
from ._core import (  # noqa: E402,F401
    DEFAULT_LOCK_TIMEOUT,
    MIN_HEAP_SIZE,
    MIN_ITEMS,
    __all__,
    __version__,
    _zcipc,
)
