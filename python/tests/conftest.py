"""Shared fixtures: unique dict names, removed after each test."""

import os
import uuid

import pytest

from zero_copy_ipc import ZeroCopyDict, unlink


def shm_path(name):
    return f"/dev/shm/zcipc.{name}"


@pytest.fixture
def name():
    """A fresh dict name; whatever is left under it is removed afterwards."""
    n = f"pytest_{os.getpid()}_{uuid.uuid4().hex[:12]}"
    yield n
    try:
        unlink(n)
    except FileNotFoundError:
        pass


@pytest.fixture
def d(name):
    """A small owned dict."""
    with ZeroCopyDict.create(name, max_items=2000,
                             heap_size=8 * 1024 * 1024) as dct:
        yield dct
