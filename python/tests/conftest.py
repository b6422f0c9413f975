"""Shared fixtures and helpers of the Python suite.

Helpers that test files import (``from conftest import eventually``) live here
too, so that every file waits for the network the same way: by polling a
condition against a deadline, never by sleeping a fixed time.
"""

import inspect
import os
import socket
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

import socketengine
from socketengine import client, host, hub

LOCALHOST = "127.0.0.1"

# Generous: the suite runs side by side with others on small machines.
DEADLINE = 5.0


def seed_parameters(cls):
    """The parameters of ``cls`` that a seed call can pass (positional or
    keyword), with their defaults; additions must be keyword-only, which
    this checks, so that every seed call means what it meant."""
    params = inspect.signature(cls).parameters.values()
    for p in params:
        if p.kind == inspect.Parameter.KEYWORD_ONLY:
            assert p.default is not inspect.Parameter.empty, p.name
    return [(p.name, p.default) for p in params if p.kind != inspect.Parameter.KEYWORD_ONLY]


def eventually(condition, timeout=DEADLINE, what=None):
    """Polls ``condition()`` until it returns something truthy and returns
    that; fails the test if ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError("not within {} s: {}".format(
                timeout, what or getattr(condition, "__name__", condition)))
        time.sleep(0.002)


def newer_value_arrives(wait_for_next, write, first):
    """Runs ``wait_for_next()`` on a thread while writing ever newer values
    (``write(n)`` for n = first, first + 1, ...) until it returns: whenever
    it began waiting, some value came after that. Returns what it got."""
    result = []
    waiter = threading.Thread(target=lambda: result.append(wait_for_next()))
    waiter.start()
    deadline, n = time.monotonic() + DEADLINE, first
    while waiter.is_alive() and time.monotonic() < deadline:
        write(n)
        n += 1
        waiter.join(0.01)
    waiter.join(DEADLINE)
    assert len(result) == 1, "wait_for_next never returned"
    return result[0]


def child_env():
    """The environment for a child interpreter: ours (PYTHONPATH passed
    through), with the directory of the socketengine under test first so
    the child imports the same one."""
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(socketengine.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_parent, env.get("PYTHONPATH")) if p)
    return env


@pytest.fixture
def closer():
    """``closer(obj)`` returns obj and closes it at teardown (last made,
    first closed), whether the test passed or not."""
    made = []

    def keep(obj):
        made.append(obj)
        return obj

    yield keep
    for obj in reversed(made):
        obj.close()


def connect_hubs(dialler, listener, name, timeout=None):
    """Dials ``listener`` from ``dialler`` as ``name`` (for at most
    ``timeout`` seconds, if given); returns the dialler's (local) connection
    and the listener's (remote) one, once the listener has learnt the
    name."""
    assert dialler.connect(name, LOCALHOST, listener.port, timeout) is dialler
    local = [c for c in dialler.connections if c.name == name][-1]
    remote = eventually(
        lambda: next((c for c in listener.connections if c.name == name and c.opened), None),
        what="listener learns the name " + name)
    return local, remote


@pytest.fixture
def hubs(closer):
    """Two hubs on system-chosen ports: ``dialler`` connected to ``listener``
    as "alpha". ``local`` is the dialler's connection, ``remote`` the
    listener's."""
    listener = closer(hub(port=0))
    dialler = closer(hub(port=0))
    local, remote = connect_hubs(dialler, listener, "alpha")
    return SimpleNamespace(dialler=dialler, listener=listener, local=local, remote=remote)


@pytest.fixture
def pair(closer):
    """A started host on a system-chosen port and one client connected to
    it; ``conn`` is the host's connection to the client."""
    h = closer(host(port=0))
    assert h.start() is h
    c = closer(client(port=h.port))
    conn = eventually(lambda: next(iter(h.getClients()), None), what="host lists the client")
    return SimpleNamespace(host=h, client=c, conn=conn)


@pytest.fixture
def refused_port():
    """A port where connections are refused: bound by this test (so nobody
    else takes it) but not listening."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOCALHOST, 0))
    yield s.getsockname()[1]
    s.close()


@pytest.fixture
def image():
    """A small BGR image with distinct pixel values."""
    return np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)

