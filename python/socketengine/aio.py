"""socketengine.aio: the socketengine API for asyncio programs.

Waits are coroutines that suspend the calling task, not the event loop, and
``on()`` callbacks run on the loop's thread::

    import asyncio
    from socketengine import aio

    async def main():
        async with aio.hub(port=8080) as h:
            peer = await h.wait_for_connection()
            v = peer.version("pong")
            peer.write("ping", 1)
            print(await peer.wait_for_next("pong", timeout=1.0, since=v))

    asyncio.run(main())

Nothing here starts a thread or uses an executor. The engine's I/O and
callback threads, which every hub, host and client has anyway, do the work;
its callback thread wakes waiting tasks through
``loop.call_soon_threadsafe``. Objects belong to the event loop running
when they are made, and must be used from that loop's thread.

What still blocks the loop (see docs/python.md, asyncio): making a hub or
host (binding, a few milliseconds), ``close()`` (flushing, up to the
engine's ``timeout``), writing an image (PNG encoding), a write under
``overflow_policy.block``, and ``connect``/``open`` in slices (see
``hub.connect``).
"""

import asyncio
import weakref

from . import _core, _open
from . import client as _client
from . import connection as _connection
from . import host as _host
from . import hub as _hub

__all__ = ["hub", "host", "client", "connection", "connect"]

# Dialling: the engine has no dial that returns before it connects, so a
# dial runs in slices that each block the loop for at most the slice, with
# the loop free between them. A reachable peer connects within the first;
# slices grow so that a slow handshake (TLS, a token) still fits in one.
_FIRST_SLICE = 0.02
_LAST_SLICE = 0.5
_BETWEEN_SLICES = 0.05


def _check_timeout(timeout):
    # The same rule and words as the engine's own waits.
    if timeout is not None and not timeout >= 0:
        raise ValueError("a timeout must be a number of seconds >= 0")


class _Waiter:
    """A task's wait: a future, and the check that says whether it is over
    (and with what result). Checked on the loop's thread only."""

    __slots__ = ("future", "check")

    def __init__(self, future, check):
        self.future = future
        self.check = check

    def poll(self):
        if self.future.done():
            return
        try:
            done, result = self.check()
        except BaseException as e:  # the waiting task hears of it
            self.future.set_exception(e)
            return
        if done:
            self.future.set_result(result)


def _expire(future, result):
    if not future.done():
        future.set_result(result)


def _relay(watch_ref, kind, channel=None):
    # An engine callback (on the callback thread) that holds its watch weakly:
    # the engine keeps its callbacks until it is closed, and a strong
    # reference would keep an unclosed engine alive through its own watch.
    def event(conn):
        watch = watch_ref()
        if watch is not None:
            watch._event(kind, conn, channel)
    return event


class _Watch:
    """One engine's waiting tasks and the engine events that wake them.

    Waiters are filed under keys: ("v", conn, channel) for values on one
    connection, ("v", None, channel) on any, ("i", conn) for images, ("d",
    conn) for a connection's end, ("c",) for the connection count. The
    callback thread only reads the dict of keys (which the GIL makes safe)
    to skip events nobody waits for; everything else happens on the loop.
    """

    def __init__(self, engine, loop):
        self.engine = engine
        self.loop = loop
        self._waiters = {}
        self._channels = set()  # channels whose value events are relayed
        self._images = False
        self._tasks = set()  # tasks of coroutine callbacks, kept until done
        self._ref = weakref.ref(self)
        engine.on_event("connect", _relay(self._ref, "connect"))
        engine.on_event("disconnect", _relay(self._ref, "disconnect"))

    # --- on the callback thread ---------------------------------------------

    def _event(self, kind, conn, channel):
        if kind == "value":
            keys = (("v", conn, channel), ("v", None, channel))
        elif kind == "image":
            keys = (("i", conn),)
        elif kind == "connect":
            keys = (("c",),)
        else:
            keys = (("c",), ("d", conn))
        keys = [k for k in keys if k in self._waiters]
        if keys:
            self.post(self._wake, keys)

    def post(self, fn, *args):
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed: nobody is left to wake
            pass

    # --- on the loop's thread -------------------------------------------------

    def _wake(self, keys):
        for k in keys:
            for w in list(self._waiters.get(k, ())):
                w.poll()

    def wake_all(self):
        for waiters in list(self._waiters.values()):
            for w in list(waiters):
                w.poll()

    def relay_values(self, channel):
        if channel not in self._channels and self.engine.is_open():
            self.engine.on_event("value", _relay(self._ref, "value", channel), channel)
            self._channels.add(channel)

    def relay_images(self):
        if not self._images and self.engine.is_open():
            self.engine.on_event("image", _relay(self._ref, "image"))
            self._images = True

    async def wait(self, keys, check, timeout, expired):
        """Returns check()'s result once it says done, or ``expired`` after
        ``timeout`` seconds (None: no limit)."""
        _check_timeout(timeout)
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("socketengine.aio: used from another event loop than the one "
                               "it was made in")
        w = _Waiter(self.loop.create_future(), check)
        for k in keys:
            self._waiters.setdefault(k, set()).add(w)
        timer = None
        try:
            # Checked once filed: an event that came before was skipped for
            # want of a waiter, but what it announced is there to read.
            w.poll()
            if not w.future.done() and timeout is not None:
                timer = self.loop.call_later(timeout, _expire, w.future, expired)
            return await w.future
        finally:
            # Whatever ended the wait (a result, the timeout, cancellation),
            # nothing of it stays behind.
            if timer is not None:
                timer.cancel()
            for k in keys:
                waiters = self._waiters.get(k)
                if waiters is not None:
                    waiters.discard(w)
                    if not waiters:
                        del self._waiters[k]

    def waiting(self):
        """How many waits are filed (for tests: none after they end)."""
        return len({w for waiters in self._waiters.values() for w in waiters})

    def deliver(self, callback):
        """An engine callback that runs ``callback(data)`` on the loop."""
        ref = self._ref

        def on_callback_thread(data):
            watch = ref()
            if watch is not None:
                watch.post(watch._call, callback, data)
        return on_callback_thread

    def _call(self, callback, data):
        result = callback(data)
        if asyncio.iscoroutine(result):
            task = self.loop.create_task(result)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task):
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.loop.call_exception_handler({
                "message": "exception in a socketengine.aio on() callback",
                "exception": task.exception(),
                "task": task,
            })


async def _dial(attempt, timeout):
    """Calls ``attempt(seconds)`` (a blocking dial bounded by ``seconds``)
    until it connects, fails for another reason than time, or ``timeout``
    seconds (None: no limit) pass."""
    _check_timeout(timeout)
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    step = _FIRST_SLICE
    while True:
        now = loop.time()
        length = step if deadline is None else max(0.0, min(step, deadline - now))
        try:
            return attempt(length)
        except RuntimeError as e:
            # Only a slice that ran out is tried again (the engine says
            # "connect timed out"); refusals are retried within a slice.
            if "connect timed out" not in str(e):
                raise
            if deadline is not None and loop.time() >= deadline:
                raise
        await asyncio.sleep(_BETWEEN_SLICES if deadline is None
                            else max(0.0, min(_BETWEEN_SLICES, deadline - loop.time())))
        step = min(step * 2, _LAST_SLICE)


class _closing:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.close()
        return False


class connection(_closing):
    """One connection, as ``socketengine.connection`` (attributes, get,
    write, writeImg, ... are the same), with awaitable waits.

    Made by the engines here (``hub.connect``, ``hub.connections``,
    ``client.connection``) or by ``aio.connect``.
    """

    def __init__(self, sync_connection, watch):
        self._sync = sync_connection
        self._watch = watch

    def __getattr__(self, name):
        # Everything that does not wait is the synchronous connection's.
        if name == "_sync":  # not made (its constructor raised)
            raise AttributeError(name)
        return getattr(self._sync, name)

    @property
    def _c(self):
        return self._sync._c

    def _is_image(self, channel):
        return channel == self._sync._image_channel

    def version(self, channel):
        """A number that grows each time a value arrives on ``channel`` (0:
        none yet); on the image channel, each time an image arrives."""
        if self._is_image(channel):
            return self.image_version()
        return self._sync.version(channel)

    def image_version(self):
        """As version(), for images."""
        return self._c.image_version() if self._c is not None else 0

    def _latest(self, channel):
        # The latest value and its version, read consistently: a value that
        # arrives between the two reads makes them read again.
        c = self._c
        if self._is_image(channel):
            while True:
                v = c.image_version()
                img = self._sync.getImg()
                if c.image_version() == v:
                    return v, img
        while True:
            v = c.version(channel)
            value = c.get(channel)
            if c.version(channel) == v:
                return v, value

    async def _next(self, channel, since, timeout):
        # (version, value) of the latest value newer than `since`; None on
        # timeout or once the connection closes without one.
        c = self._c
        if c is None:
            _check_timeout(timeout)
            return None
        if self._is_image(channel):
            self._watch.relay_images()
            keys = [("i", c), ("d", c)]
            current = c.image_version
        else:
            self._watch.relay_values(channel)
            keys = [("v", c, channel), ("d", c)]

            def current():
                return c.version(channel)

        def check():
            if current() > since:
                return True, self._latest(channel)
            if not c.is_open():
                return True, None
            return False, None

        return await self._watch.wait(keys, check, timeout, None)

    async def wait_for(self, channel, timeout=None):
        """Waits until ``channel`` has a value and returns it (at once if it
        has one); None if ``timeout`` seconds pass first or the connection
        closes. On the image channel, the image."""
        got = await self._next(channel, 0, timeout)
        return got[1] if got is not None else None

    async def wait_for_next(self, channel, timeout=None, since=None):
        """Like wait_for, but only a value newer than ``since`` (a
        version(channel) taken earlier; default: the version now). For
        request/response take the version before writing the request."""
        if since is None:
            since = self.version(channel)
        got = await self._next(channel, since, timeout)
        return got[1] if got is not None else None

    async def wait_for_image(self, timeout=None):
        """Waits until an image has arrived and returns the latest (a NumPy
        array); None on timeout or close."""
        return await self.wait_for(self._sync._image_channel, timeout)

    async def wait_for_next_image(self, timeout=None, since=None):
        """Like wait_for_image, but only an image newer than ``since`` (an
        image_version() taken earlier; default: the version now)."""
        return await self.wait_for_next(self._sync._image_channel, timeout, since)

    async def values(self, channel, since=0):
        """Yields the latest value on ``channel`` each time it changes,
        starting with the value there now, if any (``since``: a version;
        only newer values). Latest-value semantics: values that arrive
        while the consumer is busy are skipped and only the newest of them
        is yielded, so a slow consumer never falls behind. Ends when the
        connection closes. On the image channel, images::

            async for v in conn.values("pose"):
                ...
        """
        while True:
            got = await self._next(channel, since, None)
            if got is None:
                return
            since, value = got
            yield value

    def on(self, channel, callback):
        """Calls ``callback(data)`` on the event loop for every value that
        arrives on ``channel`` from this connection (on the image channel:
        every image). A coroutine function's coroutine runs as a task. An
        exception goes to the loop's exception handler. Returns self."""
        self._sync.on(channel, self._watch.deliver(callback))
        return self

    def close(self):
        """Closes the connection (telling a hub peer so); waiting tasks get
        None. Blocks while what was written is flushed, up to the engine's
        timeout."""
        self._sync.close()
        self._watch.wake_all()

    def __repr__(self):
        return "<socketengine.aio." + repr(self._sync)[len("<socketengine."):]


class _engine(_closing):
    """What the awaitable hub, host and client share."""

    _sync_class = None

    def _start(self, sync_engine):
        self._sync = sync_engine
        try:
            self._watch = _Watch(sync_engine, asyncio.get_running_loop())
        except BaseException:
            sync_engine.close()
            raise
        self._wrapped = weakref.WeakKeyDictionary()  # sync connection -> ours

    def __getattr__(self, name):
        # What does not wait (writes, get_all, port, ...) is the
        # synchronous engine's.
        if name in ("_sync", "_watch"):  # not made (its constructor raised)
            raise AttributeError(name)
        return getattr(self._sync, name)

    def _wrap(self, sync_connection):
        c = self._wrapped.get(sync_connection)
        if c is None:
            c = self._wrapped[sync_connection] = connection(sync_connection, self._watch)
        return c

    @property
    def connections(self):
        """Every connection (as aio connections), in the order made, closed
        ones included."""
        return [self._wrap(c) for c in self._sync._connections()]

    def on(self, channel, callback):
        """Calls ``callback(data)`` on the event loop for every value that
        arrives on ``channel`` on any connection (on the image channel:
        every image). A coroutine function's coroutine runs as a task. An
        exception goes to the loop's exception handler. Returns self."""
        self._sync.on(channel, self._watch.deliver(callback))
        return self

    async def wait_for(self, channel, timeout=None):
        """Waits until some connection has a value on ``channel`` and returns
        every connection's latest (as the synchronous wait_for); [] if
        ``timeout`` seconds pass first or the engine closes."""
        if channel == self._sync._image_channel:
            raise ValueError("socketengine: wait for images on a connection (wait_for_image)")
        engine = self._sync
        self._watch.relay_values(channel)

        def check():
            got = engine.get_all(channel)
            if got:
                return True, got
            return not engine.is_open(), []

        return await self._watch.wait([("v", None, channel)], check, timeout, [])

    def _open_connections(self):
        return [c for c in self._sync._connections() if c.opened]

    async def wait_for_connections(self, count=1, timeout=None):
        """Waits until at least ``count`` connections are open; False if
        ``timeout`` seconds pass first or the engine closes."""
        engine = self._sync

        def check():
            if len(self._open_connections()) >= count:
                return True, True
            return not engine.is_open(), False

        return await self._watch.wait([("c",)], check, timeout, False)

    async def wait_for_connection(self, timeout=None):
        """Waits until a connection is open and returns the oldest open one;
        None if ``timeout`` seconds pass first or the engine closes."""
        engine = self._sync

        def check():
            open_now = self._open_connections()
            if open_now:
                return True, self._wrap(open_now[0])
            return not engine.is_open(), None

        return await self._watch.wait([("c",)], check, timeout, None)

    def close(self):
        """Closes every connection and stops the engine's threads; waiting
        tasks get what a closed engine gives (None, [] or False). Blocks
        while connections flush, up to the engine's timeout. Idempotent."""
        self._sync.close()
        self._watch.wake_all()

    def _waiting(self):
        return self._watch.waiting()

    def __repr__(self):
        if "_sync" not in self.__dict__:
            return "<socketengine.aio.{} (not made)>".format(type(self).__name__)
        return "<socketengine.aio." + repr(self._sync)[len("<socketengine."):]


class hub(_engine):
    """A hub (arguments as ``socketengine.hub``) for asyncio: make it in a
    coroutine; it belongs to that event loop. Waits are awaitable and
    ``connect`` dials without holding the loop for long."""

    def __init__(self, *args, **kwargs):
        self._start(_hub(*args, **kwargs))

    async def connect(self, name, addr, port=None, timeout=None):
        """Dials (addr, port) as ``name``, retrying while refused, for at
        most ``timeout`` seconds (None: until connected); returns the new
        connection. The dial runs in slices that each block the loop for at
        most 0.5 s (the first 20 ms; a reachable peer is connected in it),
        with the loop free between them. RuntimeError when it cannot
        connect."""
        got = []
        sync = self._sync

        def attempt(seconds):
            got.append(sync.dial(name, addr, port or 0, seconds))

        await _dial(attempt, timeout)
        core = got[-1]
        for c in sync._connections():
            if c._c is core:
                return self._wrap(c)
        raise RuntimeError("socketengine: the connection closed at once")  # forgotten already

    def listen(self, endpoint, socket_file_mode=None):
        """As socketengine.hub.listen. Returns self."""
        self._sync.listen(endpoint, socket_file_mode)
        return self

    def getConnections(self):
        return self.connections


class host(_engine):
    """A host (arguments as ``socketengine.host``) for asyncio: make it in a
    coroutine; it belongs to that event loop."""

    def __init__(self, *args, **kwargs):
        self._start(_host(*args, **kwargs))

    def start(self):
        """Begins accepting clients. Returns self."""
        self._sync.start()
        return self

    def listen(self, endpoint, socket_file_mode=None):
        """As socketengine.host.listen. Returns self."""
        self._sync.listen(endpoint, socket_file_mode)
        return self

    @property
    def clients(self):
        return self.connections

    def getClients(self):
        return self.connections


class client(_engine):
    """A client (arguments as ``socketengine.client``, except that it never
    opens when made) for asyncio: make it in a coroutine, then ``await
    c.open()``, or use ``async with aio.client(...) as c``, which opens it.
    Waits on the client are its connection's."""

    def __init__(self, addr='127.0.0.1', port=8080, timeout=2, size=256, open=False, **kwargs):
        if open:
            raise ValueError("socketengine.aio.client cannot open when made: await open()")
        self._start(_client(addr, port, timeout, size, open=False, **kwargs))

    async def __aenter__(self):
        if not self.opened:
            await self.open()
        return self

    async def open(self, timeout=None):
        """Connects to the host, retrying while refused, for at most
        ``timeout`` seconds (None: until connected); in slices, as
        hub.connect. Returns self."""
        await _dial(self._sync.open, timeout)
        return self

    @property
    def connection(self):
        """The connection to the host (None before open())."""
        conn = self._sync._conn
        return self._wrap(conn) if conn is not None else None

    @property
    def connections(self):
        """[connection], or [] before open()."""
        conn = self.connection
        return [conn] if conn is not None else []

    def _open_connections(self):
        conn = self._sync._conn
        return [conn] if conn is not None and conn.opened else []

    def _connected(self):
        conn = self.connection
        if conn is None:
            raise RuntimeError("socketengine: client is not open (await open())")
        return conn

    async def wait_for(self, channel, timeout=None):
        """See connection.wait_for."""
        return await self._connected().wait_for(channel, timeout)

    async def wait_for_next(self, channel, timeout=None, since=None):
        """See connection.wait_for_next."""
        return await self._connected().wait_for_next(channel, timeout, since)

    async def wait_for_image(self, timeout=None):
        """See connection.wait_for_image."""
        return await self._connected().wait_for_image(timeout)

    async def wait_for_next_image(self, timeout=None, since=None):
        """See connection.wait_for_next_image."""
        return await self._connected().wait_for_next_image(timeout, since)

    def values(self, channel, since=0):
        """See connection.values."""
        return self._connected().values(channel, since)

    def version(self, channel):
        """See connection.version."""
        return self._connected().version(channel)

    def image_version(self):
        return self._connected().image_version()


async def connect(name, addr, port=None, timeout=None, conn_timeout=2, size=256):
    """A stand-alone connection to the hub at (addr, port), named ``name``
    (as ``socketengine.connection(name).connect(name, addr, port)``), dialled
    as hub.connect dials. ``conn_timeout`` is the connection's own timeout
    (flushing on close, waiting for room to write)."""
    own = _core.Hub(None, conn_timeout, size, listen=False)
    try:
        watch = _Watch(own, asyncio.get_running_loop())
        got = []

        def attempt(seconds):
            got.append(own.dial(name, addr, port or 0, seconds))

        await _dial(attempt, timeout)
    except BaseException:
        own.close()
        raise
    sync = _connection._of(got[-1], own, "__image")
    sync._own = own  # closed with the connection, as the synchronous one's
    sync._name = name
    _open.add(sync)  # closed at exit if the program did not
    return connection(sync, watch)
