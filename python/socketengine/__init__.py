"""socketengine: the socket.engine 0.3 Python API on a C++ engine.

A program written for socket.engine 0.3 runs unchanged::

    from socketengine import hub

    h = hub(port=8080)
    while h.connections == []:
        pass
    h.write_all("test", "hubs are connected")
    h.close()

Every class here is a thin layer over ``socketengine._core`` (the C++
engine): sockets, parsing, PNG coding and waiting happen there, without the
GIL. What this layer adds is the seed's shape: its names, argument names and
defaults, its return values (``self`` where the seed returned it) and its
attributes (``connections``, ``opened``, ``canWrite``, ...).

Values are JSON: str, int, float, bool, None, lists (and tuples) and dicts,
returned as the same Python types (tuples come back as lists). Images are
NumPy uint8 arrays: HxW (gray), HxWx3 (BGR) or HxWx4 (BGRA), as OpenCV uses.

A value may also be bytes (or a bytearray or memoryview: the bytes that
``bytes(x)`` gives), as the whole value only: bytes inside a list or dict
raise TypeError. Between socketengine peers they travel as they are and
come back as ``bytes``, whether or not the connection has switched to the
native protocol yet (``connection.native``); a socket.engine 0.3 peer gets
them as a base64 string (``str``).

Differences from socket.engine 0.3 (see docs/python.md): ``write_to_local``
and ``write_to_remote`` write to the connections ``get_local`` and
``get_remote`` read; a client's received images come back decoded; writes on
a closed connection are ignored, as the seed ignored them on hubs.
"""

import atexit
import os
import threading
import weakref

from . import _core

__all__ = ["hub", "connection", "host", "client", "discover"]

_HUB_IMAGE = "__image"  # a hub connection's image channel
_HOST_IMAGE = "image"  # a host's or client's image channel

# Every hub, host, client and stand-alone connection still open, so that an
# interpreter that exits without closing them ends promptly and cleanly.
_open = weakref.WeakSet()


@atexit.register
def _close_all():
    for obj in list(_open):
        try:
            obj.close()
        except Exception:  # exiting: there is nobody left to tell
            pass


class _context:
    """``with x as y:`` closes ``x`` at the end of the block."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class connection(_context):
    """One connection of a hub, a host or a client; or, made by the program
    itself, a connection to a remote hub (``connection(name).connect(name,
    addr, port)``).

    Attributes: ``name``, ``addr``, ``port``, ``type`` (TYPE_LOCAL: dialled
    by this side; TYPE_REMOTE: accepted), ``opened``, ``stopped``,
    ``canWrite`` (False while an image is in flight), ``native`` (the peer
    is a socketengine engine and bytes reach it as bytes).
    """

    TYPE_LOCAL = 1
    TYPE_REMOTE = 2

    def __init__(self, name, timeout=2, size=256):
        self._name = name
        self._timeout = timeout
        self._size = size
        self._c = None  # the engine's connection, once there is one
        self._engine = None  # the hub, host or client it belongs to
        self._own = None  # the engine made for a stand-alone connection
        self._image_channel = _HUB_IMAGE
        self._image = None
        self._image_version = 0

    @classmethod
    def _of(cls, core_connection, engine, image_channel):
        c = cls.__new__(cls)
        cls.__init__(c, None)
        c._c = core_connection
        c._engine = engine
        c._image_channel = image_channel
        return c

    # --- the seed's calls --------------------------------------------------

    def connect(self, name, addr, port=None, timeout=None):
        """Dials the hub at (addr, port) as ``name``; blocks until connected
        (retrying while refused, as the seed did) or ``timeout`` seconds
        pass. ``addr`` may be ``'unix:PATH'``, a Unix domain socket, with no
        port. Raises RuntimeError when it cannot connect."""
        if self._c is not None:
            raise RuntimeError("socketengine: connection is already connected")
        own = _core.Hub(None, self._timeout, self._size, listen=False)
        try:
            self._c = own.dial(name, addr, port or 0, timeout)
        except BaseException:
            own.close()
            raise
        self._own = own
        self._engine = own
        self._name = name
        _open.add(self)

    def get(self, channel):
        """The latest value on ``channel``, or None. The image channel
        (``__image``; ``image`` on hosts and clients) gives the image."""
        if self._c is None:
            return None
        if channel == self._image_channel:
            return self.getImg()
        return self._c.get(channel)

    def getImg(self):
        """The latest image as a NumPy array, or None. The same array object
        is returned until a new image arrives, as in the seed."""
        if self._c is None:
            return None
        version = self._c.image_version()
        if version != self._image_version:
            self._image = self._c.get_image()
            self._image_version = version
        return self._image

    def write(self, channel, data):
        """Sends ``data`` (any JSON value, or bytes, bytearray or memoryview
        as the whole value) on ``channel``. Ignored when the connection is
        closed. Raises TypeError for values JSON cannot hold (bytes inside a
        list or dict among them) and RuntimeError when the write queue stays
        full for ``timeout``. Bytes reach a socketengine peer as ``bytes``
        and a socket.engine 0.3 peer as a base64 ``str``."""
        if self._c is None:
            return
        try:
            self._c.write(channel, data)
        except RuntimeError:
            if self._c.is_open():
                raise

    def writeImg(self, data, encoding=None, copy=True):
        """Sends an image (a NumPy uint8 array): as PNG to a socket.engine 0.3
        peer; to a socketengine peer in ``encoding`` ('png', 'jpeg' or
        'raw'; default: the engine's ``image_encoding``). While an image is
        in flight (``canWrite`` False) the newest image waits and goes when
        the peer acknowledges (an older waiting one is replaced).
        ``copy=False`` reads the array in place instead of copying it: it
        must be C-contiguous, and is read-only until the engine is done
        with it (see docs/python.md). Ignored when the connection is
        closed."""
        if self._c is None:
            return
        try:
            self._c.write_image(data, encoding=encoding, copy=copy)
        except RuntimeError:
            if self._c.is_open():
                raise

    def close(self):
        """Closes the connection (telling a hub peer so)."""
        if self._c is not None:
            self._c.close()
        if self._own is not None:
            self._own.close()
        _open.discard(self)

    # --- the seed's attributes ----------------------------------------------

    @property
    def name(self):
        return self._c.name() if self._c is not None else self._name

    @property
    def addr(self):
        return self._c.address() if self._c is not None else None

    @property
    def port(self):
        return self._c.port() if self._c is not None else None

    @property
    def type(self):
        return self._c.kind() if self._c is not None else None

    @property
    def opened(self):
        return self._c is not None and self._c.is_open()

    @property
    def stopped(self):
        return self._c is not None and not self._c.is_open()

    @property
    def canWrite(self):
        return self._c is None or self._c.can_write_image()

    def wait_for_image_slot(self, timeout=None):
        """Waits until writeImg would not replace a waiting image: none
        waits to go (one may be in flight). A producer that calls this
        before each writeImg sends as fast as the peer takes frames,
        encodes each while the one before travels, and never encodes one
        only to have it replaced. True then; False if ``timeout`` seconds
        pass first or the connection closes. Ctrl-C interrupts the wait."""
        return self._c is not None and self._c.wait_for_image_slot(timeout)

    @property
    def state(self):
        """'connected', 'reconnecting' (a dialled link was lost and is being
        redialled: see hub's ``reconnect``), 'closing' or 'closed'; None
        before connecting."""
        return self._c.state() if self._c is not None else None

    @property
    def native(self):
        """True once this side writes the native protocol to the peer: the
        peer is a socketengine engine (turns True a round trip after
        connecting; stays False with a socket.engine 0.3 peer)."""
        return self._c is not None and self._c.is_native()

    # --- additions ------------------------------------------------------------

    def on(self, channel, callback):
        """Calls ``callback(data)`` for every value that arrives on
        ``channel`` from this connection (on the image channel: every
        image), on the engine's callback thread. An exception in the
        callback is printed, not raised. Returns self."""
        if self._c is None:
            raise RuntimeError("socketengine: connection is not connected")
        self._engine.on_connection(self._c, channel, callback, channel == self._image_channel)
        return self

    def wait_for(self, channel, timeout=None):
        """Waits until ``channel`` has a value and returns it (at once if it
        has one); None if ``timeout`` seconds pass first or the connection
        closes. Ctrl-C interrupts the wait."""
        if self._c is None:
            return None
        if channel == self._image_channel:
            self._c.wait_for_image(timeout)
            return self.getImg()
        return self._c.wait_for(channel, timeout)

    def wait_for_next(self, channel, timeout=None, since=None):
        """Like wait_for, but only a value newer than ``since`` (a
        version(channel) taken earlier; default: the version at the call).
        For request/response take the version before sending, so that a
        reply that comes back before this call is not missed::

            v = conn.version("pong")
            conn.write("ping", 1)
            reply = conn.wait_for_next("pong", 1.0, since=v)
        """
        if self._c is None:
            return None
        if channel == self._image_channel:
            self._c.wait_for_image(timeout, True)
            return self.getImg()
        return self._c.wait_for_next(channel, timeout, since)

    def version(self, channel):
        """A number that grows each time a value arrives on ``channel`` (0:
        none yet); see wait_for_next."""
        return self._c.version(channel) if self._c is not None else 0

    def flush(self, timeout=2):
        """Waits until everything written so far is handed to the system;
        False if ``timeout`` seconds pass first."""
        return self._c is not None and self._c.flush(timeout)

    @property
    def stats(self):
        """Counters: messages_in, messages_out, bytes_in, bytes_out, errors."""
        return self._c.stats() if self._c is not None else None

    def __repr__(self):
        state = "open" if self.opened else "closed" if self.stopped else "new"
        return "<socketengine.connection name={!r} addr={!r} port={!r} {}>".format(
            self.name, self.addr, self.port, state)


class _engine(_context):
    """What hubs, hosts and clients share: wrappers for the engine's
    connections that stay the same objects, callbacks, and close().

    Mixed into classes derived from the _core engines, whose native methods
    (get_all, write_all, ...) already have the seed's names and results."""

    _image_channel = _HUB_IMAGE

    def _track(self):
        self._wrapped = {}  # engine connection -> its `connection` object
        self._wrapped_lock = threading.Lock()  # callbacks may list connections too
        _open.add(self)

    def _connections(self):
        with self._wrapped_lock:  # a list read outside could be older than one applied
            current = self.connection_list()
            wrapped = {c: self._wrapper_locked(c) for c in current}
            self._wrapped = wrapped  # connections the engine forgot are dropped
        return [wrapped[c] for c in current]

    def _wrap(self, core_connection):
        with self._wrapped_lock:
            c = self._wrapped[core_connection] = self._wrapper_locked(core_connection)
        return c

    def _wrapper_locked(self, core_connection):
        """The one wrapper of a core connection (_wrapped_lock held)."""
        c = self._wrapped.get(core_connection)
        return c if c is not None else connection._of(core_connection, self, self._image_channel)

    def _gather_images(self, connections):
        images = (c.getImg() for c in connections)
        return [img for img in images if img is not None]

    @property
    def opened(self):
        return self.is_open()

    @property
    def stopped(self):
        return not self.is_open()

    def on(self, channel, callback):
        """Calls ``callback(data)`` for every value that arrives on
        ``channel`` on any connection (on the image channel: every image),
        on the engine's callback thread. An exception in the callback is
        printed, not raised. Returns self."""
        self.on_channel(channel, callback, channel == self._image_channel)
        return self

    def on_error(self, callback):
        """Calls ``callback(conn, what, detail)`` for each problem the engine
        reports instead of printing it to stderr: bad input from a peer, a
        limit reached (``what`` 'too many channels' names the limit to
        raise in ``detail``), a lost link, an exception in a callback.
        ``conn`` is the connection concerned, or None. Runs on the engine's
        callback thread. Returns self."""
        self.on_error_native(lambda c, what, detail: callback(
            self._wrap(c) if c is not None else None, what, detail))
        return self

    def close(self):
        """Closes every connection (hub peers are told) and stops the
        engine's threads. Idempotent."""
        super().close()
        _open.discard(self)

    def __repr__(self):
        # An object whose constructor raised (a bad option, a port in use)
        # has no engine, and a traceback's display of it must not reach one.
        if getattr(self, "_wrapped", None) is None:
            return "<socketengine.{} (not made)>".format(type(self).__name__)
        return self._describe()


def _options(native, image_encoding, jpeg_quality, png_compression, frames_in_flight,
             latest_frame_wins, max_pixels, limits):
    # The engine's options a program gave, by their Python names; the engine
    # checks them and names the one it refuses.
    given = dict(native=native, image_encoding=image_encoding, jpeg_quality=jpeg_quality,
                 png_compression=png_compression, frames_in_flight=frames_in_flight,
                 latest_frame_wins=latest_frame_wins, max_pixels=max_pixels, limits=limits)
    return {k: v for k, v in given.items() if v is not None}


_OPTIONS_DOC = """
    Engine options (keyword arguments of hub, host and client; None: the
    default; docs/python.md lists them with the C++ options they set):
    ``native=False`` speaks only the socket.engine 0.3 protocol, even to
    socketengine peers (default True: switch to the binary native protocol
    with them). Images to native peers: ``image_encoding`` 'png' (default,
    lossless), 'jpeg' or 'raw' (the pixels as they are); ``jpeg_quality``
    1-100 (90); ``png_compression`` 0-9 (1); ``frames_in_flight`` (2),
    images sent and not yet acknowledged; ``latest_frame_wins=False`` drops
    a frame written while others are in flight instead of keeping it as
    the next; ``max_pixels``, the largest image accepted (16,777,216).
    ``limits``: a dict of the engine's bounds by their C++ names, such as
    ``{'max_channels': 100_000, 'max_write_queue_bytes': 1 << 20}``,
    durations in seconds. A bad option raises TypeError or ValueError.
"""


def _auth(token, token_file, token_env, allow_legacy):
    # Token authentication's keyword arguments, as the engine takes them.
    return _core.Auth(token or '', token_file or '', token_env or '', bool(allow_legacy))


_AUTH_DOC = """
    Token authentication (keyword arguments of hub, host and client):
    ``token`` (str or bytes), ``token_file`` (a path) or ``token_env`` (an
    environment variable's name), at most one, give the shared token every
    peer must prove it holds before anything passes (README, Security);
    ``allow_legacy=True`` admits socket.engine 0.3 peers, which cannot.
    A wrong or missing token closes the link on both sides and fails
    ``connect`` and a client's opening with RuntimeError; a bad option
    raises ValueError (RuntimeError for a file that cannot be read).
"""


def _tls(tls, tls_cert, tls_key, tls_ca, tls_verify, tls_server_name, tls_require_client_cert,
         tls_handshake_timeout):
    # TLS's keyword arguments, as the engine takes them. Nothing is implied:
    # files given without tls=True are refused by the engine (ValueError),
    # as the C++ library refuses them, rather than run plain TCP unnoticed.
    return _core.Tls(bool(tls), _path(tls_cert), _path(tls_key), _path(tls_ca),
                     bool(tls_verify), tls_server_name or '', bool(tls_require_client_cert),
                     tls_handshake_timeout)


def _path(p):
    # str, bytes or os.PathLike (pathlib.Path), as open() takes them.
    return os.fsdecode(p) if p is not None else ''


_TLS_DOC = """
    TLS (keyword arguments of hub, host and client; README, Security):
    ``tls=True`` encrypts every TCP link this side accepts or dials and
    checks the peer's certificate (``unix:`` endpoints stay plain). Files
    are PEM paths: ``tls_cert`` (this side's certificate chain, needed to
    listen) and ``tls_key`` (its unencrypted key); ``tls_ca`` (the CAs
    trusted to sign the peer's certificate; default: the system's).
    Dialling: ``tls_verify=False`` takes any certificate (tests only);
    ``tls_server_name`` is the name the listener's certificate must carry
    when it is not the address dialled. Listening:
    ``tls_require_client_cert=True`` refuses peers without a certificate
    from ``tls_ca`` (mutual TLS). ``tls_handshake_timeout`` (seconds,
    default 5). ``tls_cert``, ``tls_key``, ``tls_ca``, ``tls_server_name``
    or ``tls_require_client_cert`` without ``tls=True`` raise ValueError
    (nothing turns TLS on but ``tls``), as does a configuration that cannot
    work (a key that is not the certificate's, listening without
    ``tls_cert``); a file that cannot be read raises RuntimeError. Messages name the engine's options:
    tls.certificate_file (tls_cert), tls.private_key_file (tls_key),
    tls.ca_file (tls_ca). A refused handshake fails ``connect`` and a
    client's opening with RuntimeError saying why, in OpenSSL's words
    ("certificate rejected: unable to get local issuer certificate").
"""


class hub(_engine, _core.Hub):
    """Listens for peers and dials named ones; keeps the latest value per
    channel per connection.

    ``port=None`` listens on the first free port of 8080..8179; ``port=0``
    lets the system choose (read it back from ``port``). ``timeout``
    (seconds) bounds how long close() flushes and a write waits for room;
    ``size`` is accepted for the seed's signature. Raises RuntimeError when
    the port is in use.

    ``port='unix:/run/robot.sock'`` listens on a Unix domain socket instead
    of TCP (``port`` then reads 0); ``listen('unix:...')`` adds one to a hub
    that listens on TCP. RuntimeError when another process listens there.

    Native: write_all, write_to_name, write_to_local, write_to_remote and
    the write_image_* calls (each returns how many connections took it),
    set_timeout. ``reconnect=True``: a connection this hub dialled redials
    by itself when its link is lost and stays the same object (see
    ``connection.state``); off by default, as in socket.engine 0.3, where a
    lost connection stays closed.

    Discovery: ``name='arm-7'`` makes the hub answer discovery on the local
    network (see ``discover()`` and ``connect_by_name``) unless
    ``discovery=False`` or the environment has SOCKETENGINE_DISCOVERY=off;
    a hub without a name answers nothing. ValueError for a name that is not
    1 to 255 bytes of UTF-8 without control characters.
    """

    __doc__ += _OPTIONS_DOC + _AUTH_DOC + _TLS_DOC

    def __init__(self, port=None, timeout=2, size=256, *, reconnect=False, native=None,
                 image_encoding=None, jpeg_quality=None, png_compression=None,
                 frames_in_flight=None, latest_frame_wins=None, max_pixels=None, limits=None,
                 token=None, token_file=None, token_env=None, allow_legacy=False, tls=False,
                 tls_cert=None, tls_key=None, tls_ca=None, tls_verify=True,
                 tls_server_name=None, tls_require_client_cert=False,
                 tls_handshake_timeout=None, name=None, discovery=True):
        auth = _auth(token, token_file, token_env, allow_legacy)
        tls = _tls(tls, tls_cert, tls_key, tls_ca, tls_verify, tls_server_name,
                   tls_require_client_cert, tls_handshake_timeout)
        options = _options(native, image_encoding, jpeg_quality, png_compression,
                           frames_in_flight, latest_frame_wins, max_pixels, limits)
        found = dict(name=name or "", discovery=bool(discovery))
        if isinstance(port, str):
            _core.Hub.__init__(self, None, timeout, size, listen=False, listen_on=[port],
                               reconnect=reconnect, auth=auth, tls=tls, options=options,
                               **found)
        else:
            _core.Hub.__init__(self, port, timeout, size, reconnect=reconnect, auth=auth,
                               tls=tls, options=options, **found)
        self._track()
        self.timeout = timeout
        self.size = size

    @property
    def port(self):
        return self.bound_port()

    @property
    def connections(self):
        """Every connection, in the order made, closed ones included."""
        return self._connections()

    def connect(self, name, addr, port=None, timeout=None):
        """Dials (addr, port) and names the connection ``name``. Blocks until
        connected, retrying while refused (Ctrl-C interrupts; ``timeout``
        seconds, if given, bound it). ``addr`` may be ``'unix:PATH'``, a Unix
        domain socket, with no port. Raises RuntimeError when it cannot
        connect. Returns self."""
        self.dial(name, addr, port or 0, timeout)
        return self

    @property
    def name(self):
        """This hub's name for discovery; '' if it has none."""
        return self.hub_name()

    @property
    def id(self):
        """This hub's id, as discovery gives it: 32 hex digits."""
        return self.hub_id()

    @property
    def discoverable(self):
        """Whether this hub answers discovery."""
        return self.is_discoverable()

    def connect_by_name(self, name, timeout=1.0, peers=None, interfaces=None, multicast=True,
                        attempt_timeout=None):
        """Finds the hub named ``name`` on the local network (as
        ``discover()``, waiting up to ``timeout`` seconds for its answer)
        and dials it as ``connect(name, address, port)`` would, trying every
        address it gave at once (each for ``attempt_timeout`` seconds,
        default 1) and keeping the first to connect. RuntimeError when no
        hub of that name answers, or none of its addresses can be reached.
        Returns self."""
        self.dial_by_name(name, timeout, list(peers or []), list(interfaces or []),
                          multicast, attempt_timeout)
        return self

    def listen(self, endpoint, socket_file_mode=None):
        """Listens on ``endpoint`` too, such as ``'unix:/run/robot.sock'`` (a
        Unix domain socket; ``socket_file_mode=0o660`` sets its file's
        permissions), and accepts peers there. A socket file left by a dead
        process is replaced; RuntimeError when another process listens
        there. The file is removed on close(). Returns self."""
        self.listen_at(endpoint, socket_file_mode)
        return self

    def getConnections(self):
        return self._connections()

    def get_all(self, channel):
        if channel == self._image_channel:
            return self._gather_images(self._connections())
        return _core.Hub.get_all(self, channel)

    def get_by_name(self, name, channel):
        if channel == self._image_channel:
            return self._gather_images([c for c in self._connections() if c.name == name])
        return _core.Hub.get_by_name(self, name, channel)

    def get_local(self, channel):
        if channel == self._image_channel:
            return self._gather_images([c for c in self._connections()
                                        if c.type == connection.TYPE_LOCAL])
        return _core.Hub.get_local(self, channel)

    def get_remote(self, channel):
        if channel == self._image_channel:
            return self._gather_images([c for c in self._connections()
                                        if c.type == connection.TYPE_REMOTE])
        return _core.Hub.get_remote(self, channel)

    def wait_for(self, channel, timeout=None):
        """Waits until some connection has a value on ``channel``; returns
        get_all(channel) then, or [] if ``timeout`` seconds pass first.
        Ctrl-C interrupts the wait."""
        if channel == self._image_channel:
            raise ValueError("socketengine: wait for images on a connection (wait_for)")
        return _core.Hub.wait_for(self, channel, timeout)

    def _describe(self):
        return "<socketengine.hub port={} connections={} {}>".format(
            self.port, len(self.connection_list()), "open" if self.opened else "closed")


class host(_engine, _core.Host):
    """Serves clients: one-to-many, without names or image acknowledgements.

    ``open=True`` binds at once (RuntimeError when the port is in use);
    ``start()`` begins accepting clients and returns the host. ``port=0``
    lets the system choose. ``addr='unix:PATH'`` listens on a Unix domain
    socket instead of TCP; ``listen(...)`` adds one, as for a hub.

    Native: open, start, write_ALL and writeLock_ALL, writeImg_ALL and
    writeImgLock_ALL (each returns how many clients took it), set_timeout.
    """

    _image_channel = _HOST_IMAGE

    __doc__ += _OPTIONS_DOC + _AUTH_DOC + _TLS_DOC

    def __init__(self, addr='127.0.0.1', port=8080, timeout=2, size=256, open=True, *,
                 native=None, image_encoding=None, jpeg_quality=None, png_compression=None,
                 frames_in_flight=None, latest_frame_wins=None, max_pixels=None, limits=None,
                 token=None, token_file=None, token_env=None, allow_legacy=False, tls=False,
                 tls_cert=None, tls_key=None, tls_ca=None, tls_verify=True,
                 tls_server_name=None, tls_require_client_cert=False,
                 tls_handshake_timeout=None):
        _core.Host.__init__(self, addr, port, timeout, size, open,
                            auth=_auth(token, token_file, token_env, allow_legacy),
                            tls=_tls(tls, tls_cert, tls_key, tls_ca, tls_verify,
                                     tls_server_name, tls_require_client_cert,
                                     tls_handshake_timeout),
                            options=_options(native, image_encoding, jpeg_quality,
                                             png_compression, frames_in_flight,
                                             latest_frame_wins, max_pixels, limits))
        self._track()
        self.addr = addr
        self.timeout = timeout
        self.size = size

    # One engine call serves both: every write is already serialised per
    # connection, which is what the seed's locks were for.
    write_ALL = writeLock_ALL = _core.Host.write_all
    writeImg_ALL = writeImgLock_ALL = _core.Host.write_image_all

    @property
    def port(self):
        return self.bound_port()

    @property
    def opened(self):
        return self.is_open() and self.listening()

    def listen(self, endpoint, socket_file_mode=None):
        """Listens on ``endpoint`` too, as hub.listen does. Returns self."""
        self.listen_at(endpoint, socket_file_mode)
        return self

    def get_ALL(self, channel):
        if channel == self._image_channel:
            return self._gather_images(self._connections())
        return self.get_all(channel)

    def getClients(self):
        return self._connections()

    @property
    def clients(self):
        return self._connections()

    def wait_for(self, channel, timeout=None):
        """Waits until some client has a value on ``channel``; returns
        get_ALL(channel) then, or [] if ``timeout`` seconds pass first.
        Ctrl-C interrupts the wait."""
        if channel == self._image_channel:
            raise ValueError("socketengine: wait for images on a client connection (wait_for)")
        return _core.Host.wait_for(self, channel, timeout)

    def _describe(self):
        return "<socketengine.host addr={!r} port={} clients={} {}>".format(
            self.addr, self.port, len(self.connection_list()),
            "open" if self.opened else "closed")


class client(_engine, _core.Client):
    """Connects to a host. ``open=True`` connects at once, blocking until
    the host accepts (retrying while refused; Ctrl-C interrupts).
    ``addr='unix:PATH'`` dials a Unix domain socket (``port`` is ignored).

    Native: write and writeLock, writeImg and writeImgLock (each returns
    None, as the seed's; RuntimeError when the client is not open),
    set_timeout. ``reconnect=True``: redial the host when the link is lost
    (see hub).
    """

    _image_channel = _HOST_IMAGE

    __doc__ += _OPTIONS_DOC + _AUTH_DOC + _TLS_DOC

    def __init__(self, addr='127.0.0.1', port=8080, timeout=2, size=256, open=True, *,
                 reconnect=False, native=None, image_encoding=None, jpeg_quality=None,
                 png_compression=None, frames_in_flight=None, latest_frame_wins=None,
                 max_pixels=None, limits=None, token=None, token_file=None, token_env=None,
                 allow_legacy=False, tls=False, tls_cert=None, tls_key=None, tls_ca=None,
                 tls_verify=True, tls_server_name=None, tls_require_client_cert=False,
                 tls_handshake_timeout=None):
        _core.Client.__init__(self, addr, port, timeout, size, reconnect=reconnect,
                              auth=_auth(token, token_file, token_env, allow_legacy),
                              tls=_tls(tls, tls_cert, tls_key, tls_ca, tls_verify,
                                       tls_server_name, tls_require_client_cert,
                                       tls_handshake_timeout),
                              options=_options(native, image_encoding, jpeg_quality,
                                               png_compression, frames_in_flight,
                                               latest_frame_wins, max_pixels, limits))
        self._track()
        self.addr = addr
        self.port = port
        self.timeout = timeout
        self.size = size
        self._conn = None
        if open:
            self.open()

    writeLock = _core.Client.write
    writeImg = writeImgLock = _core.Client.write_image

    def open(self, timeout=None):
        """Connects to the host; blocks until connected (``timeout`` seconds,
        if given, bound it; then RuntimeError)."""
        self.dial(timeout)
        self._conn = connection._of(self.connection(), self, self._image_channel)

    def start(self):
        """Opens if not yet open. Returns self."""
        if self._conn is None or not self._conn.opened:
            self.open()
        return self

    @property
    def opened(self):
        return self._conn is not None and self._conn.opened

    @property
    def stopped(self):
        return self._conn is not None and not self._conn.opened

    def get(self, channel):
        """The latest value on ``channel`` (on ``image``: the image as an
        array), or None."""
        return self._conn.get(channel) if self._conn is not None else None

    def getImg(self):
        """The latest image as a NumPy array, or None."""
        return self._conn.getImg() if self._conn is not None else None

    @property
    def canWrite(self):
        return self._conn is None or self._conn.canWrite

    def wait_for_image_slot(self, timeout=None):
        """See connection.wait_for_image_slot; False while not open."""
        return self._conn is not None and self._conn.wait_for_image_slot(timeout)

    def _wrap(self, core_connection):
        if self._conn is not None and self._conn._c is core_connection:
            return self._conn
        return super()._wrap(core_connection)

    def _connected(self):
        if self._conn is None:
            raise RuntimeError("socketengine: client is not open (call open() or start())")
        return self._conn

    def wait_for(self, channel, timeout=None):
        """Waits until ``channel`` has a value and returns it; None if
        ``timeout`` seconds pass first. Ctrl-C interrupts the wait."""
        return self._connected().wait_for(channel, timeout)

    def wait_for_next(self, channel, timeout=None, since=None):
        """Like wait_for, but only a value newer than ``since`` (see
        connection.wait_for_next)."""
        return self._connected().wait_for_next(channel, timeout, since)

    def version(self, channel):
        """See connection.version."""
        return self._connected().version(channel)

    def _describe(self):
        return "<socketengine.client addr={!r} port={} {}>".format(
            self.addr, self.port, "open" if self.opened else "closed")


def discover(timeout=0.5, name=None, peers=None, interfaces=None, multicast=True):
    """Asks the local network which hubs are there, and returns one dict per
    hub that answered within ``timeout`` seconds: ``name``, ``id``,
    ``port``, ``addresses`` (its addresses on the network that reached it),
    ``protocol`` (native version; 0: socket.engine 0.3 only), ``tls`` and
    ``token`` (what a dial needs) and ``from``. The query goes to the
    multicast group out of every interface that can send it (or only
    ``interfaces``, by name; none with ``multicast=False``), and to each of
    ``peers`` ('HOST' or 'HOST:PORT') and of the environment variable
    SOCKETENGINE_PEERS by unicast. ``name``: only hubs of that name answer.
    Blocks for the whole timeout, without holding the GIL."""
    return _core.discover(timeout, name or "", list(peers or []), list(interfaces or []),
                          multicast)
