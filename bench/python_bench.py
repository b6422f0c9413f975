#!/usr/bin/env python3
"""Benchmark of the socketengine Python API (the socket.engine 0.3 calls),
side by side with what a Python user would pick instead: pyzmq (Debian's
python3-zmq) and imagezmq's pattern on it.

    PYTHONPATH=build/release/python /usr/bin/python3 bench/python_bench.py [--quick]

Measures, over loopback, with sender and receiver in separate processes (as
two programs on a robot are), each in the same run on the same work:

  - small messages per second, one way: write_all("x", i) N times, then a
    marker, between native hubs (the default) and between legacy hubs
    (native=False, the socket.engine 0.3 wire format); and pyzmq PUSH/PULL
    carrying the same values, the JSON text of i as bytes (send(b"%d" % i):
    pyzmq's cheapest idiom, without a channel name; send_json would be
    slower), nothing dropped: the receiver checks it got all N, in order;
  - the round trip of a ping-pong (p50 and p99): socketengine write('ping')
    answered from an on('ping') callback, waited for with wait_for_next;
    pyzmq PAIR sockets, recv() then send() back;
  - 640x480x3 camera-like frames per second, counted decoded at the
    receiver (an image callback per frame): socketengine PNG (every frame
    checked bit for bit), raw (write_image_all(img, copy=False)) and JPEG
    (hub(image_encoding=...)), the sender paced by the engine's own flow
    control (wait_for_image_slot, then write_image_all: no frame is encoded
    only to be replaced, which a loop writing as fast as the call returns
    does, at the cost of the receiver's share of the cores); against imagezmq's
    pattern, written out here with pyzmq because imagezmq is not packaged
    in Debian: REQ/REP, ImageSender.send_image = send_json(metadata,
    SNDMORE) + send(array, copy=False), the hub's reply b'OK'; its jpg
    variant sends cv2.imencode('.jpg', frame, [IMWRITE_JPEG_QUALITY, q])
    and the receiver cv2.imdecode's it. The same JPEG quality on both sides
    (the engine's default, 90). Raw and JPEG frames are checked on a sample
    (every VERIFY_EVERY-th frame, the same check on both sides): raw bit
    for bit, JPEG close to a frame sent.

It prints the original package's figures and the targets, a table of the
ratios to pyzmq and imagezmq with their targets, and last one JSON line with
the numbers, for scripts. Every comparison is run several times, the systems
taking turns, and the median reported. --quick takes about a minute, a full
run about 2.5 minutes (2 cores). The machine is described first: figures from a
shared or loaded machine vary from run to run.

The processes are this script started again with --role; each role prints
its port or its results as JSON lines on stdout.
"""

import argparse
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time

try:
    import numpy as np
except ImportError as e:
    sys.exit("python_bench.py: cannot import numpy ({}); run it with an interpreter that has"
             " it, such as Debian's /usr/bin/python3 (python3-numpy)".format(e))
try:
    import socketengine
    from socketengine import hub
except ImportError as e:
    sys.exit(
        "python_bench.py: cannot import socketengine ({}).\n"
        "Build the module and point PYTHONPATH at it, from the repository root:\n"
        "    cmake --preset release && cmake --build --preset release\n"
        "    PYTHONPATH=build/release/python /usr/bin/python3 bench/python_bench.py\n"
        "(with the interpreter the module was built for)".format(e))

# socket.engine 0.3 on this kind of machine, and what this engine aims for.
ORIGINAL = {"msgs": 34_000, "rtt_ms": 16.0, "fps": 1.0}
TARGET = {"msgs": 20 * ORIGINAL["msgs"], "rtt_ms": 1.0, "fps": 40.0}

# Against the libraries a Python user would pick instead: socketengine's
# figure over theirs (for the round trip: socketengine's p50 over theirs, at
# most this).
VS_TARGET = {"msgs": 1.5, "rtt": 0.6, "raw_fps": 1.5, "jpeg_fps": 1.5}

# JPEG quality on both sides: the engine's default (image_options::jpeg_quality).
JPEG_QUALITY = 90

# Raw and JPEG frames: one in this many is checked against the frames sent
# (a full check of every frame would cost the receiver as much as the
# transfer). The same on both sides.
VERIFY_EVERY = 16

# Small messages: a write waits for room when the queue is full (up to
# HUB_TIMEOUT_S), as pyzmq's PUSH waits at its high-water mark, instead of
# the default (conflate: keep only the latest value), so that nothing is
# dropped on either side.
BLOCK_LIMITS = {"on_full_queue": "block"}

# A sender waiting for a free image slot, on a module without
# wait_for_image_slot, looks at canWrite again after this long.
SLOT_POLL_S = 0.0002

# No single wait in a role may take longer: far more than any step needs, so
# hitting it means the run failed.
PATIENCE_S = 30.0

# The hubs' write timeout: a sender that outruns its receiver waits for room
# in the queue; it must not give up while the receiver catches up.
HUB_TIMEOUT_S = 30.0

FRAME_W, FRAME_H = 640, 480
FRAME_VARIANTS = 8  # distinct frames the sender cycles through


def emit(**fields):
    """A role's output to the parent: one JSON line."""
    print(json.dumps(fields), flush=True)


def fail(message):
    sys.exit("python_bench.py: " + message)


def hub_connection(h):
    conns = h.connections
    if len(conns) != 1:
        fail("expected one connection, have {}".format(len(conns)))
    return conns[0]


def wait_for_connection(h):
    # Polls (cheaply, once a millisecond) because the seed API has no wait
    # for a connection; only used before timing starts.
    deadline = time.monotonic() + PATIENCE_S
    while h.connections == []:
        if time.monotonic() > deadline:
            fail("no peer connected within {} s".format(PATIENCE_S))
        time.sleep(0.001)
    return hub_connection(h)


# --- frames ----------------------------------------------------------------------


def make_frames(count=FRAME_VARIANTS, w=FRAME_W, h=FRAME_H):
    """Camera-like BGR frames, a pure function of their index: a sky gradient
    with a sun glow, hills on a rough horizon, textured ground, a sign with
    text-like strokes, and a couple of levels of sensor noise (what keeps
    real photographs from compressing to nothing). Noise alone would not
    compress at all and flat colour to nothing, neither like a camera."""
    rng = np.random.default_rng(20240601)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)

    def smooth_noise(cells_x, cells_y, seed):
        # Value noise: random values on a coarse grid, bilinearly enlarged.
        g = np.random.default_rng(seed).random((cells_y + 2, cells_x + 2), dtype=np.float32)
        gx = x / w * cells_x
        gy = y / h * cells_y
        ix, iy = gx.astype(np.int32), gy.astype(np.int32)
        tx, ty = gx - ix, gy - iy
        top = g[iy, ix] * (1 - tx) + g[iy, ix + 1] * tx
        bottom = g[iy + 1, ix] * (1 - tx) + g[iy + 1, ix + 1] * tx
        return top * (1 - ty) + bottom * ty

    texture = (smooth_noise(8, 6, 1) * 0.5 + smooth_noise(32, 24, 2) * 0.3
               + smooth_noise(128, 96, 3) * 0.2)
    horizon = h * 0.45 + 25 * np.sin(x / 90.0) + 12 * np.sin(x / 23.0 + 1) \
        + 20 * (smooth_noise(16, 1, 4) - 0.5)
    sky = y < horizon

    base = np.empty((h, w, 3), np.float32)
    t = y / h
    base[..., 0] = 235 - 90 * t  # blue
    base[..., 1] = 200 - 80 * t  # green
    base[..., 2] = 150 - 60 * t  # red
    sun = np.exp(-((x - 480) ** 2 + (y - 70) ** 2) / (2 * 45.0 ** 2))
    base += sun[..., None] * np.array([40, 80, 100], np.float32)
    clouds = np.clip(smooth_noise(10, 5, 5) * 1.6 - 0.8, 0, 1) * 60
    base += (clouds * sky)[..., None]
    depth = np.clip((y - horizon) / (h - horizon + 1), 0, 1)
    ground = np.stack([40 + 30 * texture, 90 + 70 * texture * (1 - depth * 0.3),
                       70 + 60 * texture], axis=-1)
    base = np.where(sky[..., None], base, ground)

    # A sign: a flat panel with a dark border and rows of short strokes, the
    # sharp edges text and man-made objects put into a picture.
    base[300:380, 60:260] = (210, 215, 220)
    base[300:303, 60:260] = base[377:380, 60:260] = (30, 30, 30)
    base[300:380, 60:63] = base[300:380, 257:260] = (30, 30, 30)
    strokes = rng.random((4, 30)) < 0.6
    for row in range(4):
        for col in range(30):
            if strokes[row, col]:
                top = 310 + row * 16
                left = 70 + col * 6
                base[top:top + 10, left:left + 4] = (40, 40, 160) if row == 0 else (25, 25, 25)

    frames = []
    for i in range(count):
        f = base.copy()
        # A ball that moves from frame to frame, as in a video.
        cx, cy = 320 + 30 * i, 400 - 5 * i
        ball = ((x - cx) ** 2 + (y - cy) ** 2) < 30 ** 2
        f[ball] = (30, 60, 200)
        f += np.random.default_rng(100 + i).integers(-2, 3, (h, w, 3)).astype(np.float32)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return frames


# --- roles (the processes) ----------------------------------------------------------


def make_hub(args=None, **options):
    """A hub for a role: legacy (native=False) when the role was told so,
    writes that wait for room instead of conflating when told so, and the
    image options given (only those given, so that a module without them
    still runs the rest)."""
    if args is not None and args.native == 0:
        options["native"] = False
    if args is not None and args.block:
        options["limits"] = BLOCK_LIMITS
    return hub(port=0, timeout=HUB_TIMEOUT_S, **options)


def image_options(args):
    if args.encoding in (None, "png"):
        return {}
    options = {"image_encoding": args.encoding}
    if args.encoding == "jpeg":
        options["jpeg_quality"] = args.quality
    return options


class FrameCheck:
    """Checks received frames against the ones sent: raw and PNG bit for
    bit, JPEG within what the codec loses. Cheap: a sample of the pixels
    picks the frame it should be, then the whole frame is compared."""

    def __init__(self, lossy):
        self.frames = make_frames()
        self.lossy = lossy
        self.samples = [f[::16, ::16].astype(np.int16) for f in self.frames]

    def ok(self, img):
        if img is None or img.shape != self.frames[0].shape or img.dtype != np.uint8:
            return False
        probe = img[::16, ::16].astype(np.int16)
        errors = [float(np.abs(probe - s).mean()) for s in self.samples]
        best = min(range(len(errors)), key=errors.__getitem__)
        if self.lossy:
            # Mean error of a quality-90 JPEG of these frames: about 1.5 levels.
            return errors[best] < 6.0
        return np.array_equal(img, self.frames[best])


def role_msg_recv(args):
    with make_hub(args) as h:
        emit(port=h.port)
        # hub.wait_for returns as soon as the first message is there: the
        # clock starts at the first message, so set-up is not timed.
        if not h.wait_for("x", timeout=PATIENCE_S):
            fail("receiver: no message arrived")
        t0 = time.perf_counter()
        done = h.wait_for("done", timeout=PATIENCE_S + args.count / 10_000)
        t1 = time.perf_counter()
        if done != [args.count]:
            fail("receiver: no end marker (got {!r})".format(done))
        c = hub_connection(h)
        last = c.get("x")
        received = c.stats["messages_in"]
        c.write("ack", args.count)  # tells the sender everything arrived
        c.flush(PATIENCE_S)
        # Wait for the sender to close first, so our close has nothing to send.
        c.wait_for("bye", timeout=PATIENCE_S)
    if last != args.count - 1:
        fail("receiver: last value {!r}, expected {}".format(last, args.count - 1))
    emit(seconds=t1 - t0, messages_in=received)


def role_msg_send(args):
    with make_hub(args) as h:
        h.connect("bench", "127.0.0.1", args.port, timeout=PATIENCE_S)
        c = hub_connection(h)
        write_all = h.write_all  # as a program's hot loop would
        t0 = time.perf_counter()
        for i in range(args.count):
            write_all("x", i)
        write_all("done", args.count)
        t1 = time.perf_counter()
        if c.wait_for("ack", timeout=PATIENCE_S + args.count / 10_000) != args.count:
            fail("sender: no acknowledgement")
        t2 = time.perf_counter()
        stats = c.stats
        native = c.native
        c.write("bye", True)
    if native != (args.native != 0):
        fail("sender: connection native={}, expected {}".format(native, args.native != 0))
    emit(write_seconds=t1 - t0, acked_seconds=t2 - t0, messages_out=stats["messages_out"],
         conflated=stats.get("conflated"))


def role_pong(args):
    with make_hub() as h:
        emit(port=h.port)
        # Every ping is answered from the engine's callback thread.
        h.on("ping", lambda v: h.write_all("pong", v))
        c = wait_for_connection(h)
        if c.wait_for("bye", timeout=PATIENCE_S * 3) is None:
            fail("pong: the pinger never finished")


def rtt_summary(samples):
    samples.sort()
    return dict(p50_us=samples[len(samples) // 2], p99_us=samples[int(len(samples) * 0.99)],
                min_us=samples[0], max_us=samples[-1])


def role_ping(args):
    with make_hub() as h:
        h.connect("bench", "127.0.0.1", args.port, timeout=PATIENCE_S)
        c = hub_connection(h)
        clock = time.perf_counter_ns
        samples = []
        for i in range(args.warmup + args.count):
            t0 = clock()
            # The version taken before the ping lets a pong that comes back
            # before wait_for_next is called count.
            since = c.version("pong")
            c.write("ping", i)
            v = c.wait_for_next("pong", timeout=PATIENCE_S, since=since)
            if v != i:
                fail("ping: pong {} never came (got {!r})".format(i, v))
            t1 = clock()
            if i >= args.warmup:
                samples.append((t1 - t0) / 1000)
        c.write("bye", True)
        c.flush(PATIENCE_S)
    emit(**rtt_summary(samples))


def role_img_recv(args):
    check = FrameCheck(lossy=args.encoding == "jpeg")
    every = 1 if args.encoding in (None, "png") else VERIFY_EVERY
    lock = threading.Lock()
    state = {"count": 0, "bad": 0, "checked": 0, "first": None, "last": None}

    def on_image(img):
        # Each callback is one received, decoded frame (a NumPy array).
        now = time.perf_counter()
        with lock:
            n = state["count"]
            state["count"] = n + 1
            state["first"] = state["first"] or now
            state["last"] = now
        if n % every == 0:
            ok = check.ok(img)
            with lock:
                state["checked"] += 1
                state["bad"] += not ok

    with make_hub() as h:
        h.on("__image", on_image)
        emit(port=h.port)
        c = wait_for_connection(h)
        # The sender says when it has stopped; frames still in flight count.
        if c.wait_for("done", timeout=PATIENCE_S + args.seconds) is None:
            fail("image receiver: the sender never finished")
        c.write("ack", True)
        c.flush(PATIENCE_S)
        c.wait_for("bye", timeout=PATIENCE_S)
        stats = c.stats
    with lock:
        if state["count"] < 2:
            fail("image receiver: {} frames arrived".format(state["count"]))
        emit(frames=state["count"], bad=state["bad"], checked=state["checked"],
             seconds=state["last"] - state["first"], bytes_in=stats["bytes_in"])


def role_img_send(args):
    frames = make_frames()
    with make_hub(**image_options(args)) as h:
        h.connect("bench", "127.0.0.1", args.port, timeout=PATIENCE_S)
        c = hub_connection(h)
        if args.encoding not in (None, "png"):
            # Raw and JPEG travel only between native peers: wait for the
            # switch (a round trip after connecting) before timing.
            deadline = time.monotonic() + PATIENCE_S
            while not c.native:
                if time.monotonic() > deadline:
                    fail("image sender: the connection never turned native")
                time.sleep(0.001)
        write = h.write_image_all
        if args.copy == 0:
            # Raw frames sent from the array itself, as imagezmq's
            # send(array, copy=False) does (the frames are never changed).
            write = functools.partial(write, copy=False)
        calls = 0
        sleep = time.sleep
        t0 = time.perf_counter()
        end = t0 + args.seconds
        if args.pace == "slot":
            # Paced by the engine's own flow control: write when no frame
            # waits to go (one may be in flight), so each frame is ready the
            # moment the one before is acknowledged and none is encoded only
            # to be replaced. The wait blocks without the GIL.
            wait_slot = getattr(c, "wait_for_image_slot", None)
            while time.perf_counter() < end:
                if wait_slot is None:
                    while not c.canWrite:
                        sleep(SLOT_POLL_S)
                elif not wait_slot(PATIENCE_S):
                    fail("image sender: no image slot came free")
                write(frames[calls % len(frames)])
                calls += 1
        else:
            # As fast as the API allows: each call encodes (without the GIL);
            # while frames are in flight the newest waits and replaces an
            # older waiting one, so the receiver gets the latest (as a camera
            # program wants) and the rate is set by encode, transfer and decode.
            while time.perf_counter() < end:
                write(frames[calls % len(frames)])
                calls += 1
        elapsed = time.perf_counter() - t0
        # Let the last frame in flight land, then say so.
        c.write("done", calls)
        if c.wait_for("ack", timeout=PATIENCE_S) is None:
            fail("image sender: no acknowledgement")
        stats = c.stats
        c.write("bye", True)
        c.flush(PATIENCE_S)
    emit(calls=calls, seconds=elapsed, bytes_out=stats["bytes_out"],
         messages_out=stats["messages_out"])


# --- pyzmq, and imagezmq's pattern on it -------------------------------------------


def zmq_module():
    try:
        import zmq
    except ImportError as e:
        fail("cannot import zmq ({}): install Debian's python3-zmq (scripts/setup.sh)".format(e))
    return zmq


def zmq_listen(kind):
    """A socket of `kind` bound to a free loopback port, which is emitted."""
    zmq = zmq_module()
    ctx = zmq.Context()
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, int(PATIENCE_S * 1000))
    s.setsockopt(zmq.RCVTIMEO, int(PATIENCE_S * 1000))
    emit(port=s.bind_to_random_port("tcp://127.0.0.1"))
    return ctx, s


def zmq_dial(kind, port):
    zmq = zmq_module()
    ctx = zmq.Context()
    s = ctx.socket(kind)
    s.setsockopt(zmq.LINGER, int(PATIENCE_S * 1000))
    s.setsockopt(zmq.RCVTIMEO, int(PATIENCE_S * 1000))
    s.connect("tcp://127.0.0.1:{}".format(port))
    return ctx, s


def role_zmq_pull(args):
    zmq = zmq_module()
    ctx, s = zmq_listen(zmq.PULL)
    recv = s.recv
    got = [recv()]  # the clock starts at the first message, as for socketengine
    append = got.append
    t0 = time.perf_counter()
    for _ in range(args.count - 1):
        append(recv())
    t1 = time.perf_counter()
    s.close()
    ctx.term()
    # Nothing dropped, nothing out of order (checked after the clock stops).
    if len(got) != args.count or any(int(m) != i for i, m in enumerate(got)):
        fail("pyzmq receiver: the messages are not 0..{} in order".format(args.count - 1))
    emit(seconds=t1 - t0, messages_in=len(got))


def role_zmq_push(args):
    zmq = zmq_module()
    ctx, s = zmq_dial(zmq.PUSH, args.port)
    send = s.send
    t0 = time.perf_counter()
    for i in range(args.count):
        send(b"%d" % i)  # the JSON text of i (a high-water mark blocks; nothing is dropped)
    t1 = time.perf_counter()
    s.close()  # lingers until everything is delivered
    ctx.term()
    emit(write_seconds=t1 - t0)


def role_zmq_pair_pong(args):
    zmq = zmq_module()
    ctx, s = zmq_listen(zmq.PAIR)
    recv, send = s.recv, s.send
    for _ in range(args.warmup + args.count):
        send(recv())
    s.close()
    ctx.term()


def role_zmq_pair_ping(args):
    zmq = zmq_module()
    ctx, s = zmq_dial(zmq.PAIR, args.port)
    recv, send = s.recv, s.send
    clock = time.perf_counter_ns
    samples = []
    for i in range(args.warmup + args.count):
        t0 = clock()
        send(b"%d" % i)
        v = recv()
        t1 = clock()
        if int(v) != i:
            fail("pyzmq ping: pong {} never came (got {!r})".format(i, v))
        if i >= args.warmup:
            samples.append((t1 - t0) / 1000)
    s.close()
    ctx.term()
    emit(**rtt_summary(samples))


def cv2_module():
    try:
        import cv2
    except ImportError as e:
        fail("cannot import cv2 ({}): install Debian's python3-opencv".format(e))
    return cv2


def role_imagezmq_hub(args):
    """imagezmq's ImageHub: recv_image (or recv_jpg and cv2.imdecode), then
    send_reply(b'OK'), as its examples do."""
    zmq = zmq_module()
    jpeg = args.encoding == "jpeg"
    cv2 = cv2_module() if jpeg else None
    check = FrameCheck(lossy=jpeg)
    ctx, s = zmq_listen(zmq.REP)
    count = bad = checked = 0
    first = last = None
    bytes_in = 0
    while True:
        md = s.recv_json()
        buf = s.recv(copy=False)
        if md["msg"] == "done":
            s.send(b"OK")
            break
        if jpeg:
            img = cv2.imdecode(np.frombuffer(buf, dtype="uint8"), -1)
        else:
            img = np.frombuffer(buf, dtype=md["dtype"]).reshape(md["shape"])
        s.send(b"OK")
        # The checks are this benchmark's, not the pattern's: after the reply.
        now = time.perf_counter()
        first = first or now
        last = now
        bytes_in += len(buf)
        if count % VERIFY_EVERY == 0:
            checked += 1
            bad += not check.ok(img)
        count += 1
    s.close()
    ctx.term()
    if count < 2:
        fail("imagezmq hub: {} frames arrived".format(count))
    emit(frames=count, bad=bad, checked=checked, seconds=last - first, bytes_in=bytes_in)


def role_imagezmq_send(args):
    """imagezmq's ImageSender: send_image (send_array) or, for JPEG,
    cv2.imencode then send_jpg; each waits for the hub's reply."""
    zmq = zmq_module()
    jpeg = args.encoding == "jpeg"
    cv2 = cv2_module() if jpeg else None
    frames = make_frames()
    ctx, s = zmq_dial(zmq.REQ, args.port)
    name = platform.node()
    calls = 0
    t0 = time.perf_counter()
    end = t0 + args.seconds
    while time.perf_counter() < end:
        image = frames[calls % len(frames)]
        if jpeg:
            _, jpg_buffer = cv2.imencode(".jpg", image, [int(cv2.IMWRITE_JPEG_QUALITY), args.quality])
            s.send_json(dict(msg=name), zmq.SNDMORE)
            s.send(jpg_buffer, copy=False)
        else:
            md = dict(msg=name, dtype=str(image.dtype), shape=image.shape)
            s.send_json(md, zmq.SNDMORE)
            s.send(image, copy=False)
        s.recv()  # the hub's b'OK'
        calls += 1
    elapsed = time.perf_counter() - t0
    s.send_json(dict(msg="done"), zmq.SNDMORE)
    s.send(b"")
    s.recv()
    s.close()
    ctx.term()
    emit(calls=calls, seconds=elapsed)


ROLES = {
    "msg-recv": role_msg_recv, "msg-send": role_msg_send,
    "pong": role_pong, "ping": role_ping,
    "img-recv": role_img_recv, "img-send": role_img_send,
    "zmq-pull": role_zmq_pull, "zmq-push": role_zmq_push,
    "zmq-pair-pong": role_zmq_pair_pong, "zmq-pair-ping": role_zmq_pair_ping,
    "imagezmq-hub": role_imagezmq_hub, "imagezmq-send": role_imagezmq_send,
}


# --- the parent: runs pairs of roles -------------------------------------------------


def start_role(role, **params):
    cmd = [sys.executable, os.path.abspath(__file__), "--role", role]
    for k, v in params.items():
        cmd += ["--" + k.replace("_", "-"), str(v)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def run_pair(listener, dialer, timeout, **params):
    """Starts `listener`, reads its port, starts `dialer` on it; returns both
    roles' result lines (as dicts). Both are killed after `timeout` s."""
    deadline = time.monotonic() + timeout
    lp = start_role(listener, **params)
    procs = [lp]
    try:
        # The first line is the port (a pipe read: it blocks until the
        # listener prints it, or exits).
        line = lp.stdout.readline()
        if not line:
            lp.wait(timeout=max(0.1, deadline - time.monotonic()))
            fail("{} exited before listening (status {})".format(listener, lp.returncode))
        port = json.loads(line)["port"]
        dp = start_role(dialer, port=port, **params)
        procs.append(dp)
        results = []
        for name, p in ((listener, lp), (dialer, dp)):
            try:
                out, _ = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                fail("{} did not finish within {} s".format(name, timeout))
            if p.returncode != 0:
                fail("{} failed (status {})".format(name, p.returncode))
            lines = out.strip().splitlines()
            results.append(json.loads(lines[-1]) if lines else {})
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def machine_line():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return "machine: {}, {} cores, Python {} ({}), numpy {}; {}".format(
        model, os.cpu_count(), platform.python_version(), sys.executable, np.__version__,
        load_line())


def load_line():
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"


def ratio(value, reference, lower_is_better=False):
    return reference / value if lower_is_better else value / reference


def supports(**options):
    """Whether this build's hub takes these keyword arguments."""
    try:
        hub(port=0, **options).close()
        return True
    except (TypeError, ValueError, KeyError):
        return False


def median_of(results, key):
    return statistics.median(r[key] for r in results)


def fps_of(recv):
    # Frames per second between the first frame's arrival and the last's.
    return (recv["frames"] - 1) / recv["seconds"] if recv["seconds"] > 0 else 0.0


def check_frames(what, recv):
    if recv["bad"]:
        fail("{}: {} of {} checked frames differ from the frames sent".format(
            what, recv["bad"], recv["checked"]))


def fmt_or_dash(fmt, value):
    return "-" if value is None else fmt.format(value)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short run (about a minute)")
    p.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    p.add_argument("--native", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--block", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--copy", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--encoding", choices=["png", "raw", "jpeg"], help=argparse.SUPPRESS)
    p.add_argument("--quality", type=int, default=JPEG_QUALITY, help=argparse.SUPPRESS)
    p.add_argument("--pace", choices=["free", "slot"], default="free", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.role:
        ROLES[args.role](args)
        return

    quick = args.quick
    msg_count = 100_000 if quick else 500_000
    msg_runs = 3 if quick else 5
    rtt_count, rtt_warmup = (2_000, 200) if quick else (5_000, 500)
    rtt_runs = 3
    img_seconds = 3.0 if quick else 8.0  # PNG
    vs_img_seconds, vs_img_runs = (2.0, 3) if quick else (4.0, 5)

    zmq = zmq_module()
    has_legacy = supports(native=False)
    has_block = supports(limits=BLOCK_LIMITS)
    # write_image_all(img, copy=False): sends from the array without a copy.
    has_nocopy = "copy" in (socketengine._core.Hub.write_image_all.__doc__ or "")
    has_encodings = supports(image_encoding="raw") and supports(image_encoding="jpeg",
                                                                jpeg_quality=JPEG_QUALITY)
    print(machine_line())
    print("socketengine from {}; pyzmq {} (libzmq {}), OpenCV {}".format(
        os.path.dirname(socketengine.__file__), zmq.__version__, zmq.zmq_version(),
        cv2_module().__version__))
    print("mode: {}".format("--quick" if quick else "full"), flush=True)
    if not has_legacy:
        print("(this build's hub has no native= keyword: legacy hubs not measured)")
    if not has_block:
        print("(this build's hub has no limits= keyword: message writes conflate when the queue"
              " is full; the runs check that none did)")
    if not has_encodings:
        print("(this build's hub has no image_encoding= keyword: raw and JPEG frames not measured)")

    # 1. Small messages, sender process -> receiver process; the systems take
    # turns, so that a change in the machine's load falls on all of them.
    block = int(has_block)
    systems = [("native", "msg-recv", "msg-send", {"native": 1, "block": block})]
    if has_legacy:
        systems.append(("legacy", "msg-recv", "msg-send", {"native": 0, "block": block}))
    systems.append(("pyzmq", "zmq-pull", "zmq-push", {}))
    rates = {name: [] for name, *_ in systems}
    call_rates = {name: [] for name, *_ in systems}
    for _ in range(msg_runs):
        for name, listener, dialer, params in systems:
            recv, send = run_pair(listener, dialer, 120, count=msg_count, **params)
            if name != "pyzmq" and (send.get("conflated") or send["messages_out"] < msg_count + 1
                                    or recv["messages_in"] != send["messages_out"]):
                fail("{} messages: some dropped (sent {}, received {}, conflated {})".format(
                    name, send["messages_out"], recv["messages_in"], send.get("conflated")))
            rates[name].append(msg_count / recv["seconds"])
            call_rates[name].append(msg_count / send["write_seconds"])
    msgs = {name: statistics.median(r) for name, r in rates.items()}
    msgs_best = max(rates["native"])
    print("\nsmall messages one way, {:,} per run, {} runs, received per second:".format(
        msg_count, msg_runs))
    labels = {"native": "socketengine native hubs, write_all('x', i)",
              "legacy": "socketengine legacy hubs (native=False)",
              "pyzmq": "pyzmq PUSH/PULL, send(b'%d' % i)"}
    for name in rates:
        print("  {:<46} median {:>10,.0f}, best {:>10,.0f}; sender calls/s {:,.0f}".format(
            labels[name], msgs[name], max(rates[name]), statistics.median(call_rates[name])))
        print("  {:<46} runs: {}".format("", ", ".join("{:,.0f}".format(r) for r in rates[name])))
    sys.stdout.flush()

    # 2. Round trip: socketengine ping from one process, pong from the other's
    # callback; pyzmq PAIR recv() then send() back.
    se_rtts, zmq_rtts = [], []
    for _ in range(rtt_runs):
        se_rtts.append(run_pair("pong", "ping", 120, count=rtt_count, warmup=rtt_warmup)[1])
        zmq_rtts.append(run_pair("zmq-pair-pong", "zmq-pair-ping", 120, count=rtt_count,
                                 warmup=rtt_warmup)[1])
    rtt = {
        "se": {k: median_of(se_rtts, k) for k in se_rtts[0]},
        "pyzmq": {k: median_of(zmq_rtts, k) for k in zmq_rtts[0]},
    }
    print("\nround trip, {} after {} warm-up, {} runs (medians of the runs' figures):".format(
        rtt_count, rtt_warmup, rtt_runs))
    for name, label in (("se", "socketengine write -> on('ping') -> wait_for_next"),
                        ("pyzmq", "pyzmq PAIR send -> recv, send -> recv")):
        r = rtt[name]
        print("  {:<50} p50 {:7.1f} us, p99 {:7.1f} us (min {:.1f}, max {:.1f})".format(
            label, r["p50_us"], r["p99_us"], r["min_us"], r["max_us"]))
    sys.stdout.flush()

    # 3. Camera frames, PNG (lossless, every frame checked).
    recv, send = run_pair("img-recv", "img-send", 120, seconds=img_seconds, encoding="png",
                          pace="slot")
    fps = fps_of(recv)
    wire_bytes = recv["bytes_in"] / recv["frames"]
    print("\n640x480x3 frames hub->hub, PNG, write_image_all after wait_for_image_slot, {:.0f} s:"
          .format(img_seconds))
    print("  received {} frames, {:.1f} frames/s, all bit-exact: {}; sender calls {} ({:.1f}/s)"
          .format(recv["frames"], fps, "yes" if recv["bad"] == 0 else
                  "NO ({} differ)".format(recv["bad"]), send["calls"],
                  send["calls"] / send["seconds"]))
    print("  {:,.0f} bytes on the wire per frame".format(wire_bytes), flush=True)
    check_frames("PNG frames", recv)

    # 4. Raw and JPEG frames against imagezmq's pattern, taking turns.
    frame_systems = [("imagezmq_raw", "imagezmq-hub", "imagezmq-send", {"encoding": "raw"}),
                     ("imagezmq_jpeg", "imagezmq-hub", "imagezmq-send", {"encoding": "jpeg"})]
    if has_encodings:
        frame_systems = [
            ("se_raw", "img-recv", "img-send",
             {"encoding": "raw", "pace": "slot", "copy": 0 if has_nocopy else 1}),
            frame_systems[0],
            ("se_jpeg", "img-recv", "img-send", {"encoding": "jpeg", "pace": "slot"}),
            frame_systems[1]]
    frame_runs = {name: [] for name, *_ in frame_systems}
    for _ in range(vs_img_runs):
        for name, listener, dialer, params in frame_systems:
            recv, send = run_pair(listener, dialer, 120, seconds=vs_img_seconds,
                                  quality=JPEG_QUALITY, **params)
            check_frames(name, recv)
            frame_runs[name].append(dict(fps=fps_of(recv), frames=recv["frames"],
                                         calls=send["calls"], checked=recv["checked"],
                                         wire=recv["bytes_in"] / recv["frames"]))
    frame_fps = {name: statistics.median(r["fps"] for r in runs)
                 for name, runs in frame_runs.items()}
    print("\n640x480x3 frames, decoded at the receiver, {:.0f} s x {} runs, JPEG quality {}:"
          .format(vs_img_seconds, vs_img_runs, JPEG_QUALITY))
    labels = {"se_raw": "socketengine raw (paced by slot{})".format(
                  ", copy=False" if has_nocopy else ""),
              "se_jpeg": "socketengine JPEG (paced by slot)",
              "imagezmq_raw": "imagezmq pattern, raw array (REQ/REP)",
              "imagezmq_jpeg": "imagezmq pattern, cv2 JPEG (REQ/REP)"}
    for name, runs in frame_runs.items():
        print("  {:<46} median {:7.1f} frames/s; runs: {}; {:,.0f} bytes/frame;"
              " checked {} frames, all good".format(
                  labels[name], frame_fps[name], ", ".join("{:.1f}".format(r["fps"]) for r in runs),
                  statistics.median(r["wire"] for r in runs), sum(r["checked"] for r in runs)))
    sys.stdout.flush()

    print("\n{:<24}{:>14}{:>14}{:>14}{:>12}{:>12}".format(
        "", "measured", "socket.engine", "target", "x original", "x target"))
    rows = [
        ("messages/s (median)", msgs["native"], ORIGINAL["msgs"], TARGET["msgs"], False,
         "{:,.0f}"),
        ("round trip p50, ms", rtt["se"]["p50_us"] / 1000, ORIGINAL["rtt_ms"], TARGET["rtt_ms"],
         True, "{:.3f}"),
        ("round trip p99, ms", rtt["se"]["p99_us"] / 1000, ORIGINAL["rtt_ms"], TARGET["rtt_ms"],
         True, "{:.3f}"),
        ("frames/s (PNG)", fps, ORIGINAL["fps"], TARGET["fps"], False, "{:.1f}"),
    ]
    for name, value, orig, target, lower, fmt in rows:
        print("{:<24}{:>14}{:>14}{:>14}{:>12.1f}{:>12.2f}".format(
            name, fmt.format(value), fmt.format(orig), fmt.format(target),
            ratio(value, orig, lower), ratio(value, target, lower)))
    print("(socket.engine 0.3 figures: about 34,000 msg/s, 16 ms round trip and 1 frame/s on"
          " this kind of machine; targets: 20x the messages, under 1 ms, 40 frames/s.)")

    # Against pyzmq and imagezmq: socketengine's median over theirs.
    se_raw, se_jpeg = frame_fps.get("se_raw"), frame_fps.get("se_jpeg")
    vs = [
        ("messages/s", "pyzmq", msgs["native"], msgs["pyzmq"], "{:,.0f}", VS_TARGET["msgs"], False),
        ("messages/s, legacy hubs", "pyzmq", msgs.get("legacy"), msgs["pyzmq"], "{:,.0f}",
         None, False),
        ("round trip p50, us", "pyzmq", rtt["se"]["p50_us"], rtt["pyzmq"]["p50_us"], "{:.1f}",
         VS_TARGET["rtt"], True),
        ("round trip p99, us", "pyzmq", rtt["se"]["p99_us"], rtt["pyzmq"]["p99_us"], "{:.1f}",
         None, True),
        ("raw frames/s", "imagezmq", se_raw, frame_fps["imagezmq_raw"], "{:.1f}",
         VS_TARGET["raw_fps"], False),
        ("JPEG frames/s (q{})".format(JPEG_QUALITY), "imagezmq", se_jpeg,
         frame_fps["imagezmq_jpeg"], "{:.1f}", VS_TARGET["jpeg_fps"], False),
    ]
    print("\n{:<26}{:>14}{:>12}{:>14}{:>10}{:>10}  {}".format(
        "medians", "socketengine", "vs", "theirs", "ratio", "target", ""))
    for name, who, ours, theirs, fmt, target, lower in vs:
        r = None if ours is None else ours / theirs
        if target is None:
            goal, mark = "", ""
        else:
            goal = "{} {:.1f}x".format("<=" if lower else ">=", target)
            mark = "-" if r is None else "PASS" if (r <= target if lower else r >= target) \
                else "below"
        print("{:<26}{:>14}{:>12}{:>14}{:>10}{:>10}  {}".format(
            name, fmt_or_dash(fmt, ours), who, fmt.format(theirs),
            fmt_or_dash("{:.2f}x", r), goal, mark))
    # Other work on the machine shows here: a load above the core count
    # during the run means the figures are low.
    print(load_line())

    def rounded(v, digits=0):
        return None if v is None else round(v, digits) if digits else round(v)

    print(json.dumps({
        "quick": quick,
        "py_msgs_per_s": round(msgs["native"]),
        "py_msgs_per_s_best": round(msgs_best),
        "py_write_calls_per_s": round(statistics.median(call_rates["native"])),
        "py_rtt_p50_us": round(rtt["se"]["p50_us"], 1),
        "py_rtt_p99_us": round(rtt["se"]["p99_us"], 1),
        "py_frames_per_s": round(fps, 2),
        "py_frame_wire_bytes": round(wire_bytes),
        "se_msgs_per_s": round(msgs["native"]),
        "se_legacy_msgs_per_s": rounded(msgs.get("legacy")),
        "pyzmq_msgs_per_s": round(msgs["pyzmq"]),
        "se_rtt_p50_us": round(rtt["se"]["p50_us"], 1),
        "pyzmq_rtt_p50_us": round(rtt["pyzmq"]["p50_us"], 1),
        "se_rtt_p99_us": round(rtt["se"]["p99_us"], 1),
        "pyzmq_rtt_p99_us": round(rtt["pyzmq"]["p99_us"], 1),
        "se_raw_fps": rounded(se_raw, 1),
        "imagezmq_raw_fps": round(frame_fps["imagezmq_raw"], 1),
        "se_jpeg_fps": rounded(se_jpeg, 1),
        "imagezmq_jpeg_fps": round(frame_fps["imagezmq_jpeg"], 1),
    }))


if __name__ == "__main__":
    main()
