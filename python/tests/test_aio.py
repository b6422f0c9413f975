"""socketengine.aio: awaitable waits and loop-thread callbacks for asyncio.

Each test runs its own event loop with asyncio.run (the standard library
only), bounded as a whole by TEST_DEADLINE. Waiting tasks are woken by the
engine's callback thread; these tests check that they are (values, images,
connections, closes), that the loop keeps running meanwhile, that callbacks
run on the loop's thread, and that nothing is left behind: no waiters after
a timeout or a cancellation, no thread or executor started.
"""

import asyncio
import concurrent.futures
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

from conftest import LOCALHOST, child_env
from socketengine import aio

# How long something that should happen may take: generous, for loaded
# machines and sanitizer builds; only a failing test waits this long.
DEADLINE = 10.0
TEST_DEADLINE = 60.0


def run(test):
    """Runs the coroutine function ``test`` in a new event loop, failing it
    if it has not finished within TEST_DEADLINE seconds."""
    async def bounded():
        return await asyncio.wait_for(test(), TEST_DEADLINE)
    return asyncio.run(bounded())


async def connected_hubs(name="alpha"):
    """Two hubs on system-chosen ports, ``dialler`` connected to
    ``listener`` as ``name``; returns them and both ends of the link (the
    dialler's connection, the listener's)."""
    listener = aio.hub(port=0)
    dialler = aio.hub(port=0)
    local = await dialler.connect(name, LOCALHOST, listener.port, timeout=DEADLINE)
    remote = await listener.wait_for_connection(DEADLINE)
    assert remote is not None, "the listener never listed the connection"
    return listener, dialler, local, remote


async def filed(engine, n):
    """Returns once ``n`` waits are filed on ``engine``'s connections: the
    waiting tasks have checked what is there and are asleep."""
    async def spin():
        while engine._waiting() < n:
            await asyncio.sleep(0)
    await asyncio.wait_for(spin(), DEADLINE)


class Ticker:
    """A task that counts the loop's turns: it only counts while the loop
    runs other tasks, so a count that grows shows the loop was free."""

    def __init__(self):
        self.ticks = 0
        self.task = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self):
        while True:
            self.ticks += 1
            await asyncio.sleep(0)

    async def reached(self, n):
        while self.ticks < n:
            await asyncio.sleep(0)

    def stop(self):
        self.task.cancel()


# --- waits --------------------------------------------------------------------------

def test_wait_for_and_wait_for_next_between_two_hubs():
    async def test():
        listener, dialler, local, remote = await connected_hubs()
        async with listener, dialler:
            local.write("x", 1)
            assert await remote.wait_for("x", DEADLINE) == 1
            # A value already there is returned at once, however often.
            assert await remote.wait_for("x", 0) == 1
            assert await listener.wait_for("x", DEADLINE) == [1]

            # Request/response: the version taken before writing makes a
            # reply that comes back before the wait count.
            since = local.version("pong")
            remote.on("ping", lambda v: remote.write("pong", v + 1))
            local.write("ping", 41)
            assert await local.wait_for_next("pong", DEADLINE, since=since) == 42

            since = remote.version("x")
            assert since > 0
            local.write("x", 2)
            assert await remote.wait_for_next("x", DEADLINE, since=since) == 2
            assert remote.version("x") > since
    run(test)


def test_timeouts_give_what_the_synchronous_waits_give():
    async def test():
        listener, dialler, local, remote = await connected_hubs()
        async with listener, dialler:
            assert await remote.wait_for("nothing", 0.05) is None
            assert await remote.wait_for_next("nothing", 0) is None
            assert await remote.wait_for_image(0.05) is None
            assert await listener.wait_for("nothing", 0.05) == []
            assert await listener.wait_for_connections(2, 0.05) is False
            with pytest.raises(ValueError):
                await remote.wait_for("nothing", -1)
            assert listener._waiting() == 0
    run(test)


def test_images_between_two_hubs():
    async def test():
        listener, dialler, local, remote = await connected_hubs("cam")
        async with listener, dialler:
            first = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
            local.writeImg(first)
            got = await remote.wait_for_image(DEADLINE)
            assert got is not None
            np.testing.assert_array_equal(got, first)

            since = remote.image_version()
            assert since > 0 and remote.version("__image") == since
            second = np.full((3, 2), 7, dtype=np.uint8)
            waiting = asyncio.get_running_loop().create_task(
                remote.wait_for_next_image(DEADLINE, since))
            await filed(listener, 1)  # found only the first image there
            local.writeImg(second)
            got = await waiting
            assert got is not None
            np.testing.assert_array_equal(got, second)
    run(test)


def test_waiting_leaves_the_loop_free():
    """A value written only once another task has run 200 times arrives: a
    wait that held the loop would never let it be written."""
    async def test():
        listener, dialler, local, remote = await connected_hubs()
        async with listener, dialler:
            ticker = Ticker()

            async def write_later():
                await ticker.reached(200)
                local.write("late", "here")

            writer = asyncio.get_running_loop().create_task(write_later())
            assert await remote.wait_for("late", DEADLINE) == "here"
            assert ticker.ticks >= 200
            await writer
            ticker.stop()
    run(test)


def test_hub_waits_for_connections():
    async def test():
        async with aio.hub(port=0) as listener, aio.hub(port=0) as dialler:
            waiting = asyncio.get_running_loop().create_task(
                listener.wait_for_connections(2, DEADLINE))
            first = asyncio.get_running_loop().create_task(listener.wait_for_connection(DEADLINE))
            await dialler.connect("one", LOCALHOST, listener.port, timeout=DEADLINE)
            assert (await first) is listener.connections[0]
            assert not waiting.done()
            await dialler.connect("two", LOCALHOST, listener.port, timeout=DEADLINE)
            assert await waiting is True
            assert len(listener.connections) == 2
    run(test)


def test_values_yields_the_latest_and_skips_what_it_missed():
    async def test():
        listener, dialler, local, remote = await connected_hubs()
        async with listener, dialler:
            for n in range(1, 6):
                local.write("x", n)
            local.write("done", True)  # after every x on the same connection
            assert await remote.wait_for("done", DEADLINE) is True
            values = remote.values("x")
            # Only the latest of the five that came while nobody read.
            assert await values.__anext__() == 5
            local.write("x", 6)
            assert await values.__anext__() == 6
            local.close()  # the iteration ends with the connection
            with pytest.raises(StopAsyncIteration):
                await values.__anext__()
            assert listener._waiting() == 0
    run(test)


# --- callbacks ------------------------------------------------------------------------

def test_callbacks_run_on_the_loop_thread():
    async def test():
        listener, dialler, local, remote = await connected_hubs()
        async with listener, dialler:
            loop_thread = threading.get_ident()
            got = asyncio.Queue()
            remote.on("plain", lambda v: got.put_nowait(("plain", v, threading.get_ident())))

            async def coroutine(v):
                await asyncio.sleep(0)
                got.put_nowait(("coroutine", v, threading.get_ident()))

            listener.on("coro", coroutine)
            local.write("plain", 1)
            local.write("coro", 2)
            seen = {}
            for _ in range(2):
                kind, v, thread = await asyncio.wait_for(got.get(), DEADLINE)
                seen[kind] = (v, thread)
            assert seen == {"plain": (1, loop_thread), "coroutine": (2, loop_thread)}
    run(test)


def test_image_callbacks_run_on_the_loop_thread():
    async def test():
        listener, dialler, local, remote = await connected_hubs("cam")
        async with listener, dialler:
            got = asyncio.Queue()
            remote.on("__image", lambda img: got.put_nowait((img, threading.get_ident())))
            image = np.full((2, 2, 3), 9, dtype=np.uint8)
            local.writeImg(image)
            img, thread = await asyncio.wait_for(got.get(), DEADLINE)
            np.testing.assert_array_equal(img, image)
            assert thread == threading.get_ident()
    run(test)


# --- nothing left behind ----------------------------------------------------------------

def test_timeouts_and_cancellation_leave_no_waiters():
    async def test():
        listener, dialler, local, remote = await connected_hubs()
        async with listener, dialler:
            assert await remote.wait_for_next("y", 0.01) is None
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(remote.wait_for_next("y"), 0.01)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(listener.wait_for("y"), 0.01)
            task = asyncio.get_running_loop().create_task(remote.wait_for_next_image())
            await filed(listener, 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert listener._waiting() == 0
            assert listener._watch._waiters == {}
            # And waiting still works afterwards.
            since = remote.version("y")
            local.write("y", "after")
            assert await remote.wait_for_next("y", DEADLINE, since) == "after"
            assert listener._waiting() == 0
    run(test)


def test_closing_wakes_waiters():
    async def test():
        listener, dialler, local, remote = await connected_hubs()
        loop = asyncio.get_running_loop()
        try:
            # The peer closing ends the remote connection's waits.
            value = loop.create_task(remote.wait_for("never", DEADLINE * 2))
            image = loop.create_task(remote.wait_for_next_image(DEADLINE * 2))
            await filed(listener, 2)
            local.close()
            assert await asyncio.wait_for(value, DEADLINE) is None
            assert await asyncio.wait_for(image, DEADLINE) is None

            # Closing the hub ends its own waits.
            any_value = loop.create_task(listener.wait_for("never", DEADLINE * 2))
            count = loop.create_task(listener.wait_for_connections(5, DEADLINE * 2))
            await filed(listener, 2)
            listener.close()
            assert await asyncio.wait_for(any_value, DEADLINE) == []
            assert await asyncio.wait_for(count, DEADLINE) is False
            assert listener._waiting() == 0
        finally:
            listener.close()
            dialler.close()
    run(test)


def test_no_thread_or_executor_is_started():
    class NoExecutor(concurrent.futures.ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            raise AssertionError("socketengine.aio used an executor")

    async def test():
        asyncio.get_running_loop().set_default_executor(NoExecutor())
        before = set(threading.enumerate())
        listener, dialler, local, remote = await connected_hubs()
        async with listener, dialler:
            remote.on("x", lambda v: None)
            local.write("x", 1)
            assert await remote.wait_for("x", DEADLINE) == 1
            local.writeImg(np.zeros((2, 2), dtype=np.uint8))
            assert await remote.wait_for_image(DEADLINE) is not None
            assert await remote.wait_for_next("x", 0.01) is None
            assert set(threading.enumerate()) == before
    run(test)


# --- dialling ---------------------------------------------------------------------------

def test_stand_alone_connection():
    async def test():
        async with aio.hub(port=0) as listener:
            async with await aio.connect("solo", LOCALHOST, listener.port, timeout=DEADLINE) as c:
                assert c.opened and c.name == "solo"
                c.write("x", "hello")
                assert await listener.wait_for("x", DEADLINE) == ["hello"]
                remote = listener.connections[0]
                since = c.version("y")
                remote.write("y", "back")
                assert await c.wait_for_next("y", DEADLINE, since) == "back"
            assert c.stopped
    run(test)


def test_refused_dial_times_out_without_holding_the_loop(refused_port):
    async def test():
        async with aio.hub(port=0) as h:
            ticker = Ticker()
            with pytest.raises(RuntimeError, match="connect timed out"):
                await h.connect("nobody", LOCALHOST, refused_port, timeout=0.5)
            # The loop ran between the slices of the dial.
            assert ticker.ticks > 1
            ticker.stop()
    run(test)


# --- host and client ----------------------------------------------------------------------

def test_host_and_client():
    async def test():
        async with aio.host(port=0) as h:
            h.start()
            async with aio.client(port=h.port) as c:
                conn = await h.wait_for_connection(DEADLINE)
                assert conn is not None
                assert h.clients == [conn]
                assert c.connections == [c.connection]
                assert await c.wait_for_connection(0) is c.connection
                since = c.version("x")
                conn.write("x", 1)
                assert await c.wait_for_next("x", DEADLINE, since) == 1
                c.write("y", 2)
                assert await h.wait_for("y", DEADLINE) == [2]
                assert await conn.wait_for("y", DEADLINE) == 2
                image = np.full((2, 3, 3), 5, dtype=np.uint8)
                h.writeImg_ALL(image)
                np.testing.assert_array_equal(await c.wait_for_image(DEADLINE), image)
    run(test)


# --- a peer in another process ------------------------------------------------------------

PEER = textwrap.dedent('''
    import sys
    import numpy as np
    from socketengine import hub

    h = hub(port=0)
    h.connect("child", "127.0.0.1", int(sys.argv[1]), timeout=10)
    conn = h.connections[0]

    def answer(v):
        conn.write("pong", v + 1)
        conn.writeImg(np.full((2, 3, 3), v, dtype=np.uint8))

    conn.on("ping", answer)
    conn.write("hello", "from the child")
    conn.wait_for("bye", timeout=30)  # or until the parent closes
    h.close()
''')


def test_peer_in_another_process():
    async def test():
        async with aio.hub(port=0) as h:
            child = subprocess.Popen([sys.executable, "-c", PEER, str(h.port)], env=child_env())
            try:
                conn = await h.wait_for_connection(DEADLINE)
                assert conn is not None, "the child never connected"
                assert await conn.wait_for("hello", DEADLINE) == "from the child"
                for n in (1, 2, 3):
                    since, image_since = conn.version("pong"), conn.image_version()
                    conn.write("ping", n)
                    assert await conn.wait_for_next("pong", DEADLINE, since) == n + 1
                    img = await conn.wait_for_next_image(DEADLINE, image_since)
                    np.testing.assert_array_equal(img, np.full((2, 3, 3), n, dtype=np.uint8))
                conn.write("bye", True)
                # The child closes: the connection's waits end.
                assert await conn.wait_for_next("pong", DEADLINE) is None
            finally:
                try:
                    child.wait(DEADLINE)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait(DEADLINE)
            assert child.returncode == 0
    run(test)
