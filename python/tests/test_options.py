"""The engine's options as keyword arguments, many channels, errors to a
callback, and frames without copies (arrays over the engine's pixels one
way, the caller's array read in place the other).
"""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import child_env, connect_hubs, eventually
from socketengine import client, host, hub

PATIENCE = 10


def smooth_image(h=120, w=160):
    # Gradients with a little texture: JPEG changes it (lossy), PNG and raw
    # must not, and the three sizes on the wire differ clearly.
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // w), (y * 255 // h), ((x + y) * 3) % 256], axis=-1)
    return (img + (np.arange(h * w * 3).reshape(h, w, 3) % 7)).astype(np.uint8)


def linked(closer, listener_options=None, dialler_options=None):
    listener = closer(hub(port=0, **(listener_options or {})))
    dialler = closer(hub(port=0, **(dialler_options or {})))
    local, remote = connect_hubs(dialler, listener, "peer")
    return local, remote


def image_bytes_in(conn, img, write):
    """Bytes that came in on `conn` while one image went through `write`,
    and the image received."""
    before = conn.stats["bytes_in"]
    version = conn._c.image_version()
    write(img)
    got = conn.wait_for_next(conn._image_channel, PATIENCE) \
        if conn._c.image_version() == version else conn.getImg()
    return conn.stats["bytes_in"] - before, got


# --- many channels ---------------------------------------------------------------

@pytest.mark.parametrize("native", [True, False])
def test_ten_thousand_channels_from_one_peer_are_all_kept_by_default(closer, native):
    local, remote = linked(closer, dict(native=native), dict(native=native))
    for i in range(10_000):
        local.write("channel %d" % i, i)
    local.write("done", True)
    assert remote.wait_for("done", PATIENCE) is True
    assert [remote.get("channel %d" % i) for i in range(10_000)] == list(range(10_000))
    assert remote.stats["errors"] == 0


def test_the_channel_limit_is_reported_once_to_on_error_naming_the_option(closer):
    listener = closer(hub(port=0, limits={"max_channels": 5}))
    heard = []
    assert listener.on_error(lambda c, what, detail: heard.append((c, what, detail))) is listener
    dialler = closer(hub(port=0))
    local, remote = connect_hubs(dialler, listener, "peer")
    for i in range(8):
        local.write("c%d" % i, i)
    local.write("c0", "last")
    eventually(lambda: remote.get("c0") == "last")
    assert remote.get("c4") == 4 and remote.get("c5") is None
    assert remote.stats["errors"] == 3
    # Reported on the callback thread, which may not have run yet.
    eventually(lambda: heard, what="the report of the first channel dropped")
    assert len(heard) == 1, heard
    conn, what, detail = heard[0]
    assert conn is remote
    assert what == "too many channels"
    assert "max_channels" in detail and "c5" in detail


def test_the_channel_limit_goes_to_stderr_without_on_error(tmp_path):
    # In a child, so that its stderr is all its own.
    script = (
        "from socketengine import hub\n"
        "import time\n"
        "a = hub(port=0, limits={'max_channels': 2})\n"
        "b = hub(port=0)\n"
        "b.connect('peer', '127.0.0.1', a.port, timeout=10)\n"
        "c = b.connections[0]\n"
        "for i in range(5): c.write('k%d' % i, i)\n"
        "c.write('k0', 'last')\n"
        "deadline = time.monotonic() + 10\n"
        "while time.monotonic() < deadline and not (a.connections and\n"
        "        a.connections[0].get('k0') == 'last'):\n"
        "    time.sleep(0.01)\n"
        "a.close(); b.close()\n")
    done = subprocess.run([sys.executable, "-c", script], env=child_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [l for l in done.stderr.splitlines() if "too many channels" in l]
    assert len(lines) == 1, done.stderr
    assert "limits.max_channels" in lines[0] and "max_channels" in lines[0]


# --- options -----------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error", [
    (dict(image_encoding="gif"), ValueError),
    (dict(image_encoding=1), TypeError),
    (dict(jpeg_quality=0), ValueError),
    (dict(jpeg_quality=101), ValueError),
    (dict(png_compression=10), ValueError),
    (dict(frames_in_flight=0), ValueError),
    (dict(max_pixels=0), ValueError),
    (dict(limits={"max_chanels": 10}), TypeError),
    (dict(limits={"max_channels": -1}), ValueError),
    (dict(limits={"max_channels": "many"}), TypeError),
    (dict(limits={"on_full_queue": "drop"}), ValueError),
    (dict(limits={"receive_grace": -1}), ValueError),
    (dict(limits=[("max_channels", 1)]), TypeError),
])
@pytest.mark.parametrize("make", [
    lambda **kw: hub(port=0, **kw),
    lambda **kw: host(port=0, **kw),
    lambda **kw: client(port=1, open=False, **kw),
], ids=["hub", "host", "client"])
def test_bad_options_raise(make, kwargs, error):
    with pytest.raises(error):
        make(**kwargs).close()


def test_native_false_keeps_to_the_legacy_protocol(closer):
    native_local, native_remote = linked(closer)
    eventually(lambda: native_local.native and native_remote.native)
    legacy_local, legacy_remote = linked(closer, dialler_options=dict(native=False))
    legacy_local.write("x", b"\x00\x01")
    # A legacy link carries bytes as base64 text, which arrives as a str.
    assert legacy_remote.wait_for("x", PATIENCE) == "AAE="
    assert not legacy_local.native and not legacy_remote.native


def test_image_encoding_per_hub_and_per_write(closer):
    img = smooth_image()
    raw_local, raw_remote = linked(closer, dialler_options=dict(image_encoding="raw"))
    eventually(lambda: raw_local.native)
    raw_bytes, got = image_bytes_in(raw_remote, img, raw_local.writeImg)
    assert np.array_equal(got, img)
    assert raw_bytes >= img.size

    png_bytes, got = image_bytes_in(raw_remote, img,
                                    lambda i: raw_local.writeImg(i, encoding="png"))
    assert np.array_equal(got, img)
    assert png_bytes < raw_bytes / 2

    jpeg_bytes, got = image_bytes_in(raw_remote, img,
                                     lambda i: raw_local.writeImg(i, encoding="jpeg"))
    assert got.shape == img.shape and not np.array_equal(got, img)
    assert np.abs(got.astype(int) - img.astype(int)).mean() < 8
    assert jpeg_bytes < raw_bytes / 2

    with pytest.raises(ValueError):
        raw_local.writeImg(img, encoding="bmp")


def test_jpeg_quality_sets_the_size(closer):
    img = smooth_image()
    sizes = {}
    for quality in (10, 95):
        local, remote = linked(closer, dialler_options=dict(image_encoding="jpeg",
                                                            jpeg_quality=quality))
        eventually(lambda: local.native)
        sizes[quality], _ = image_bytes_in(remote, img, local.writeImg)
    assert sizes[10] * 2 < sizes[95], sizes


def test_a_client_writes_images_in_the_encoding_asked(closer):
    h = closer(host(port=0))
    h.start()
    c = closer(client(port=h.port, image_encoding="raw"))
    conn = eventually(lambda: next(iter(h.getClients()), None))
    eventually(lambda: conn.native)
    img = smooth_image()
    raw_bytes, got = image_bytes_in(conn, img, c.writeImg)
    assert np.array_equal(got, img) and raw_bytes >= img.size
    jpeg_bytes, got = image_bytes_in(conn, img, lambda i: c.writeImg(i, encoding="jpeg"))
    assert jpeg_bytes < raw_bytes / 2


class StoppedPeer:
    """A hub in another process that stops (SIGSTOP) once linked: it takes
    no more frames and acknowledges none."""

    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-c",
             "from socketengine import hub\nimport sys\nh = hub(port=0)\n"
             "print(h.port, flush=True)\nsys.stdin.read()\n"],
            env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def stop(self):
        """Returns once every thread of the peer has stopped: a signal is
        delivered when a thread next runs, and a thread that runs before
        that could still take a frame and acknowledge it."""
        self.proc.send_signal(signal.SIGSTOP)
        tasks = "/proc/{}/task".format(self.proc.pid)

        def state(tid):
            with open("{}/{}/stat".format(tasks, tid)) as f:
                return f.read().rsplit(")", 1)[1].split()[0]

        eventually(lambda: all(state(t) in "Tt" for t in os.listdir(tasks)),
                   what="the peer stopped")

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def close(self):
        self.proc.kill()
        self.proc.wait(PATIENCE)


def linked_to_a_stopped_peer(closer, frames):
    """A raw-frames hub linked natively to a StoppedPeer (still running);
    the peer and the hub's connection."""
    peer = closer(StoppedPeer())
    h = closer(hub(port=0, image_encoding="raw", frames_in_flight=frames))
    h.connect("stopped", "127.0.0.1", peer.port, timeout=PATIENCE)
    conn = h.connections[0]
    eventually(lambda: conn.native)
    return peer, conn


@pytest.mark.parametrize("frames", [1, 3])
def test_frames_in_flight_bounds_the_images_unacknowledged(closer, frames):
    peer, conn = linked_to_a_stopped_peer(closer, frames)
    peer.stop()
    img = smooth_image(8, 8)
    statuses = [conn._c.write_image(img) for _ in range(frames + 2)]
    assert statuses == ["sent"] * frames + ["pending", "pending"]
    assert not conn.canWrite


def test_wait_for_image_slot_waits_while_a_frame_waits_to_go(closer):
    peer, conn = linked_to_a_stopped_peer(closer, 1)
    img = smooth_image(8, 8)
    assert conn.wait_for_image_slot(PATIENCE)  # nothing waits: at once
    peer.stop()
    conn.writeImg(img)  # in flight
    assert conn.wait_for_image_slot(PATIENCE)  # one in flight, none waiting
    conn.writeImg(img)  # waits: the stopped peer acknowledges nothing
    assert not conn.wait_for_image_slot(0.2)
    peer.resume()  # the first is acknowledged, the waiting one goes
    assert conn.wait_for_image_slot(PATIENCE)
    conn.close()
    assert not conn.wait_for_image_slot(PATIENCE)  # closed: at once


# --- frames without copies ----------------------------------------------------------

def test_a_received_frame_is_a_view_of_the_engines_pixels(closer):
    local, remote = linked(closer, dialler_options=dict(image_encoding="raw"))
    seen = []
    remote.on("__image", seen.append)
    img = smooth_image()
    local.writeImg(img)
    got = remote.wait_for("__image", PATIENCE)
    eventually(lambda: seen)
    for array in (got, seen[0]):
        assert np.array_equal(array, img)
        assert not array.flags.owndata and array.base is not None, "a copy, not a view"
        assert array.flags.writeable, "the seed's arrays could be drawn on"
    # Both are views of the one frame the engine received.
    assert np.shares_memory(got, seen[0])
    assert remote.getImg() is got


def test_copy_false_reads_the_array_in_place_and_holds_it_read_only_meanwhile(closer):
    peer, conn = linked_to_a_stopped_peer(closer, 1)
    peer.stop()
    # The first frame goes out (the system takes it, the peer cannot
    # acknowledge it); the second waits as the pending frame, and the
    # engine holds the caller's array meanwhile, which cannot be written.
    conn.writeImg(smooth_image(480, 640), copy=False)
    frame = smooth_image(480, 640)
    conn.writeImg(frame, copy=False)
    assert not conn.canWrite
    assert not frame.flags.writeable
    with pytest.raises(ValueError):
        frame[0, 0, 0] = 1
    peer.resume()
    eventually(lambda: frame.flags.writeable, what="the engine lets go of the array")
    frame[0, 0, 0] = 1


def test_copy_false_needs_a_contiguous_array(closer):
    local, _ = linked(closer)
    with pytest.raises(ValueError):
        local.writeImg(smooth_image()[:, ::2], copy=False)
