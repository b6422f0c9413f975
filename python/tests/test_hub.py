"""hub and connection: every call of the seed's API with its return value and
type, the []/None cases, names, local and remote; and the additions (context
managers, callbacks, waits, flush, stats)."""

import inspect
import itertools
import queue
import socket
import sys
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import LOCALHOST, connect_hubs, eventually, newer_value_arrives, seed_parameters
from socketengine import connection, hub


_marks = itertools.count(1)


def sync(writer, *readers):
    """Writes a marker after what ``writer`` (a hub) has written so far and
    waits until each reader connection has it: anything written before it
    on the same connection has arrived by then."""
    mark = next(_marks)
    writer.write_all("sync", mark)
    for r in readers:
        eventually(lambda: r.get("sync") == mark, what="sync marker")


@pytest.fixture
def middle(closer):
    """A hub with one local and one remote connection: it dialled hub ``x``
    (as "x") and hub ``y`` dialled it (as "y"). ``to_x``/``from_y`` are the
    middle hub's connections, ``x``/``y`` the peers' ends of them."""
    m, x, y = (closer(hub(port=0)) for _ in range(3))
    to_x, x_end = connect_hubs(m, x, "x")
    y_end, from_y = connect_hubs(y, m, "y")
    return SimpleNamespace(hub=m, to_x=to_x, from_y=from_y, x=x_end, y=y_end)


# --- hub: construction, port, open/close ------------------------------------------


def test_hub_signature_is_the_seeds():
    assert seed_parameters(hub) == [("port", None), ("timeout", 2), ("size", 256)]


def test_port_zero_listens_on_a_port_the_system_chose(closer):
    h = closer(hub(port=0))
    assert type(h.port) is int and 0 < h.port < 65536
    # Something is listening there: a plain TCP dial becomes a remote connection.
    with socket.create_connection((LOCALHOST, h.port), timeout=5):
        conn = eventually(lambda: next(iter(h.connections), None))
        assert conn.type == connection.TYPE_REMOTE


def test_no_port_listens_on_a_free_port_of_8080_to_8179(closer):
    first = closer(hub())
    second = closer(hub())
    assert 8080 <= first.port <= 8179 and 8080 <= second.port <= 8179
    assert first.port != second.port


def test_explicit_port_in_use_raises_runtime_error_naming_it(closer):
    taken = closer(hub(port=0))
    with pytest.raises(RuntimeError, match=str(taken.port)):
        hub(port=taken.port)


def test_opened_and_stopped_follow_close():
    h = hub(port=0)
    assert h.opened is True and h.stopped is False
    assert h.close() is None
    assert h.opened is False and h.stopped is True
    assert h.close() is None  # idempotent


def test_close_closes_every_connection_and_tells_the_peer(hubs):
    assert hubs.dialler.close() is None
    assert hubs.local.opened is False and hubs.local.stopped is True
    eventually(lambda: hubs.remote.stopped, what="peer sees __closing")
    assert hubs.remote.opened is False


def test_context_manager_closes_the_hub_even_on_error():
    with hub(port=0) as h:
        assert isinstance(h, hub) and h.opened
    assert h.stopped
    with pytest.raises(ZeroDivisionError):
        with hub(port=0) as h:
            1 / 0
    assert h.stopped


# --- connections, connect ---------------------------------------------------------


def test_no_connections_is_an_empty_list(closer):
    h = closer(hub(port=0))
    assert h.connections == [] and type(h.connections) is list
    assert h.getConnections() == [] and type(h.getConnections()) is list


def test_seed_busy_wait_on_connections_ends(closer):
    # The seed's README waits for a peer with `while h.connections == []: pass`;
    # the engine must fill the list while that loop spins.
    listener = closer(hub(port=0))
    dialler = closer(hub(port=0))
    dialling = threading.Thread(target=dialler.connect, args=("alpha", LOCALHOST, listener.port))
    dialling.start()
    deadline = time.monotonic() + 5
    while listener.connections == []:
        assert time.monotonic() < deadline, "no connection listed within 5 s"
    dialling.join(5)
    assert not dialling.is_alive()
    assert isinstance(listener.connections[0], connection)


def test_connect_returns_the_hub_so_calls_chain(closer):
    listener = closer(hub(port=0))
    dialler = closer(hub(port=0))
    assert dialler.connect("alpha", LOCALHOST, listener.port).write_all("greeting", "hi") == 1
    assert listener.wait_for("greeting", 5) == ["hi"]


def test_connect_with_a_timeout_gives_up_with_runtime_error(closer, refused_port):
    h = closer(hub(port=0))
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=str(refused_port)):
        h.connect("nobody", LOCALHOST, refused_port, timeout=0.3)
    assert 0.3 <= time.monotonic() - start < 3
    assert h.connections == []


def test_connections_are_the_same_connection_objects_every_time(hubs):
    for h in (hubs.dialler, hubs.listener):
        conns = h.connections
        assert type(conns) is list and len(conns) == 1
        assert isinstance(conns[0], connection)
        assert h.connections[0] is h.connections[0] is conns[0]
        assert h.getConnections() == conns and h.getConnections()[0] is conns[0]


def test_closed_connections_stay_listed_with_their_last_values(hubs):
    hubs.local.write("last", "words")
    eventually(lambda: hubs.remote.get("last"))
    hubs.local.close()
    eventually(lambda: hubs.remote.stopped)
    assert hubs.listener.connections == [hubs.remote]
    assert hubs.remote.get("last") == "words"
    assert hubs.listener.get_all("last") == ["words"]


# --- connection attributes, get/write, names ------------------------------------------


def test_local_and_remote_connection_attributes(hubs):
    assert (connection.TYPE_LOCAL, connection.TYPE_REMOTE) == (1, 2)
    local, remote = hubs.local, hubs.remote
    assert (local.name, local.addr, local.port, local.type) == (
        "alpha", LOCALHOST, hubs.listener.port, connection.TYPE_LOCAL)
    # The accepting side learns the name from the dialler's __name_conn.
    assert (remote.name, remote.addr, remote.type) == ("alpha", LOCALHOST, connection.TYPE_REMOTE)
    assert type(remote.port) is int and remote.port > 0
    assert remote.get("__name_conn") == "alpha"
    for c in (local, remote):
        assert c.opened is True and c.stopped is False and c.canWrite is True


def test_get_is_none_until_a_value_arrives_then_the_latest(hubs):
    assert hubs.remote.get("speed") is None
    for v in (1, 2, 3):
        assert hubs.local.write("speed", v) is None
    assert eventually(lambda: hubs.remote.get("speed") == 3)
    # And the other way round.
    assert hubs.remote.write("reply", "ok") is None
    assert eventually(lambda: hubs.local.get("reply")) == "ok"


def test_write_on_a_closed_connection_is_silently_ignored(hubs):
    assert hubs.local.close() is None
    assert hubs.local.opened is False and hubs.local.stopped is True
    assert hubs.local.write("late", 1) is None
    eventually(lambda: hubs.remote.stopped)
    assert hubs.remote.write("late", 1) is None
    assert hubs.local.close() is None  # idempotent


def test_hub_getters_give_empty_lists_when_nothing_arrived(hubs):
    for h in (hubs.dialler, hubs.listener):
        for result in (h.get_all("none"), h.get_by_name("alpha", "none"),
                       h.get_by_name("nobody", "none"), h.get_local("none"),
                       h.get_remote("none")):
            assert result == [] and type(result) is list


def test_names_work_on_both_sides(hubs):
    assert hubs.dialler.write_to_name("alpha", "ch", "to listener") == 1
    assert hubs.listener.write_to_name("alpha", "ch", "to dialler") == 1
    assert hubs.listener.wait_for("ch", 5) == ["to listener"]
    assert hubs.dialler.wait_for("ch", 5) == ["to dialler"]
    assert hubs.listener.get_by_name("alpha", "ch") == ["to listener"]
    assert hubs.dialler.get_by_name("alpha", "ch") == ["to dialler"]
    assert hubs.listener.get_by_name("nobody", "ch") == []


def test_write_to_an_unknown_name_writes_nothing(hubs):
    assert hubs.dialler.write_to_name("nobody", "ch", 1) == 0
    sync(hubs.dialler, hubs.remote)
    assert hubs.remote.get("ch") is None


def test_get_local_reads_dialled_hubs_and_get_remote_accepted_ones(middle):
    middle.x.write("pose", "from x")
    middle.y.write("pose", "from y")
    eventually(lambda: len(middle.hub.get_all("pose")) == 2)
    assert middle.hub.get_local("pose") == ["from x"]
    assert middle.hub.get_remote("pose") == ["from y"]
    assert middle.hub.get_all("pose") == ["from x", "from y"]  # in the order made
    assert middle.hub.get_by_name("x", "pose") == ["from x"]
    assert middle.hub.get_by_name("y", "pose") == ["from y"]


def test_write_to_local_reaches_exactly_the_dialled_hubs(middle):
    # Unlike the 0.3.0 Python package, which swapped the two writers.
    assert middle.hub.write_to_local("ch", "local") == 1
    sync(middle.hub, middle.x, middle.y)
    assert middle.x.get("ch") == "local"
    assert middle.y.get("ch") is None


def test_write_to_remote_reaches_exactly_the_accepted_hubs(middle):
    assert middle.hub.write_to_remote("ch", "remote") == 1
    sync(middle.hub, middle.x, middle.y)
    assert middle.y.get("ch") == "remote"
    assert middle.x.get("ch") is None


def test_write_all_reaches_every_connection(middle):
    assert middle.hub.write_all("ch", "all") == 2
    assert eventually(lambda: middle.x.get("ch")) == "all"
    assert eventually(lambda: middle.y.get("ch")) == "all"


# --- images --------------------------------------------------------------------------


def test_image_writers_return_the_count_and_deliver(hubs, image):
    assert hubs.remote.getImg() is None
    assert hubs.listener.get_all("__image") == []
    assert hubs.dialler.write_image_all(image) == 1
    eventually(lambda: hubs.remote.getImg() is not None)
    got = hubs.remote.getImg()
    np.testing.assert_array_equal(got, image)
    assert hubs.remote.getImg() is got  # the same array until a new image arrives
    [from_all] = hubs.listener.get_all("__image")
    np.testing.assert_array_equal(from_all, image)

    second = image[::-1].copy()
    eventually(lambda: hubs.local.canWrite, what="the first image is acknowledged")
    assert hubs.dialler.write_image_to_name("alpha", second) == 1
    eventually(lambda: np.array_equal(hubs.remote.getImg(), second))


def test_image_to_local_and_to_remote_reach_exactly_those(middle, image):
    gray = image[:, :, 0].copy()
    assert middle.hub.write_image_to_local(gray) == 1
    eventually(lambda: middle.x.getImg() is not None)
    np.testing.assert_array_equal(middle.x.getImg(), gray)
    sync(middle.hub, middle.y)
    assert middle.y.getImg() is None

    # With the image to x acknowledged, a stray frame to x would go at once,
    # ahead of the sync marker.
    eventually(lambda: middle.to_x.canWrite)
    assert middle.hub.write_image_to_remote(image) == 1
    eventually(lambda: middle.y.getImg() is not None)
    np.testing.assert_array_equal(middle.y.getImg(), image)
    sync(middle.hub, middle.x)
    np.testing.assert_array_equal(middle.x.getImg(), gray)


# --- stand-alone connection ------------------------------------------------------------


def test_connection_signature_is_the_seeds():
    assert seed_parameters(connection) == [
        ("name", inspect.Parameter.empty), ("timeout", 2), ("size", 256)]


def test_standalone_connection_before_connect():
    c = connection("cam")
    assert c.name == "cam"
    assert (c.addr, c.port, c.type) == (None, None, None)
    assert c.opened is False and c.stopped is False and c.canWrite is True
    assert c.get("anything") is None
    assert c.getImg() is None
    assert c.write("anything", 1) is None


def test_standalone_connection_dials_a_hub(closer):
    h = closer(hub(port=0))
    c = closer(connection("placeholder"))
    assert c.connect("cam", LOCALHOST, h.port) is None
    assert (c.name, c.addr, c.port, c.type) == ("cam", LOCALHOST, h.port, connection.TYPE_LOCAL)
    assert c.opened is True and c.stopped is False
    remote = eventually(lambda: next(iter(h.connections), None))
    eventually(lambda: remote.name == "cam")

    assert c.write("speed", 1) is None
    assert h.wait_for("speed", 5) == [1]
    assert h.get_by_name("cam", "speed") == [1]
    h.write_to_name("cam", "reply", 2)
    assert c.wait_for("reply", 5) == 2

    assert c.close() is None
    assert c.opened is False and c.stopped is True
    eventually(lambda: remote.stopped, what="hub sees the connection close")


def test_standalone_connection_as_context_manager(closer):
    h = closer(hub(port=0))
    with connection("cam") as c:
        c.connect("cam", LOCALHOST, h.port)
        remote = eventually(lambda: next(iter(h.connections), None))
    assert c.stopped
    eventually(lambda: remote.stopped)


# --- callbacks ---------------------------------------------------------------------------


def test_on_calls_back_on_another_thread(hubs):
    got = queue.Queue()
    assert hubs.listener.on("speed", lambda v: got.put((v, threading.get_ident()))) is hubs.listener
    hubs.local.write("speed", 3.5)
    value, thread = got.get(timeout=5)
    assert value == 3.5 and thread != threading.get_ident()


def test_connection_on_hears_only_that_connection(middle):
    from_y, everything = queue.Queue(), queue.Queue()
    assert middle.from_y.on("ch", from_y.put) is middle.from_y
    # Added second: on the callback thread it runs after the first for each value.
    middle.hub.on("ch", everything.put)
    middle.x.write("ch", "x")
    middle.y.write("ch", "y")
    assert {everything.get(timeout=5), everything.get(timeout=5)} == {"x", "y"}
    assert from_y.get_nowait() == "y"
    assert from_y.empty()


def test_exception_in_a_callback_is_reported_and_delivery_goes_on(hubs):
    reported, seen = queue.Queue(), queue.Queue()

    def callback(value):
        seen.put(value)
        if value == 1:
            raise ValueError("boom")

    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: reported.put(unraisable.exc_value)
    try:
        hubs.listener.on("n", callback)
        hubs.local.write("n", 1)
        assert seen.get(timeout=5) == 1
        error = reported.get(timeout=5)
        assert isinstance(error, ValueError) and str(error) == "boom"
        hubs.local.write("n", 2)
        assert seen.get(timeout=5) == 2
    finally:
        sys.unraisablehook = hook


# --- waits, flush, stats ------------------------------------------------------------------


def test_connection_wait_for(hubs):
    start = time.monotonic()
    assert hubs.remote.wait_for("ready", 0.2) is None
    assert 0.2 <= time.monotonic() - start < 2
    hubs.local.write("ready", True)
    assert hubs.remote.wait_for("ready", 5) is True
    start = time.monotonic()
    assert hubs.remote.wait_for("ready", 5) is True  # already there: at once
    assert time.monotonic() - start < 1


def test_hub_wait_for(hubs):
    start = time.monotonic()
    assert hubs.listener.wait_for("ready", 0.2) == []
    assert 0.2 <= time.monotonic() - start < 2
    hubs.local.write("ready", "yes")
    result = hubs.listener.wait_for("ready", 5)
    assert result == ["yes"] and type(result) is list


def test_wait_for_next_returns_only_a_newer_value(hubs):
    hubs.local.write("n", 0)
    eventually(lambda: hubs.remote.get("n") == 0)
    assert hubs.remote.wait_for_next("n", 0.2) is None  # 0 is not new

    got = newer_value_arrives(lambda: hubs.remote.wait_for_next("n", 5),
                              lambda n: hubs.local.write("n", n), first=1)
    assert type(got) is int and got >= 1


def test_flush_and_stats(hubs):
    hubs.local.write("x", 1)
    assert hubs.local.flush() is True
    stats = hubs.local.stats
    assert set(stats) == {"messages_in", "messages_out", "bytes_in", "bytes_out", "errors"}
    assert all(type(v) is int for v in stats.values())
    assert stats["messages_out"] >= 1 and stats["bytes_out"] > 0 and stats["errors"] == 0
    eventually(lambda: hubs.remote.stats["messages_in"] >= 1)
    lonely = connection("lonely")
    assert lonely.stats is None and lonely.flush() is False


# --- reconnection ---------------------------------------------------------------


def test_by_default_a_lost_connection_stays_closed_as_in_0_3(closer):
    listener = hub(port=0)
    dialler = closer(hub(port=0))
    local, _ = connect_hubs(dialler, listener, "alpha")
    listener.close()
    eventually(lambda: local.stopped, what="the dialler sees the link end")
    assert local.state == "closed"


def test_with_reconnect_a_dialled_connection_comes_back_as_the_same_object(closer):
    listener = hub(port=0)
    port = listener.port
    dialler = closer(hub(port=0, reconnect=True))
    local, _ = connect_hubs(dialler, listener, "alpha")
    assert local.state == "connected"
    listener.close()
    eventually(lambda: local.state == "reconnecting", what="the dialler redials")
    assert local.opened
    local.write("held", 1)  # kept for the next link
    again = closer(hub(port=port))
    back = eventually(
        lambda: next((c for c in again.connections if c.name == "alpha"), None),
        what="the dialler comes back under its name")
    assert back.wait_for("held", timeout=5) == 1
    assert local.state == "connected"
    assert dialler.connections == [local]
