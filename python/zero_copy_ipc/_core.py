"""The package's implementation (zero_copy_ipc/__init__.py re-exports it
after checking the interpreter's version; see there).
"""

import atexit
import collections.abc
import os
import threading



_EXTENSION = "_zcipc.abi3.so"


def _load_extension():
    """The compiled module: beside this file in an installed package or a
    Bazel runfiles tree; in a source checkout (PYTHONPATH=python) the one
    `bazel build //python:package` left in bazel-bin/ or bazel-out/."""
    package = __name__.rpartition(".")[0]
    try:
        from . import _zcipc as module
        return module
    except ImportError:
        root = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "..", "..")
        # bazel-bin follows the last build's configuration; k8-opt is the
        # default one's (an --config=asan module needs a preloaded runtime).
        for out in ("bazel-bin", os.path.join("bazel-out", "k8-opt", "bin")):
            built = os.path.join(root, out, "python", "zero_copy_ipc",
                                 _EXTENSION)
            if os.path.exists(built):
                break
        else:
            raise
    import importlib.machinery
    import importlib.util
    import sys
    loader = importlib.machinery.ExtensionFileLoader(
        package + "._zcipc", built)
    spec = importlib.util.spec_from_file_location(
        package + "._zcipc", built, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules[package + "._zcipc"] = module
    return module


_zcipc = _load_extension()
Batch = _zcipc.Batch
CorruptDictError = _zcipc.CorruptDictError
TableFullError = _zcipc.TableFullError
ChangesLost = _zcipc.ChangesLost
MAX_KEY_SIZE = _zcipc.MAX_KEY_SIZE
encode_key = _zcipc.encode_key
encode_value = _zcipc.encode_value
decode_key = _zcipc.decode_key
decode_value = _zcipc.decode_value

__all__ = [
    "ZeroCopyDict",
    "Batch",
    "ChangesLost",
    "CorruptDictError",
    "TableFullError",
    "MAX_KEY_SIZE",
    "unlink",
    "encode_key",
    "encode_value",
    "decode_key",
    "decode_value",
]
# The project's release: zcipc::kProjectVersion (include/zcipc/options.h),
# compiled into the extension. python/BUILD.bazel's VERSION (the wheel's)
# must agree; //python:pytest checks that it does.
__version__ = _zcipc.PROJECT_VERSION

# The original package's minimums (its create() raises them silently).
MIN_ITEMS = 16
MIN_HEAP_SIZE = 1024 * 1024
DEFAULT_LOCK_TIMEOUT = 10.0

# Dicts this process created and has not closed: removed when it exits, so a
# script that forgets close() does not leave them in /dev/shm. Keyed by
# (name, identity of the segment file): a name removed and created again by
# someone else is a different dict and is left alone. The pid guards against
# a forked child (which inherits this table and the atexit hook) removing
# its parent's dicts.
_owned_lock = threading.Lock()
_owned = {}  # (name, (st_dev, st_ino)) -> creating pid


def _segment_identity(name):
    """(st_dev, st_ino) of the dict's file (include/zcipc/zero_copy_dict.h:
    /dev/shm/zcipc.<name>), or None if there is none."""
    try:
        st = os.stat(f"/dev/shm/zcipc.{name}")
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _unlink_if_same(name, identity):
    """Removes `name` if it still is the segment `identity` names."""
    if identity is not None and _segment_identity(name) == identity:
        try:
            _zcipc.unlink(name)
        except FileNotFoundError:
            pass


@atexit.register
def _remove_owned_at_exit():
    pid = os.getpid()
    with _owned_lock:
        owned = [key for key, p in _owned.items() if p == pid]
        _owned.clear()
    for name, identity in owned:
        try:
            _unlink_if_same(name, identity)
        except OSError:
            pass


def unlink(name):
    """Removes the dict called ``name`` (handles already open keep working).

    Raises FileNotFoundError if there is none.
    """
    _zcipc.unlink(name)
    with _owned_lock:
        for key in [k for k in _owned if k[0] == name]:
            del _owned[key]


def _count(value, what, minimum):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if value < 0 or value >= 2**63:
        raise ValueError(f"{what} must be >= 0 and < 2**63, got {value}")
    return max(value, minimum)


def _flag(value, what):
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True or False, not "
                        f"{type(value).__name__}")
    return value


def _timeout(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"lock_timeout must be a number of seconds, not "
                        f"{type(value).__name__}")
    return float(value)


class ZeroCopyDict(_zcipc.Dict, collections.abc.MutableMapping):
    """A dict shared by processes through shared memory.

    Create one with ``ZeroCopyDict.create(name, ...)`` and open it elsewhere
    with ``ZeroCopyDict.attach(name)``. Keys are str, bytes, int, float,
    bool, None or tuples of these, compared as a Python dict compares them
    (``d[1]``, ``d[1.0]`` and ``d[True]`` are the same entry); values are any
    picklable object. ``keys()``, ``values()`` and ``items()`` return lists
    (a snapshot), as the original package did; iteration walks a snapshot of
    the keys taken when it starts.

    Thread safety: safe to share between threads (see the package's
    docstring).
    """

    __module__ = "zero_copy_ipc"  # where it is imported from

    # The identity of the segment this handle created (owner handles only).
    __slots__ = ("_identity",)

    @classmethod
    def create(cls, name, max_items=10000, heap_size=100 * 1024 * 1024,
               slot_count=None, *, lock_timeout=DEFAULT_LOCK_TIMEOUT,
               change_log_bytes=None, auto_grow=True, max_segment_size=None):
        """Creates a new dict; this handle is its owner.

        ``max_items`` entries fit at first (``slot_count`` is the original
        package's newer spelling of the same number and wins when given);
        ``heap_size`` bytes hold the keys and values at first. Values below
        16 items and 1 MiB are raised to those minimums. With ``auto_grow``
        (the default) a write that finds the dict full grows it, while every
        process keeps reading; with ``auto_grow=False`` it raises
        TableFullError or MemoryError instead (a setting of this handle).
        ``max_segment_size`` bounds the growth (bytes; None: the size of
        /dev/shm now). ``change_log_bytes`` sizes the change log that
        ``changes()`` reads (None: the engine's default, 1 MiB; 0: no log;
        else 4096 to 2**32, rounded up to 4096). Raises FileExistsError if
        the name exists (nothing is wiped), ValueError for a bad name or
        option.
        """
        items = _count(max_items if slot_count is None else slot_count,
                       "slot_count" if slot_count is not None else "max_items",
                       MIN_ITEMS)
        heap = _count(heap_size, "heap_size", MIN_HEAP_SIZE)
        log = (None if change_log_bytes is None else
               _count(change_log_bytes, "change_log_bytes", 0))
        segment = (0 if max_segment_size is None else
                   _count(max_segment_size, "max_segment_size", 0))
        d = cls._create(name, items, heap, _timeout(lock_timeout), log,
                        _flag(auto_grow, "auto_grow"), segment)
        d._identity = _segment_identity(name)
        with _owned_lock:
            _owned[(name, d._identity)] = os.getpid()
        return d

    @classmethod
    def attach(cls, name, *, lock_timeout=DEFAULT_LOCK_TIMEOUT,
               auto_grow=True):
        """Attaches to an existing dict. FileNotFoundError if there is none;
        ValueError for an empty or bad name; CorruptDictError (a ValueError)
        for shared memory that is not a valid dict. ``auto_grow``: as in
        create(), for this handle's writes."""
        return cls._attach(name, _timeout(lock_timeout),
                           _flag(auto_grow, "auto_grow"))

    @classmethod
    def open(cls, name, max_items=10000, heap_size=100 * 1024 * 1024, *,
             lock_timeout=DEFAULT_LOCK_TIMEOUT, change_log_bytes=None,
             auto_grow=True, max_segment_size=None):
        """Attaches to ``name`` if it exists, else creates it (as owner;
        the sizes, as create()'s, apply only then; ``auto_grow`` applies to
        this handle either way)."""
        while True:
            try:
                return cls.attach(name, lock_timeout=lock_timeout,
                                  auto_grow=auto_grow)
            except FileNotFoundError:
                pass
            try:
                return cls.create(name, max_items, heap_size,
                                  lock_timeout=lock_timeout,
                                  change_log_bytes=change_log_bytes,
                                  auto_grow=auto_grow,
                                  max_segment_size=max_segment_size)
            except FileExistsError:
                continue  # another process created it meanwhile

    def reserve(self, max_items=None, heap_size=None):
        """Grows the dict now to hold at least ``max_items`` entries and
        ``heap_size`` bytes of keys and values (None keeps that figure as it
        is). Never shrinks: figures at or below the capacity change nothing.
        Works whatever ``auto_grow`` says; other processes keep reading
        meanwhile. MemoryError if the growth would pass the dict's
        ``max_segment_size`` (``stats()`` shows the capacity and the
        bound)."""
        if max_items is None or heap_size is None:
            now = self.stats()
            if max_items is None:
                max_items = now["max_items"]
            if heap_size is None:
                heap_size = now["heap_size"]
        self._reserve(_count(max_items, "max_items", 0),
                      _count(heap_size, "heap_size", 0))

    def close(self):
        """Unmaps the dict. On the owner (the creating handle, in the
        creating process) it also removes the dict, if its name still refers
        to the dict this handle created: handles already attached keep
        working, new attaches raise FileNotFoundError. Idempotent."""
        if self.closed:
            return
        identity = getattr(self, "_identity", None)
        if identity is not None and self.is_owner:
            with _owned_lock:
                _owned.pop((self.name, identity), None)
            _unlink_if_same(self.name, identity)  # while still mapped
        self._close()

    def keys(self):
        """A snapshot of the keys: a list that also compares and combines
        like a dict's keys view (see _ViewList)."""
        return _ViewList(_zcipc.Dict.keys(self))

    def items(self):
        """A snapshot of the (key, value) pairs: a list that also compares
        like a dict's items view."""
        return _ViewList(_zcipc.Dict.items(self))

    def copy(self):
        """A plain dict with a snapshot of the entries (as dict.copy()
        returns an independent mapping). copy.copy(d) instead attaches
        another handle to the same shared dict."""
        return dict(self.items())

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def __reduce__(self):
        # Passing a dict to another process (multiprocessing with spawn, a
        # queue): the receiver attaches by name and is not the owner.
        return (_attach_by_name, (type(self), self.name))

    def update(self, other=(), /, **kwargs):
        """Like dict.update, with every write under one hold of the writer
        lock (no other writer interleaves). Values are encoded (pickled)
        before the lock is taken. Not all-or-nothing: if a write fails
        (MemoryError when full), the writes before it stay."""
        b = Batch(self)
        b.update(other, **kwargs)
        b.apply()

    def batch(self):
        """``with d.batch() as b:`` collects writes (``b[k] = v``,
        ``del b[k]``, ``b.add(k, n)``) and applies them, in order, under one
        hold of the writer lock when the block ends without an exception
        (nothing is applied if it raises). Not a transaction: readers may see
        the batch half applied, and a crash keeps the applied prefix."""
        return Batch(self)



class _ViewList(list):
    """What keys() and items() return: a list, as the original package
    returned (indexing, sorting, == with a list all work as on a list), that
    also compares and combines like a dict's set-like view: == with a set, a
    dict view or another _ViewList ignores order, and &, |, -, ^ and
    isdisjoint give sets."""

    __slots__ = ()
    __hash__ = None

    def _set_like(self, other):
        return isinstance(other, (collections.abc.Set, _ViewList))

    def __eq__(self, other):
        if self._set_like(other):
            if len(self) != len(other):
                return False
            if isinstance(other, _ViewList):
                other = _as_set_or_list(other)
            return all(x in other for x in self)
        return list.__eq__(self, other)

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __and__(self, other):
        return set(self) & set(other)

    def __or__(self, other):
        return set(self) | set(other)

    def __sub__(self, other):
        return set(self) - set(other)

    def __xor__(self, other):
        return set(self) ^ set(other)

    __rand__ = __and__
    __ror__ = __or__
    __rxor__ = __xor__

    def __rsub__(self, other):
        return set(other) - set(self)

    def isdisjoint(self, other):
        return set(self).isdisjoint(other)


def _as_set_or_list(items):
    try:
        return set(items)
    except TypeError:   # pairs with unhashable values: compare by list
        return list(items)


def _attach_by_name(cls, name):
    return cls.attach(name)
