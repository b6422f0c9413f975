"""host and client: every call of the seed's API with its return value and
type, the []/None cases, opening, starting and closing; and the additions
(context managers, callbacks, waits)."""

import queue
import threading
import time

import numpy as np
import pytest

from conftest import eventually, newer_value_arrives, seed_parameters
from socketengine import client, connection, host


SEED_PARAMETERS = [("addr", "127.0.0.1"), ("port", 8080), ("timeout", 2), ("size", 256),
                   ("open", True)]


@pytest.mark.parametrize("cls", [host, client])
def test_signature_is_the_seeds(cls):
    assert seed_parameters(cls) == SEED_PARAMETERS


# --- host ------------------------------------------------------------------------------


def test_host_binds_at_construction(closer):
    h = closer(host(port=0))
    assert type(h.port) is int and h.port > 0
    assert h.opened is True and h.stopped is False
    assert h.getClients() == [] and type(h.getClients()) is list
    assert h.get_ALL("x") == [] and type(h.get_ALL("x")) is list


def test_host_start_returns_self_and_may_be_repeated(closer):
    h = closer(host(port=0))
    assert h.start() is h
    assert h.start() is h


def test_host_port_in_use_raises_runtime_error_naming_it(closer):
    taken = closer(host(port=0))
    with pytest.raises(RuntimeError, match=str(taken.port)):
        host(port=taken.port)


def test_host_with_open_false_binds_only_on_open(closer):
    taken = closer(host(port=0))
    # Would raise if it bound the port in use.
    later = closer(host(port=taken.port, open=False))
    assert later.opened is False
    with pytest.raises(RuntimeError, match=str(taken.port)):
        later.open()

    h = closer(host(port=0, open=False))
    assert h.opened is False and h.port == 0
    assert h.open() is None
    assert h.opened is True and h.port > 0
    assert h.start() is h
    c = closer(client(port=h.port))
    eventually(lambda: h.getClients())
    assert c.opened


def test_host_set_timeout_returns_none(closer):
    assert closer(host(port=0)).set_timeout(1) is None


def test_host_close(pair):
    assert pair.host.close() is None
    assert pair.host.opened is False and pair.host.stopped is True
    assert pair.conn.opened is False
    eventually(lambda: not pair.client.opened, what="client sees the host go")
    assert pair.host.close() is None  # idempotent


def test_host_lists_clients_as_stable_connection_objects(pair):
    clients = pair.host.getClients()
    assert type(clients) is list and len(clients) == 1
    conn = clients[0]
    assert isinstance(conn, connection) and conn is pair.conn
    assert pair.host.getClients()[0] is conn and pair.host.clients[0] is conn
    assert conn.type == connection.TYPE_REMOTE
    assert conn.addr == "127.0.0.1" and type(conn.port) is int
    assert conn.opened is True and conn.stopped is False


def test_host_get_all_in_the_order_clients_connected(pair, closer):
    second = closer(client(port=pair.host.port))
    eventually(lambda: len(pair.host.getClients()) == 2)
    second.write("id", "second")
    pair.client.write("id", "first")
    eventually(lambda: len(pair.host.get_ALL("id")) == 2)
    assert pair.host.get_ALL("id") == ["first", "second"]


def test_host_writers_return_how_many_clients_took_it_and_reach_every_client(pair, closer):
    second = closer(client(port=pair.host.port))
    eventually(lambda: len(pair.host.getClients()) == 2)
    assert pair.host.write_ALL("a", 1) == 2
    assert pair.host.writeLock_ALL("b", 2) == 2
    for c in (pair.client, second):
        assert c.wait_for("a", 5) == 1
        assert c.wait_for("b", 5) == 2


def test_host_image_writers_return_the_count_and_deliver(pair, image):
    assert pair.client.getImg() is None
    assert pair.host.writeImg_ALL(image) == 1
    eventually(lambda: pair.client.getImg() is not None)
    np.testing.assert_array_equal(pair.client.getImg(), image)
    # The seed's client reads images with get("image") too.
    np.testing.assert_array_equal(pair.client.get("image"), image)

    flipped = image[::-1].copy()
    eventually(lambda: pair.conn.canWrite)
    assert pair.host.writeImgLock_ALL(flipped) == 1
    eventually(lambda: np.array_equal(pair.client.getImg(), flipped))


def test_host_wait_for(pair):
    start = time.monotonic()
    assert pair.host.wait_for("ready", 0.2) == []
    assert 0.2 <= time.monotonic() - start < 2
    pair.client.write("ready", True)
    assert pair.host.wait_for("ready", 5) == [True]


def test_host_on_calls_back_on_another_thread(pair):
    got = queue.Queue()
    assert pair.host.on("ch", lambda v: got.put((v, threading.get_ident()))) is pair.host
    pair.client.write("ch", [1, 2])
    value, thread = got.get(timeout=5)
    assert value == [1, 2] and thread != threading.get_ident()


def test_host_as_context_manager(closer):
    with host(port=0) as h:
        assert isinstance(h, host) and h.opened
    assert h.stopped


# --- client --------------------------------------------------------------------------------


def test_client_opens_at_construction(pair):
    assert pair.client.opened is True and pair.client.stopped is False
    assert pair.client.get("nothing") is None


def test_client_with_open_false_connects_only_on_open(closer):
    h = closer(host(port=0).start())
    c = closer(client(port=h.port, open=False))
    assert c.opened is False and c.stopped is False
    assert c.get("anything") is None and c.getImg() is None
    assert h.getClients() == []
    assert c.open() is None
    assert c.opened is True
    eventually(lambda: h.getClients())


def test_client_start_opens_and_returns_self(closer):
    h = closer(host(port=0).start())
    c = closer(client(port=h.port, open=False))
    assert c.start() is c
    assert c.opened is True
    assert c.start() is c  # already open: nothing to do
    eventually(lambda: len(h.getClients()) == 1)
    assert len(h.getClients()) == 1


def test_client_open_gives_up_after_its_timeout(closer, refused_port):
    c = closer(client(port=refused_port, open=False))
    start = time.monotonic()
    with pytest.raises(RuntimeError):
        c.open(timeout=0.3)
    assert 0.3 <= time.monotonic() - start < 3
    assert c.opened is False


def test_client_set_timeout_returns_none(pair):
    assert pair.client.set_timeout(1) is None


def test_client_writers_return_none_and_reach_the_host(pair):
    assert pair.client.write("a", 1) is None
    assert pair.client.writeLock("b", 2) is None
    assert pair.host.wait_for("a", 5) == [1]
    assert pair.host.wait_for("b", 5) == [2]
    assert pair.conn.get("a") == 1


def test_client_image_writers_return_none_and_deliver(pair, image):
    assert pair.host.get_ALL("image") == []
    assert pair.client.writeImg(image) is None
    eventually(lambda: pair.conn.getImg() is not None)
    np.testing.assert_array_equal(pair.conn.getImg(), image)
    [from_all] = pair.host.get_ALL("image")
    np.testing.assert_array_equal(from_all, image)

    flipped = image[::-1].copy()
    eventually(lambda: pair.client.canWrite)
    assert pair.client.writeImgLock(flipped) is None
    eventually(lambda: np.array_equal(pair.conn.getImg(), flipped))


def test_client_close(pair):
    assert pair.client.close() is None
    assert pair.client.opened is False and pair.client.stopped is True
    eventually(lambda: pair.conn.stopped, what="host sees the client go")
    assert pair.client.close() is None  # idempotent


def test_client_write_after_close_raises_runtime_error(pair):
    # Documented in client.write: unlike hub connections, a client says so.
    pair.client.close()
    with pytest.raises(RuntimeError):
        pair.client.write("late", 1)


def test_client_wait_for_and_wait_for_next(pair):
    start = time.monotonic()
    assert pair.client.wait_for("n", 0.2) is None
    assert 0.2 <= time.monotonic() - start < 2
    pair.host.write_ALL("n", 1)
    assert pair.client.wait_for("n", 5) == 1
    assert pair.client.wait_for_next("n", 0.2) is None  # 1 is not new

    got = newer_value_arrives(lambda: pair.client.wait_for_next("n", 5),
                              lambda n: pair.host.write_ALL("n", n), first=2)
    assert got >= 2


def test_client_on_calls_back_on_another_thread(pair):
    got = queue.Queue()
    assert pair.client.on("ch", lambda v: got.put((v, threading.get_ident()))) is pair.client
    pair.host.write_ALL("ch", {"k": "v"})
    value, thread = got.get(timeout=5)
    assert value == {"k": "v"} and thread != threading.get_ident()


def test_client_as_context_manager(closer):
    h = closer(host(port=0).start())
    with client(port=h.port) as c:
        assert isinstance(c, client) and c.opened
        conn = eventually(lambda: next(iter(h.getClients()), None))
    assert c.stopped
    eventually(lambda: conn.stopped)
