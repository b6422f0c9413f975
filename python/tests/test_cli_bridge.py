"""`socketengine bridge` against a real MQTT broker: Debian's mosquitto,
started here on a free port of 127.0.0.1, with mosquitto_sub and
mosquitto_pub (mosquitto-clients) on the other side."""

import signal
import socket
import subprocess

import pytest

from cli_support import Cli, started
from peers import PATIENCE, eventually
from socketengine import hub

LOCALHOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def accepts(port):
    with socket.socket() as s:
        return s.connect_ex((LOCALHOST, port)) == 0


@pytest.fixture
def broker(tmp_path):
    """The port of a mosquitto that listens on 127.0.0.1 only."""
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("listener {} {}\nallow_anonymous true\npersistence false\n".format(
        port, LOCALHOST))
    proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(conf)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        eventually(lambda: accepts(port), "mosquitto listening")
        yield port
    finally:
        proc.kill()
        proc.wait(PATIENCE)


@pytest.fixture
def programs():
    yield from started(Cli)


def mqtt(tool, port, *args):
    done = subprocess.run(["/usr/bin/" + tool, "-h", LOCALHOST, "-p", str(port), *args],
                          capture_output=True, text=True, timeout=PATIENCE)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bridge_publishes_retained_values_and_takes_topics_in(broker, programs):
    bridge = programs("bridge", "--broker", "{}:{}".format(LOCALHOST, broker),
                      "--hub-name", "base", "-p", "0", "--inbound", "fleet/cmd/#=cam")
    port = bridge.port()
    bridge.announced(r"(broker connected)", "the broker connected")
    with hub(port=0) as h:
        h.connect("cam", LOCALHOST, port, timeout=PATIENCE)
        cam = h.connections[0]
        for t in (20.5, 21.0, 21.5):
            cam.write("temp", t)
        # A subscriber that comes later gets the latest, retained.
        got = eventually(lambda: mqtt("mosquitto_sub", broker, "-t", "socketengine/base/cam/temp",
                                      "-C", "1", "-W", "1") == "21.5\n" or None,
                         "the retained latest value")
        assert got
        mqtt("mosquitto_pub", broker, "-r", "-t", "fleet/cmd/mode", "-m", '"auto"')
        assert cam.wait_for("fleet/cmd/mode", PATIENCE) == "auto"
    bridge.proc.send_signal(signal.SIGINT)
    assert bridge.finish() == 0
    summary = [line for line in bridge.err if line.startswith("bridge: ")]
    assert summary and "1 written to peers" in summary[0], bridge.describe()


def test_bridge_needs_a_broker_and_a_hub_name(programs):
    for args in (["--hub-name", "base"], ["--broker", LOCALHOST]):
        p = programs("bridge", *args)
        assert p.finish() == 2
        assert any("required" in line for line in p.err), p.describe()
