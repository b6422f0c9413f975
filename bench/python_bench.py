#!/usr/bin/env python3
"""Benchmark of the socketengine Python API (the socket.engine 0.3 calls).

    PYTHONPATH=build/release/python /usr/bin/python3 bench/python_bench.py [--quick]

Measures, hub to hub over loopback, with sender and receiver in separate
processes (as two programs on a robot are):

  - small messages per second: write_all("x", i) N times, then a marker;
  - the round trip of a ping-pong on a channel (p50 and p99);
  - 640x480 camera-like frames per second (write_image_all, PNG on the wire),
    every received frame checked bit for bit against the one sent.

It prints the original package's figures and the targets for comparison, and
last one JSON line with the numbers, for scripts. --quick takes about 10 s,
a full run under a minute (2 cores). The machine is described first:
figures from a shared or loaded machine vary from run to run, which is why
the message rate is the best and the median of several runs.

The processes are this script started again with --role; each role prints
its port or its results as JSON lines on stdout.
"""

import argparse
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


def role_msg_recv(args):
    with hub(port=0, timeout=HUB_TIMEOUT_S) as h:
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
    with hub(port=0, timeout=HUB_TIMEOUT_S) as h:
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
        out = c.stats["messages_out"]
        c.write("bye", True)
    emit(write_seconds=t1 - t0, acked_seconds=t2 - t0, messages_out=out)


def role_pong(args):
    with hub(port=0, timeout=HUB_TIMEOUT_S) as h:
        emit(port=h.port)
        # Every ping is answered from the engine's callback thread.
        h.on("ping", lambda v: h.write_all("pong", v))
        c = wait_for_connection(h)
        if c.wait_for("bye", timeout=PATIENCE_S * 3) is None:
            fail("pong: the pinger never finished")


def role_ping(args):
    with hub(port=0, timeout=HUB_TIMEOUT_S) as h:
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
    samples.sort()
    emit(p50_us=samples[len(samples) // 2], p99_us=samples[int(len(samples) * 0.99)],
         min_us=samples[0], max_us=samples[-1])


def role_img_recv(args):
    frames = make_frames()
    lock = threading.Lock()
    state = {"count": 0, "bad": 0, "first": None, "last": None}

    def on_image(img):
        # Every frame must be one of the sender's, bit for bit.
        ok = any(img.shape == f.shape and np.array_equal(img, f) for f in frames)
        now = time.perf_counter()
        with lock:
            state["count"] += 1
            state["bad"] += not ok
            state["first"] = state["first"] or now
            state["last"] = now

    with hub(port=0, timeout=HUB_TIMEOUT_S) as h:
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
        emit(frames=state["count"], bad=state["bad"],
             seconds=state["last"] - state["first"], bytes_in=stats["bytes_in"])


def role_img_send(args):
    frames = make_frames()
    with hub(port=0, timeout=HUB_TIMEOUT_S) as h:
        h.connect("bench", "127.0.0.1", args.port, timeout=PATIENCE_S)
        c = hub_connection(h)
        calls = 0
        t0 = time.perf_counter()
        end = t0 + args.seconds
        # As fast as the API allows: each call encodes a PNG (without the
        # GIL); while a frame is in flight the newest waits and replaces an
        # older waiting one, so the receiver gets the latest (as a camera
        # program wants) and the rate is set by encode, transfer and decode.
        while time.perf_counter() < end:
            h.write_image_all(frames[calls % len(frames)])
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


ROLES = {
    "msg-recv": role_msg_recv, "msg-send": role_msg_send,
    "pong": role_pong, "ping": role_ping,
    "img-recv": role_img_recv, "img-send": role_img_send,
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


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a short run (about 10 s)")
    p.add_argument("--role", choices=sorted(ROLES), help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.role:
        ROLES[args.role](args)
        return

    quick = args.quick
    msg_count = 100_000 if quick else 500_000
    msg_runs = 3 if quick else 5
    rtt_count, rtt_warmup = (2_000, 200) if quick else (5_000, 500)
    img_seconds = 3.0 if quick else 8.0

    print(machine_line())
    print("socketengine from {}".format(os.path.dirname(socketengine.__file__)))
    print("mode: {}".format("--quick" if quick else "full"), flush=True)

    # 1. Small messages, sender process -> receiver process.
    rates, call_rates = [], []
    for _ in range(msg_runs):
        recv, send = run_pair("msg-recv", "msg-send", 120, count=msg_count)
        rates.append(msg_count / recv["seconds"])
        call_rates.append(msg_count / send["write_seconds"])
    msgs_median, msgs_best = statistics.median(rates), max(rates)
    print("\nsmall messages hub->hub, {} x write_all('x', i), {} runs:".format(msg_count, msg_runs))
    print("  received per second: median {:,.0f}, best {:,.0f} (runs: {})".format(
        msgs_median, msgs_best, ", ".join("{:,.0f}".format(r) for r in rates)))
    print("  write_all calls per second in the sender: median {:,.0f}".format(
        statistics.median(call_rates)), flush=True)

    # 2. Round trip: ping from one process, pong from the other's callback.
    pong, ping = run_pair("pong", "ping", 120, count=rtt_count, warmup=rtt_warmup)
    print("\nround trip, write('ping', i) -> on('ping') writes 'pong' -> wait_for_next('pong'),"
          " {} after {} warm-up:".format(rtt_count, rtt_warmup))
    print("  p50 {:.1f} us, p99 {:.1f} us (min {:.1f}, max {:.1f})".format(
        ping["p50_us"], ping["p99_us"], ping["min_us"], ping["max_us"]), flush=True)

    # 3. Camera frames.
    recv, send = run_pair("img-recv", "img-send", 120, seconds=img_seconds)
    # Frames per second between the first frame's arrival and the last's.
    fps = (recv["frames"] - 1) / recv["seconds"] if recv["seconds"] > 0 else 0.0
    wire_bytes = recv["bytes_in"] / recv["frames"]
    print("\n640x480x3 frames hub->hub, write_image_all as fast as it returns, {:.0f} s:".format(
        img_seconds))
    print("  received {} frames, {:.1f} frames/s, all bit-exact: {}; sender calls {} ({:.1f}/s)"
          .format(recv["frames"], fps, "yes" if recv["bad"] == 0 else
                  "NO ({} differ)".format(recv["bad"]), send["calls"],
                  send["calls"] / send["seconds"]))
    print("  {:,.0f} bytes on the wire per frame: a PNG of about {:,.0f} bytes, in base64, in JSON"
          .format(wire_bytes, wire_bytes * 3 / 4), flush=True)
    if recv["bad"]:
        fail("{} received frames differ from the frames sent".format(recv["bad"]))

    print("\n{:<24}{:>14}{:>14}{:>14}{:>12}{:>12}".format(
        "", "measured", "socket.engine", "target", "x original", "x target"))
    rows = [
        ("messages/s (median)", msgs_median, ORIGINAL["msgs"], TARGET["msgs"], False, "{:,.0f}"),
        ("round trip p50, ms", ping["p50_us"] / 1000, ORIGINAL["rtt_ms"], TARGET["rtt_ms"], True,
         "{:.3f}"),
        ("round trip p99, ms", ping["p99_us"] / 1000, ORIGINAL["rtt_ms"], TARGET["rtt_ms"], True,
         "{:.3f}"),
        ("frames/s", fps, ORIGINAL["fps"], TARGET["fps"], False, "{:.1f}"),
    ]
    for name, value, orig, target, lower, fmt in rows:
        print("{:<24}{:>14}{:>14}{:>14}{:>12.1f}{:>12.2f}".format(
            name, fmt.format(value), fmt.format(orig), fmt.format(target),
            ratio(value, orig, lower), ratio(value, target, lower)))
    print("(socket.engine 0.3 figures: about 34,000 msg/s, 16 ms round trip and 1 frame/s on"
          " this kind of machine; targets: 20x the messages, under 1 ms, 40 frames/s.)")
    # Other work on the machine shows here: a load above the core count
    # during the run means the figures are low.
    print(load_line())

    print(json.dumps({
        "quick": quick,
        "py_msgs_per_s": round(msgs_median),
        "py_msgs_per_s_best": round(msgs_best),
        "py_write_calls_per_s": round(statistics.median(call_rates)),
        "py_rtt_p50_us": round(ping["p50_us"], 1),
        "py_rtt_p99_us": round(ping["p99_us"], 1),
        "py_frames_per_s": round(fps, 2),
        "py_frame_wire_bytes": round(wire_bytes),
    }))


if __name__ == "__main__":
    main()
