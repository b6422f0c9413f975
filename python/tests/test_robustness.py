"""Waits that end when nothing more can come, close() with a backlog,
long timeouts, request/response without a lost reply, and the connection
list read from several threads at once."""

import threading
import time

from conftest import eventually, connect_hubs
from socketengine import hub


def test_waits_on_a_closed_connection_return_at_once(hubs):
    hubs.dialler.close()
    eventually(lambda: hubs.remote.stopped, what="listener sees the close")
    start = time.monotonic()
    assert hubs.remote.wait_for("never", 5) is None
    assert hubs.remote.wait_for_next("never", 5) is None
    assert hubs.remote.wait_for("__image", 5) is None
    assert time.monotonic() - start < 2  # not the 15 s of the three timeouts


def test_a_wait_on_a_closed_hub_returns_at_once(closer):
    h = closer(hub(port=0))
    h.close()
    start = time.monotonic()
    assert h.wait_for("never", 5) == []
    assert time.monotonic() - start < 2


def test_a_very_long_timeout_still_waits(hubs):
    # Past what the clock can add: treated as no timeout, not as one past.
    threading.Timer(0.2, lambda: hubs.dialler.write_all("late", 1)).start()
    assert hubs.listener.wait_for("late", float("inf")) == [1]
    threading.Timer(0.2, lambda: hubs.dialler.write_all("later", 2)).start()
    assert hubs.remote.wait_for("later", 1e12) == 2


def test_close_drops_a_backlog_of_callbacks(hubs):
    calls = []
    started = threading.Event()

    def slow(value):
        started.set()
        calls.append(value)
        time.sleep(0.01)  # a slow consumer, so that a backlog builds up

    hubs.listener.on("n", slow)
    for i in range(2000):
        hubs.dialler.write_all("n", i)
    hubs.dialler.connections[0].flush(5)
    assert started.wait(5)
    start = time.monotonic()
    hubs.listener.close()
    # Running the backlog would take about 20 s.
    assert time.monotonic() - start < 3
    assert len(calls) < 2000


def test_a_reply_that_comes_before_the_wait_is_not_missed(hubs):
    hubs.listener.on("ping", lambda v: hubs.listener.write_all("pong", v))
    for i in range(200):
        since = hubs.local.version("pong")
        hubs.local.write("ping", i)
        # However late this call comes, the reply counts: it is newer than
        # the version taken before the request.
        eventually(lambda: hubs.local.get("pong") == i, what="pong %d" % i)
        assert hubs.local.wait_for_next("pong", 5, since=since) == i


def test_connection_objects_stay_the_same_across_threads(closer):
    centre = closer(hub(port=0))
    mismatches = []
    stop = threading.Event()

    def read():
        while not stop.is_set():
            first = centre.connections
            second = centre.connections
            mismatches.extend(a for a, b in zip(first, second) if a is not b)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for r in readers:
        r.start()
    try:
        for i in range(20):
            connect_hubs(closer(hub(port=0)), centre, "p%d" % i)
    finally:
        stop.set()
        for r in readers:
            r.join(5)
    assert mismatches == []
    assert len(centre.connections) == 20
