"""Unix domain sockets from Python: hubs, host and client over a socket file
with values and images, and what becomes of the file (replaced when stale,
kept when live, its mode, removed on close)."""

import os
import shutil
import socket
import stat
import tempfile

import numpy as np
import pytest

from conftest import eventually
from socketengine import client, host, hub


@pytest.fixture
def sockdir():
    """A short directory of the test's own: socket paths hold 107 bytes."""
    path = tempfile.mkdtemp(prefix="se-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def photo(seed):
    y, x = np.mgrid[0:48, 0:64]
    return np.stack([(x * 3 + seed) % 256, (y * 5) % 256, (x + y) % 256], axis=2).astype(np.uint8)


def test_hubs_round_trip_values_and_images_over_a_socket_file(sockdir, closer):
    endpoint = "unix:" + os.path.join(sockdir, "hub.sock")
    listener = closer(hub(port=endpoint))
    assert listener.port == 0  # no TCP listener
    dialler = closer(hub(port=0))
    assert dialler.connect("cam", endpoint) is dialler
    out = dialler.connections[0]
    inbound = eventually(lambda: next(iter(listener.connections), None), what="accepted")
    out.write("pose", {"x": 1.5, "tags": ["a", "b"]})
    assert eventually(lambda: inbound.get("pose")) == {"x": 1.5, "tags": ["a", "b"]}
    assert inbound.addr == endpoint and inbound.name == "cam"
    listener.write_all("back", 7)
    assert eventually(lambda: out.get("back")) == 7

    frame = photo(3)
    out.writeImg(frame)
    eventually(lambda: inbound.getImg() is not None, what="image at the listener")
    got = inbound.getImg()
    assert got.shape == frame.shape and np.array_equal(got, frame)
    eventually(lambda: inbound.canWrite, what="room for an image back")
    inbound.writeImg(photo(9))
    eventually(lambda: out.getImg() is not None, what="image at the dialler")
    back = out.getImg()
    assert np.array_equal(back, photo(9))
    assert eventually(lambda: out.native)


def test_host_and_client_over_a_socket_file(sockdir, closer):
    endpoint = "unix:" + os.path.join(sockdir, "host.sock")
    h = closer(host(addr=endpoint))
    assert h.opened
    h.start()
    c = closer(client(addr=endpoint))
    c.write("hello", "host")
    assert eventually(lambda: h.get_ALL("hello")) == ["host"]
    h.write_ALL("reply", [1, 2, 3])
    assert eventually(lambda: c.get("reply")) == [1, 2, 3]


def test_a_hub_listens_on_tcp_and_a_socket_file(sockdir, closer):
    path = os.path.join(sockdir, "extra.sock")
    h = closer(hub(port=0))
    assert h.listen("unix:" + path, socket_file_mode=0o600) is h
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
    a = closer(hub(port=0)).connect("tcp", "127.0.0.1", h.port)
    b = closer(hub(port=0)).connect("unix", "unix:" + path)
    a.write_all("via", "tcp")
    b.write_all("via", "unix")
    assert sorted(eventually(lambda: len(h.get_all("via")) == 2 and h.get_all("via"))) == [
        "tcp", "unix"]


def test_a_stale_socket_file_is_replaced_and_a_live_one_kept(sockdir, closer):
    path = os.path.join(sockdir, "stale.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)
    dead.close()  # leaves the file, as a process that died would
    live = closer(hub(port="unix:" + path))
    with pytest.raises(RuntimeError, match=path):
        hub(port="unix:" + path)
    # The first hub still answers there.
    peer = closer(hub(port=0)).connect("p", "unix:" + path)
    peer.write_all("still", "here")
    assert eventually(lambda: live.get_all("still")) == ["here"]


def test_the_socket_file_is_removed_on_close(sockdir):
    path = os.path.join(sockdir, "gone.sock")
    h = hub(port="unix:" + path)
    assert os.path.exists(path)
    h.close()
    assert not os.path.exists(path)
