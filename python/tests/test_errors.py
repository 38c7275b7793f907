"""Errors: each failure raises the exception docs/PYTHON.md's table names,
chosen by the engine's error kind (never by its message), with a message
that names the dict and the operation and never embeds a huge key."""

import os
import pwd
import socket
import stat
import subprocess
import sys
import time

import pytest

import zero_copy_ipc
from zero_copy_ipc import CorruptDictError, TableFullError, ZeroCopyDict


def shm_path(name):
    return f"/dev/shm/zcipc.{name}"


# --- names whose file is not a dict -------------------------------------


def attach_raises(name, exc_type, lock_timeout=10.0):
    """Attaches to `name`, expects exactly `exc_type` (never a plain
    ValueError or RuntimeError), at once: well before lock_timeout."""
    started = time.monotonic()
    with pytest.raises(exc_type) as e:
        ZeroCopyDict.attach(name, lock_timeout=lock_timeout)
    elapsed = time.monotonic() - started
    assert type(e.value) is exc_type, repr(e.value)
    assert name in str(e.value)
    # A generous bound: what matters is that it does not wait lock_timeout.
    assert elapsed < lock_timeout / 2, elapsed
    return e.value


def test_attach_to_a_directory_is_corrupt_dict_error(name):
    os.mkdir(shm_path(name))
    try:
        attach_raises(name, CorruptDictError)
    finally:
        os.rmdir(shm_path(name))


def test_attach_to_a_symlink_is_corrupt_dict_error(name, tmp_path):
    target = tmp_path / "target"
    target.write_bytes(b"\0" * 8192)
    os.symlink(target, shm_path(name))
    try:
        attach_raises(name, CorruptDictError)
    finally:
        os.unlink(shm_path(name))


def test_attach_to_a_fifo_is_corrupt_dict_error(name):
    os.mkfifo(shm_path(name))
    try:
        attach_raises(name, CorruptDictError)
    finally:
        os.unlink(shm_path(name))


def test_attach_to_a_socket_is_corrupt_dict_error(name):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.bind(shm_path(name))
        attach_raises(name, CorruptDictError)
    finally:
        s.close()
        os.unlink(shm_path(name))


def test_attach_to_an_empty_file_is_corrupt_dict_error_at_once(name):
    # Nobody is creating it: the attach must not wait lock_timeout for a
    # header that will never come.
    open(shm_path(name), "wb").close()
    attach_raises(name, CorruptDictError, lock_timeout=30.0)


def test_attach_to_a_short_file_is_corrupt_dict_error_at_once(name):
    with open(shm_path(name), "wb") as f:
        f.write(b"zcipc")
    attach_raises(name, CorruptDictError, lock_timeout=30.0)


def _attach_as(uid, name, lock_timeout):
    """In a child process running as `uid`: attach, print the exception."""
    # Imported before dropping privileges: the package may be in a
    # directory only the current user can read.
    code = (
        "import os, sys\n"
        "from zero_copy_ipc import ZeroCopyDict\n"
        f"os.setgroups([]); os.setgid({uid}); os.setuid({uid})\n"
        "try:\n"
        f"    ZeroCopyDict.attach({name!r}, lock_timeout={lock_timeout})\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e.errno if isinstance(e, OSError) "
        "else '', e, sep='|')\n"
        "else:\n"
        "    print('attached')\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True, timeout=60, env=os.environ.copy())


@pytest.mark.skipif(os.geteuid() != 0,
                    reason="needs root to make a file of another user")
def test_attach_to_another_users_dict_is_permission_error(name):
    # A dict of root's, mode 600: the user nobody may not open it.
    nobody = pwd.getpwnam("nobody").pw_uid
    with ZeroCopyDict.create(name, max_items=16, heap_size=1 << 20) as d:
        d["k"] = "v"
        os.chown(shm_path(name), 0, 0)
        os.chmod(shm_path(name), 0o600)
        started = time.monotonic()
        r = _attach_as(nobody, name, lock_timeout=20.0)
        assert time.monotonic() - started < 10.0
        assert r.returncode == 0, r.stderr
        kind, err, message = r.stdout.strip().split("|", 2)
        assert kind == "PermissionError", r.stdout
        assert err == "13"  # EACCES
        assert shm_path(name) in message
        # As a user who may (the owner, root here), it opens.
        with ZeroCopyDict.attach(name) as other:
            assert other["k"] == "v"


# --- kinds, not messages ----------------------------------------------------


def test_table_full_and_heap_full(name):
    with ZeroCopyDict.create(name, max_items=16, heap_size=1 << 20,
                             auto_grow=False) as d:
        for i in range(16):
            d[i] = i
        with pytest.raises(TableFullError) as e:
            d[100] = 1
        assert isinstance(e.value, MemoryError)
        assert isinstance(e.value, RuntimeError)
        assert name in str(e.value)
        with pytest.raises(MemoryError) as e:
            d[0] = b"x" * (2 << 20)
        assert type(e.value) is MemoryError
        assert name in str(e.value)


def test_every_message_names_the_dict_once(name):
    with ZeroCopyDict.create(name, max_items=16, heap_size=1 << 20) as d:
        d["s"] = "text"
        with pytest.raises(TypeError) as e:
            d.add("s")
        assert str(e.value).count(name) == 1, str(e.value)


# --- messages -----------------------------------------------------------------


def test_a_huge_key_is_cut_in_messages(d):
    key = "k" * 70000
    with pytest.raises(ValueError) as e:
        d[key] = 1
    message = str(e.value)
    assert d.name in message
    assert len(message) < 1000, len(message)
    assert repr(key)[:64] + "... (70000 characters)" in message
    assert "k" * 200 not in message


def test_a_huge_bytes_key_is_cut_in_messages(d):
    with pytest.raises(ValueError) as e:
        d[b"b" * 70000] = 1
    message = str(e.value)
    assert len(message) < 1000, len(message)
    assert repr(b"b" * 70000)[:64] + "... (70000 bytes)" in message


def test_add_overflow_names_the_dict_and_the_operation(d):
    with pytest.raises(OverflowError) as e:
        d.add("c", 2**63)
    assert d.name in str(e.value) and "add" in str(e.value)
    assert "c" not in d
    d["c"] = 2**63 - 1
    with pytest.raises(OverflowError) as e:
        d.add("c", 1)
    assert d.name in str(e.value) and "add" in str(e.value)
    assert d["c"] == 2**63 - 1


def test_add_type_errors_name_the_dict_and_the_operation(d):
    d["s"] = "text"
    for call in (lambda: d.add("s"), lambda: d.add("c", "1"),
                 lambda: d.add("c", 1.5), lambda: d.add(["list"], 1)):
        with pytest.raises(TypeError) as e:
            call()
        assert d.name in str(e.value) and "add" in str(e.value), e.value


def test_batch_add_errors_name_the_dict_and_the_operation(d):
    with pytest.raises(OverflowError) as e:
        with d.batch() as b:
            b.add("c", 2**63)
    assert d.name in str(e.value) and "add" in str(e.value)
    with pytest.raises(TypeError) as e:
        with d.batch() as b:
            b.add("c", "1")
    assert d.name in str(e.value) and "add" in str(e.value)


def test_unsupported_key_types_name_the_dict(d):
    for op in (lambda: d[[1]], lambda: d.__setitem__([1], 1),
               lambda: [1] in d, lambda: d.get([1]), lambda: d.pop([1])):
        with pytest.raises(TypeError) as e:
            op()
        assert d.name in str(e.value), e.value
