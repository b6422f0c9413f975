"""Network namespaces for the discovery tests, made as root: two joined by a
veth pair,

    ns A  a0 10.202.1.1  ----  b0 10.202.1.2  ns B

for each test. A thread of this process enters one with setns(2) (through
ctypes: Python 3.11 has no os.setns), and a hub made there runs its threads
there; programs run in one with `ip netns exec`. Nothing is sent outside
the two namespaces."""

import contextlib
import ctypes
import itertools
import os
import subprocess

import pytest

from peers import PATIENCE, eventually

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_made = itertools.count()


def ip(*args):
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=PATIENCE)
    assert done.returncode == 0, "ip {}: {}".format(" ".join(args), done.stderr)


@contextlib.contextmanager
def inside(ns):
    """This thread inside network namespace `ns` for the block."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
        try:
            yield
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:
                os.abort()  # everything after would run in the wrong network
    finally:
        os.close(target)
        os.close(home)


@pytest.fixture
def net():
    """Namespace names (a, b), joined as the module docstring draws."""
    prefix = "sepy{}n{}".format(os.getpid(), next(_made))
    a, b = prefix + "a", prefix + "b"
    made = []
    try:
        for ns in (a, b):
            ip("netns", "add", ns)
            made.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("link", "add", "a0", "netns", a, "type", "veth", "peer", "name", "b0", "netns", b)
        ip("-n", a, "addr", "add", "10.202.1.1/24", "dev", "a0")
        ip("-n", b, "addr", "add", "10.202.1.2/24", "dev", "b0")
        ip("-n", a, "link", "set", "a0", "up")
        ip("-n", b, "link", "set", "b0", "up")
        for ns, dev in ((a, "a0"), (b, "b0")):
            eventually(lambda: "LOWER_UP" in subprocess.run(
                ["ip", "-n", ns, "link", "show", dev], capture_output=True, text=True).stdout,
                dev + " up")
        yield a, b
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
