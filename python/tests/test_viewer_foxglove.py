"""`socketengine view` through a Foxglove WebSocket client that is not ours:
@foxglove/ws-protocol's FoxgloveClient (foxglove_client.mjs, run by Node)
against the viewer, with a peer of this package writing values and the
program's own `send` streaming a picture as JPEG. What is checked is the
Foxglove protocol (subprotocol foxglove.websocket.v1: serverInfo, advertise,
subscribe, unsubscribe, messageData) and the viewer's channels on it.

The program is found through SOCKETENGINE_CLI and the client's packages
through SOCKETENGINE_FOXGLOVE_CLIENT_DIR (ctest sets both; the foxglove_client
target installs the packages). Every wait has a deadline; no test sleeps to
wait for the network.
"""

import json
import os
import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from cli_support import Background, Cli
from peers import PATIENCE, pattern_image, png_of
from socketengine import hub

LOCALHOST = "127.0.0.1"
PROTOCOL = "foxglove.websocket.v1"
CLIENT_SCRIPT = Path(__file__).resolve().parent / "foxglove_client.mjs"
VALUE = "/sensor/temperature"
IMAGE = "/camera/image"
JPEG_MAGIC = "ffd8ff"


class Foxglove(Background):
    """foxglove_client.mjs running in the background: its events (one JSON
    object a line on its stdout) read as they come, commands written to its
    stdin."""

    def __init__(self, url, *topics, count=None, timeout=3 * PATIENCE):
        node = shutil.which("node")
        if node is None:
            pytest.fail("node is not on PATH: the viewer's Foxglove test needs Node.js "
                        "(scripts/setup.sh installs it)")
        modules = os.environ.get("SOCKETENGINE_FOXGLOVE_CLIENT_DIR")
        if not modules:
            pytest.fail("SOCKETENGINE_FOXGLOVE_CLIENT_DIR is not set: run the tests through "
                        "ctest, or set it to <build>/foxglove-client")
        if not (Path(modules) / "node_modules" / "@foxglove" / "ws-protocol").is_dir():
            pytest.fail("@foxglove/ws-protocol is not installed in {}: build the foxglove_client "
                        "target (it runs scripts/setup-foxglove-client.sh)".format(modules))
        args = [node, str(CLIENT_SCRIPT), url, *topics, "--timeout", str(timeout)]
        if count is not None:
            args += ["--count", str(count)]
        self.events = []
        super().__init__(args, stdin=True)

    def took_out(self, line):
        try:
            self.events.append(json.loads(line))
        except ValueError:
            self.err.append("not JSON on stdout: " + line)

    def describe(self):
        return "client events: {}\nclient stderr: {}".format(
            [summary(e) for e in self.events[-40:]], self.err)

    def within(self, condition, timeout):
        """condition()'s first truthy result, if it has one within `timeout`
        seconds; else None (at once if the client has ended)."""
        result = None

        def ready():
            nonlocal result
            result = condition()
            return result or self.proc.poll() is not None

        with self._cond:
            self._cond.wait_for(ready, timeout)
        if not result and self.proc.poll() is not None:
            # Ended: one last look once its output has all been read.
            for r in self._readers:
                r.join(PATIENCE)
            with self._cond:
                result = condition()
        return result or None

    def wait_for(self, condition, what, timeout=PATIENCE):
        """condition()'s first truthy result, once it has one; fails the test
        after `timeout` seconds, or when the client ends first."""
        result = self.within(condition, timeout)
        if result is None:
            ended = self.proc.poll()
            pytest.fail("{} for {}\n{}".format(
                "waited {} s".format(timeout) if ended is None
                else "the client ended (status {}) before it came".format(ended),
                what, self.describe()))
        return result

    def snapshot(self):
        with self._cond:
            return list(self.events)

    def of(self, event, **fields):
        """The events of kind `event` with the given fields, so far."""
        return [e for e in self.snapshot()
                if e["event"] == event and all(e.get(k) == v for k, v in fields.items())]

    def messages(self, topic):
        return self.of("message", topic=topic)

    def advertised(self, topic):
        """The channel advertised for `topic`, once it has been."""
        return self.wait_for(lambda: next(iter(self.of("advertise", topic=topic)), None),
                             "an advertisement of " + topic)

    def command(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()


def summary(event):
    """An event short enough for a failure message."""
    if event.get("event") == "advertise":
        return {k: event.get(k) for k in ("event", "batch", "id", "topic")}
    return event


# --- fixtures --------------------------------------------------------------------------

@pytest.fixture
def viewer():
    """The viewer: `url` its WebSocket address, `hub_port` where peers dial."""
    v = Cli("view", "--port", "0", "--listen", "0")
    try:
        url = v.announced(r"viewer on (http://\S+)", "the viewer's address on stderr")
        hub_port = v.port()
        yield SimpleNamespace(proc=v, url=re.sub(r"^http://", "ws://", url), hub_port=hub_port)
    finally:
        v.stop()


@pytest.fixture
def clients():
    """clients(url, *topics, count=None, timeout=...) starts
    foxglove_client.mjs; each is stopped at teardown."""
    made = []

    def start(*args, **kwargs):
        made.append(Foxglove(*args, **kwargs))
        return made[-1]
    yield start
    for c in made:
        c.stop()


@pytest.fixture
def sensor(viewer):
    """A peer of this package that dialled the viewer's hub as "sensor" and
    stays connected: its connection, to write values with."""
    with hub(port=0) as h:
        h.connect("sensor", LOCALHOST, viewer.hub_port, timeout=PATIENCE)
        yield h.connections[0]


@pytest.fixture
def camera(viewer, tmp_path):
    """`socketengine send` streaming a picture to the viewer as "camera", 30
    a second, sent as JPEG; starts on first call."""
    made = []

    def start():
        frame = tmp_path / "frame.png"
        frame.write_bytes(png_of(pattern_image(48, 64, 3)))
        made.append(Cli("send", "{}:{}".format(LOCALHOST, viewer.hub_port), "--image", str(frame),
                        "--repeat", "0", "--rate", "30", "--encoding", "jpeg", "--name", "camera"))
        return made[-1]
    yield start
    for p in made:
        p.stop()


def until_delivered(client, topic, write, is_new, what):
    """Calls write() again and again until `client` has a message on `topic`
    for which is_new(payload) holds; returns that message. The viewer need
    not replay a value to a client that subscribes after it came, and a
    subscription reaches it some time after the client sent it: writing
    until something arrives is the only order that is sure."""
    def delivered():
        return next((m for m in client.messages(topic) if is_new(m["payload"])), None)

    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline and client.proc.poll() is None:
        write()
        found = client.within(delivered, 0.02)
        if found:
            return found
    pytest.fail("{} did not come while written again and again for {} s{}\n{}".format(
        what, PATIENCE, "" if client.proc.poll() is None else " (the client ended)",
        client.describe()))


def assert_plausible_ns(ns, since, what):
    """`ns` is a wall-clock time in nanoseconds since the epoch between
    `since` (taken before it could have been made) and now."""
    assert isinstance(ns, int), (what, ns)
    now = time.time_ns()
    assert since - 10**9 <= ns <= now + 10**9, "{} is {} ns, not between {} and {} (now)".format(
        what, ns, since, now)


# --- the protocol: server info and channels --------------------------------------------

def test_server_info_then_every_channel_advertised_with_its_schema(viewer, clients, sensor,
                                                                   camera):
    sensor.write("temperature", 21.5)
    camera()
    first = clients(viewer.url, VALUE, IMAGE)
    value_channel = first.advertised(VALUE)
    image_channel = first.advertised(IMAGE)

    # The server picked the subprotocol, and its first message is serverInfo.
    events = first.snapshot()
    assert events[0] == {"event": "open", "protocol": PROTOCOL}, events[:2]
    info = events[1]
    assert info["event"] == "serverInfo", events[:2]
    assert {k: info.get(k) for k in ("name", "capabilities", "supportedEncodings", "metadata")} \
        == {"name": "socketengine", "capabilities": [], "supportedEncodings": None, "metadata": {}}
    assert isinstance(info.get("sessionId"), str) and info["sessionId"], info

    assert value_channel["encoding"] == "json"
    assert value_channel["schemaName"] == "socketengine.Value"
    assert value_channel["schemaEncoding"] == "jsonschema"
    schema = json.loads(value_channel["schema"])
    assert schema.get("type") == "object" and "value" in schema.get("properties", {}), schema

    assert image_channel["encoding"] == "json"
    assert image_channel["schemaName"] == "foxglove.CompressedImage"
    assert image_channel["schemaEncoding"] == "jsonschema"
    schema = json.loads(image_channel["schema"])
    assert schema.get("type") == "object", schema
    assert {"timestamp", "frame_id", "data", "format"} <= set(schema.get("properties", {})), schema

    assert value_channel["id"] != image_channel["id"]

    # A client that connects once both are known gets them both in the
    # advertise that follows serverInfo.
    second = clients(viewer.url)
    second.advertised(IMAGE)
    events = second.snapshot()
    assert [e["event"] for e in events[:3]] == ["open", "serverInfo", "advertise"], \
        [summary(e) for e in events[:3]]
    assert {VALUE, IMAGE} <= {e["topic"] for e in second.of("advertise", batch=1)}, \
        [summary(e) for e in events]
    # The same channels (their ids may differ: ids are the server's to give).
    same = ("topic", "encoding", "schemaName", "schemaEncoding", "schema")
    for c in (value_channel, image_channel):
        (again,) = second.of("advertise", topic=c["topic"])
        assert {k: again[k] for k in same} == {k: c[k] for k in same}


def test_a_channel_that_appears_later_is_advertised_then(viewer, clients, sensor):
    sensor.write("temperature", 21.5)
    client = clients(viewer.url, "/sensor/humidity")
    client.advertised(VALUE)
    assert not client.of("advertise", topic="/sensor/humidity")

    sensor.write("humidity", 40)
    humidity = client.advertised("/sensor/humidity")
    assert humidity["batch"] > 1
    assert humidity["schemaName"] == "socketengine.Value"
    got = until_delivered(client, "/sensor/humidity", lambda: sensor.write("humidity", 41),
                          lambda p: p == {"value": 41}, "humidity 41")
    assert got["payload"] == {"value": 41}

    ads = client.of("advertise")
    assert len({a["topic"] for a in ads}) == len(ads), "a topic advertised twice: {}".format(
        [summary(a) for a in ads])
    assert len({a["id"] for a in ads}) == len(ads), "a channel id given twice: {}".format(
        [summary(a) for a in ads])


# --- messages -----------------------------------------------------------------------

def test_values_arrive_as_written_and_a_newer_one_follows(viewer, clients, sensor):
    since = time.time_ns()
    pose = {"x": 1.25, "y": [2, "three"], "ok": True, "none": None, "name": "arm one"}
    sensor.write("temperature", 21.5)
    sensor.write("pose", pose)
    client = clients(viewer.url, VALUE, "/sensor/pose")
    client.advertised(VALUE)
    client.advertised("/sensor/pose")

    first = until_delivered(client, VALUE, lambda: sensor.write("temperature", 21.5),
                            lambda p: True, "a message on " + VALUE)
    assert first["payload"] == {"value": 21.5}
    got = until_delivered(client, "/sensor/pose", lambda: sensor.write("pose", pose),
                          lambda p: True, "a message on /sensor/pose")
    assert got["payload"] == {"value": pose}

    newer = until_delivered(client, VALUE, lambda: sensor.write("temperature", 22.75),
                            lambda p: p == {"value": 22.75}, "the newer value 22.75")
    assert newer["payload"] == {"value": 22.75}

    # Latest only may skip values, but never brings back an older one; by
    # the time a third value has come, one that followed 22.75 would have.
    until_delivered(client, VALUE, lambda: sensor.write("temperature", 24),
                    lambda p: p == {"value": 24}, "the third value 24")
    values = [m["payload"]["value"] for m in client.messages(VALUE)]
    assert set(values) == {21.5, 22.75, 24}, values
    assert values == sorted(values), values
    stamps = [m["timestamp_ns"] for m in client.messages(VALUE)]
    assert stamps == sorted(stamps), stamps
    for m in client.of("message"):
        assert not m["unsubscribed"], m
        assert_plausible_ns(m["timestamp_ns"], since, "the receive timestamp of " + m["topic"])


def test_images_arrive_as_jpeg_with_plausible_timestamps(viewer, clients, camera):
    since = time.time_ns()
    camera()
    client = clients(viewer.url, IMAGE, count=5, timeout=PATIENCE)
    assert client.finish(PATIENCE + 5) == 0, client.err
    images = client.messages(IMAGE)
    assert len(images) >= 5, [summary(e) for e in client.snapshot()]

    payload_stamps, receive_stamps = [], []
    for m in images:
        p = m["payload"]
        assert set(p) == {"timestamp", "frame_id", "data", "format"}, p
        assert p["format"] == "jpeg", p
        assert p["frame_id"] == "camera", p
        assert p["data"]["magic"].startswith(JPEG_MAGIC), p
        assert p["data"]["bytes"] > 100, p
        t = p["timestamp"]
        assert set(t) == {"sec", "nsec"} and 0 <= t["nsec"] < 10**9, t
        payload_stamps.append(t["sec"] * 10**9 + t["nsec"])
        receive_stamps.append(m["timestamp_ns"])
    for ns in payload_stamps:
        assert_plausible_ns(ns, since, "a picture's timestamp")
    for ns in receive_stamps:
        assert_plausible_ns(ns, since, "a picture's receive timestamp")
    assert payload_stamps == sorted(payload_stamps), payload_stamps
    assert receive_stamps == sorted(receive_stamps), receive_stamps
    # A stream of pictures, not one picture sent again.
    assert len(set(payload_stamps)) > 1, payload_stamps


def test_unsubscribe_stops_the_messages_of_that_client_only(viewer, clients, sensor, camera):
    sensor.write("temperature", 0)
    camera()
    quitter = clients(viewer.url, IMAGE)
    stayer = clients(viewer.url, IMAGE)
    quitter.advertised(VALUE)
    quitter.wait_for(lambda: len(quitter.messages(IMAGE)) >= 3, "3 pictures")

    quitter.command("unsubscribe " + IMAGE)
    quitter.wait_for(lambda: quitter.of("unsubscribed", topic=IMAGE), "the unsubscribe sent")
    # The viewer reads a client's requests in order: a message on a
    # subscription made after the unsubscribe means the unsubscribe has
    # been handled. Pictures still on their way before it may arrive.
    quitter.command("subscribe " + VALUE)
    n = iter(range(1, 10**6))
    fence = until_delivered(quitter, VALUE, lambda: sensor.write("temperature", next(n)),
                            lambda p: True, "a value after the unsubscribe")
    after_fence = quitter.snapshot()
    fence_at = after_fence.index(fence)

    # The camera goes on: another client gets 10 more pictures (a third of
    # a second's worth) in the time the first gets none.
    seen = len(stayer.messages(IMAGE))
    stayer.wait_for(lambda: len(stayer.messages(IMAGE)) >= seen + 10, "10 more pictures")
    late = [e for e in quitter.snapshot()[fence_at:] if e["event"] == "message"
            and e["topic"] == IMAGE]
    assert not late, "{} pictures came after the unsubscribe was handled: {}".format(
        len(late), late[:3])
    assert all(not m["unsubscribed"] for m in stayer.messages(IMAGE))

    # Subscribing again brings them back, on the new subscription.
    quitter.command("subscribe " + IMAGE)
    (again,) = quitter.wait_for(lambda: quitter.of("subscribed", topic=IMAGE)[1:],
                                "a new subscription")
    quitter.wait_for(lambda: quitter.of("message", topic=IMAGE,
                                        subscription=again["subscription"]),
                     "a picture on the new subscription")


# --- the client itself -----------------------------------------------------------------

def test_the_client_fails_with_status_3_when_a_topic_never_comes(viewer, clients):
    client = clients(viewer.url, "/nobody/here", count=1, timeout=1)
    assert client.finish() == 3
    assert any("timed out after 1 s" in line and "0 on /nobody/here" in line
               for line in client.err), client.err
