#!/usr/bin/env python3
"""Messages per second through the MQTT bridge, next to mosquitto alone.

    /usr/bin/python3 bench/mqtt_bench.py [--cli PATH] [--messages 100000]
                                         [--topics 1000] [--runs 3]

from the repository root, after building the program and the Python module
(cmake --preset release && cmake --build --preset release). Without --cli it
takes build/release's, else build/debug's, and the Python module beside it.
Needs Debian's mosquitto and mosquitto-clients (scripts/setup.sh installs
them); about half a minute.

One mosquitto on a free port of 127.0.0.1 carries, in turns, --runs times:
  - mosquitto alone: `mosquitto_pub -l -q 1` publishing --messages lines to
    one topic, read by `mosquitto_sub`;
  - the bridge: a socketengine hub (this package's Python module) writes
    --messages values, cycling over --topics channels, to a hub run by
    `socketengine bridge --qos 1`, which publishes them to the broker, read
    by the same `mosquitto_sub`.
Both are counted at the subscriber, from its first message to its last, and
the medians reported. The bridge keeps one value per topic and at most one
publish in flight on each: a value written while the one before on its
topic is unacknowledged replaces it, so the subscriber may get fewer than
were written (reported as "replaced"); mosquitto_pub queues every line. A
short table, and last one JSON line with the figures, for scripts. This is
a measurement, not a test: it fails only when it cannot measure.
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PATIENCE_S = 60.0
LOCALHOST = "127.0.0.1"


def fail(message):
    sys.exit("mqtt_bench.py: " + message)


def free_port():
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def wait_until(condition, what):
    deadline = time.monotonic() + PATIENCE_S
    while not condition():
        if time.monotonic() > deadline:
            fail("waited {:.0f} s for {}".format(PATIENCE_S, what))
        time.sleep(0.01)


class Broker:
    def __init__(self, work):
        self.port = free_port()
        conf = Path(work) / "mosquitto.conf"
        conf.write_text("listener {} {}\nallow_anonymous true\npersistence false\n"
                        "max_queued_messages 0\n".format(self.port, LOCALHOST))
        self.proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def accepts():
            with socket.socket() as s:
                return s.connect_ex((LOCALHOST, self.port)) == 0
        wait_until(accepts, "mosquitto to listen")

    def tool(self, name, *args, **kw):
        return subprocess.Popen(["/usr/bin/" + name, "-h", LOCALHOST, "-p", str(self.port), *args],
                                **kw)

    def close(self):
        self.proc.kill()
        self.proc.wait()


class Subscriber:
    """mosquitto_sub on `prefix/#`, counting messages until `end_topic`,
    timed from the first to the last on a thread of its own."""

    def __init__(self, broker, prefix, end_topic):
        # A retained message already there says when the subscription holds.
        ready = prefix + "/ready"
        pub = broker.tool("mosquitto_pub", "-r", "-t", ready, "-m", "1")
        pub.wait(PATIENCE_S)
        self.proc = broker.tool("mosquitto_sub", "-q", "1", "-v", "-t", prefix + "/#",
                                stdout=subprocess.PIPE, text=True)
        self.ready, self.done = threading.Event(), threading.Event()
        self.count, self.first, self.last = 0, None, None
        self.thread = threading.Thread(target=self._read, args=(ready, end_topic), daemon=True)
        self.thread.start()
        if not self.ready.wait(PATIENCE_S):
            fail("mosquitto_sub never subscribed")

    def _read(self, ready, end_topic):
        for line in self.proc.stdout:
            topic = line.split(" ", 1)[0]
            if topic == ready:
                self.ready.set()
                continue
            now = time.perf_counter()
            if topic == end_topic:
                self.last = now
                self.done.set()
                return
            self.first = self.first or now
            self.count += 1

    def result(self):
        if not self.done.wait(PATIENCE_S):
            fail("the subscriber saw no end after {} messages".format(self.count))
        self.proc.kill()
        self.proc.wait()
        return self.count, self.last - self.first


def run_mosquitto_alone(broker, n, run):
    prefix = "alone{}".format(run)
    sub = Subscriber(broker, prefix, prefix + "/end")
    lines = "".join("{}\n".format(i) for i in range(n))
    pub = broker.tool("mosquitto_pub", "-q", "1", "-l", "-t", prefix + "/values",
                      stdin=subprocess.PIPE, text=True)
    pub.communicate(lines, timeout=PATIENCE_S)
    broker.tool("mosquitto_pub", "-q", "1", "-t", prefix + "/end", "-m", "1").wait(PATIENCE_S)
    count, seconds = sub.result()
    return {"delivered": count, "seconds": seconds, "rate": count / seconds}


def run_bridge(broker, cli, n, topics, run, hub):
    prefix = "bridged{}".format(run)
    bridge = subprocess.Popen([str(cli), "bridge", "--broker", "{}:{}".format(LOCALHOST, broker.port),
                               "--hub-name", "bench", "--prefix", prefix, "-p", "0", "--no-images",
                               "--qos", "1"],
                              stderr=subprocess.PIPE, text=True)
    port, connected = [], threading.Event()
    stderr_lines = []

    def read_stderr():
        for line in bridge.stderr:
            stderr_lines.append(line.rstrip("\n"))
            m = re.match(r"listening on port (\d+)", line)
            if m:
                port.append(int(m.group(1)))
            if line.startswith("broker connected"):
                connected.set()
    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    if not connected.wait(PATIENCE_S) or not port:
        bridge.kill()
        fail("socketengine bridge did not start: {}".format(stderr_lines))
    end_topic = "{}/bench/w/end".format(prefix)
    sub = Subscriber(broker, prefix, end_topic)
    with hub(port=0) as h:
        h.connect("w", LOCALHOST, port[0], timeout=PATIENCE_S)
        c = h.connections[0]
        channels = ["c{}".format(i) for i in range(topics)]
        for i in range(n):
            c.write(channels[i % topics], i)
        c.write("end", True)
        c.flush(PATIENCE_S)
        count, seconds = sub.result()
    bridge.send_signal(2)  # SIGINT: it prints its counts
    bridge.wait(PATIENCE_S)
    reader.join(PATIENCE_S)
    summary = next((l for l in stderr_lines if l.startswith("bridge: ")), "")
    m = re.search(r"(\d+) replaced", summary)
    return {"delivered": count, "seconds": seconds, "rate": count / seconds,
            "replaced": int(m.group(1)) if m else None, "written": n}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli", help="the socketengine program (default: build/release's, else "
                                  "build/debug's)")
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--topics", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    builds = [Path(args.cli).parent.parent] if args.cli else [REPO / "build" / b
                                                              for b in ("release", "debug")]
    build = next((b for b in builds if os.access(b / "cli" / "socketengine", os.X_OK)), None)
    if build is None:
        fail("no socketengine program in {}: build it first".format(" or ".join(map(str, builds))))
    cli = Path(args.cli) if args.cli else build / "cli" / "socketengine"
    sys.path.insert(0, str(build / "python"))
    try:
        from socketengine import hub
    except ImportError as e:
        fail("cannot import socketengine from {} ({}): run with /usr/bin/python3 after a "
             "build".format(build / "python", e))

    with tempfile.TemporaryDirectory() as work:
        broker = Broker(work)
        try:
            alone, bridged = [], []
            for run in range(args.runs):
                alone.append(run_mosquitto_alone(broker, args.messages, run))
                bridged.append(run_bridge(broker, cli, args.messages, args.topics, run, hub))
        finally:
            broker.close()

    a = statistics.median(r["rate"] for r in alone)
    b = statistics.median(r["rate"] for r in bridged)
    replaced = statistics.median(r["replaced"] or 0 for r in bridged)
    print("{} messages, QoS 1, {} runs each, medians (runs: alone {}; bridge {}):".format(
        args.messages, args.runs, ", ".join("{:,.0f}".format(r["rate"]) for r in alone),
        ", ".join("{:,.0f}".format(r["rate"]) for r in bridged)))
    print("  mosquitto_pub -> mosquitto -> mosquitto_sub          {:>10,.0f} msg/s".format(a))
    print("  hub -> socketengine bridge -> mosquitto -> mosquitto_sub {:>6,.0f} msg/s  "
          "({:.2f}x; {} topics, {:,.0f} of {:,} values replaced by newer before going)".format(
              b, b / a, args.topics, replaced, args.messages))
    print(json.dumps({"mosquitto_alone_msgs_per_s": round(a), "bridge_msgs_per_s": round(b),
                      "ratio": round(b / a, 3), "bridge_replaced": replaced,
                      "messages": args.messages, "topics": args.topics, "runs": args.runs}))


if __name__ == "__main__":
    main()
