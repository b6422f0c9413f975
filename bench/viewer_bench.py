#!/usr/bin/env python3
"""Glass-to-glass measurement of `socketengine view` in a real browser.

    /usr/bin/python3 bench/viewer_bench.py [--cli PATH] [--camera PATH]
                                           [--fps 30] [--seconds 15] [--stall 5]

from the repository root, after building the program and the C++ test peer
(cmake --preset release && cmake --build --preset release). Without --cli
and --camera it takes build/release's, else build/debug's. Needs Debian's
chromium and python3-websocket (scripts/setup.sh installs them); about
--seconds + 20 s.

A stamped camera (`socketengine_python_cpp_peer camera`, python/tests/
cpp_peer.cpp) dials the viewer's hub and sends 640x480 JPEG frames at --fps,
each carrying its frame number in black and white blocks and printing when
it was taken. Headless Chromium shows the viewer's page; a hook on the page
(window.socketengineViewer.onFrameDrawn) reads the frame number back from the
canvas each time a frame is drawn. So for each frame drawn:

    glass to glass = drawn (Date.now() after drawing) - taken (the camera's SENT)

which the viewer's received_ms splits into camera to viewer and viewer to
page. Reported: frames per second drawn over --seconds, the ages' p50, p90,
p99 and max, then a --stall s freeze of the page's main thread: the age of
the first frames drawn after it and how long until a frame under 1 s old is
drawn. A short table, and last one JSON line with the figures, for scripts.
This is a measurement, not a test: it fails only when it cannot measure.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python" / "tests"))

try:
    from browser import STAMP_READER_JS, Browser, BrowserError
except ImportError as e:
    sys.exit("viewer_bench.py: cannot import python/tests/browser.py ({}); run it with Debian's "
             "/usr/bin/python3, which has python3-websocket".format(e))

# No single wait may take longer: far more than any step needs, so hitting
# it means the run failed.
PATIENCE_S = 20.0
WARMUP_S = 2.0        # frames drawn before the measured window
AFTER_STALL_S = 3.0   # how long frames are recorded after the stall
FRESH_MS = 1000.0     # "back to fresh": a frame under this age


def fail(message):
    sys.exit("viewer_bench.py: " + message)


def program(given, relative, what, check):
    """`given`, or build/release's `relative`, else build/debug's: the first
    for which check(path) holds."""
    candidates = [Path(given)] if given else [REPO / "build" / b / relative
                                              for b in ("release", "debug")]
    for path in candidates:
        if os.access(path, os.X_OK) and check(path):
            return path
    fail("no {} in {}: build it, or name it (see --help)".format(
        what, " or ".join(str(c) for c in candidates)))


def has_view(path):
    return subprocess.run([str(path), "view", "--help"], capture_output=True,
                          timeout=PATIENCE_S).returncode == 0


def has_camera(path):
    usage = subprocess.run([str(path), "camera"], capture_output=True, text=True,
                           timeout=PATIENCE_S).stderr
    return "camera PORT FPS SECONDS" in usage


class Lines:
    """A process's stdout or stderr, read on a thread, with a bounded wait
    for the first line that matches."""

    def __init__(self, stream, on_line=None):
        self.lines = []
        self._cond = threading.Condition()
        self._on_line = on_line
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            line = line.rstrip("\n")
            if self._on_line:
                self._on_line(line)
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def match(self, pattern, what):
        found = []

        def seen():
            found[:] = [m for m in map(re.compile(pattern).match, self.lines) if m][:1]
            return bool(found)
        with self._cond:
            if not self._cond.wait_for(seen, PATIENCE_S):
                fail("waited {} s for {}; got:\n{}".format(PATIENCE_S, what,
                                                           "\n".join(self.lines[-20:])))
        return found[0].group(1)


def percentile(sorted_values, p):
    """Nearest rank: the smallest value with at least p% at or below it."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def spread(values):
    """How many, p50, p90, p99 and max of `values` (ms), to 0.1 ms."""
    v = sorted(values)
    out = {"n": len(v)}
    for key, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
        out[key] = round(percentile(v, p), 1) if v else None
    return out


# Records every frame of the camera the page draws, with the frame number
# read back from the canvas. If the page decodes frames with
# createImageBitmap, as the viewer's does, a wrapper notes when the decode of
# the frame drawn began, which splits the page's part in two: until then
# (the viewer encoding and sending it, the page receiving it and its decoder
# getting free) and from then on (decoding and drawing). Otherwise
# arrived_ms stays null.
RECORD_FRAMES = """(() => {
  window.benchFrames = [];
  let decoding = null;
  const decode = window.createImageBitmap.bind(window);
  window.createImageBitmap = function (...args) {
    const began = Date.now();
    return decode(...args).then(b => { decoding = began; return b; });
  };
  window.socketengineViewer.onFrameDrawn = function (peer, canvas, info) {
    if (peer !== 'camera') return;
    window.benchFrames.push({ stamp: socketengineReadStamp(canvas), seq: info.seq,
                              received_ms: info.received_ms, drawn_ms: info.drawn_ms,
                              arrived_ms: decoding, width: info.width, height: info.height });
    decoding = null;
  };
  return true;
})()"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli", help="the socketengine program (default: build/release's, else "
                                  "build/debug's cli/socketengine)")
    ap.add_argument("--camera", help="the C++ test peer (default: build/release's, else "
                                     "build/debug's python/tests/socketengine_python_cpp_peer)")
    ap.add_argument("--fps", type=int, default=30, help="the camera's frames per second")
    ap.add_argument("--seconds", type=float, default=15.0, help="the measured window")
    ap.add_argument("--stall", type=float, default=5.0, help="how long the page is frozen")
    args = ap.parse_args()

    cli = program(args.cli, "cli/socketengine", "socketengine program with `view`", has_view)
    camera_path = program(args.camera, "python/tests/socketengine_python_cpp_peer",
                          "C++ test peer with the camera mode", has_camera)

    sent = {}  # frame number -> epoch ms it was taken

    def on_camera_line(line):
        parts = line.split()
        if len(parts) == 3 and parts[0] == "SENT":
            sent[int(parts[1])] = float(parts[2])

    viewer = camera = None
    browser = None
    try:
        viewer = subprocess.Popen([str(cli), "view", "--port", "0", "--listen", "0"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        viewer_err = Lines(viewer.stderr)
        url = viewer_err.match(r"viewer on (http://\S+)", "the viewer's address")
        hub_port = viewer_err.match(r"listening on port (\d+)", "the viewer's hub port")

        browser = Browser()
        browser.navigate(url)
        browser.wait_for("window.socketengineViewer && window.socketengineViewer.connected",
                         "the page's WebSocket to the viewer", PATIENCE_S)
        browser.evaluate(STAMP_READER_JS)
        browser.evaluate(RECORD_FRAMES)

        camera_s = int(WARMUP_S + args.seconds + args.stall + AFTER_STALL_S + PATIENCE_S)
        camera = subprocess.Popen([str(camera_path), "camera", hub_port, str(args.fps),
                                   str(camera_s)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        camera_out = Lines(camera.stdout, on_camera_line)
        Lines(camera.stderr)
        camera_out.match(r"(CONNECTED)", "the camera to connect")
        browser.wait_for("window.benchFrames.length > 0", "a first frame drawn", PATIENCE_S)

        # The steady state: frames drawn over the window, by their camera's stamp.
        time.sleep(WARMUP_S)
        first = browser.evaluate("window.benchFrames.length")
        start = time.time() * 1000
        time.sleep(args.seconds)
        frames = browser.evaluate("window.benchFrames.slice({})".format(first))
        end = time.time() * 1000
        window_s = (end - start) / 1000
        taken_in_window = sum(1 for t in list(sent.values()) if start <= t < end)

        # The stall: the page's main thread busy, frames still coming.
        stall = browser.evaluate("""(() => {
            const start = Date.now();
            while (Date.now() - start < %d) {}
            return { start: start, end: Date.now(), drawn: window.benchFrames.length };
          })()""" % (args.stall * 1000), timeout=args.stall + PATIENCE_S)
        time.sleep(AFTER_STALL_S)
        after = browser.evaluate("window.benchFrames.slice({})".format(stall["drawn"]))
        before = browser.evaluate("window.benchFrames[{}]".format(stall["drawn"] - 1))
    except BrowserError as e:
        fail(str(e))
    finally:
        for p in (camera, viewer):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(PATIENCE_S)
        if browser is not None:
            browser.close()

    def glass(f):
        return f["drawn_ms"] - sent[f["stamp"]] if f["stamp"] in sent else None

    read = [f for f in frames if f["stamp"] in sent]
    g2g = spread([glass(f) for f in read])
    to_viewer = spread([f["received_ms"] - sent[f["stamp"]] for f in read])
    to_page = spread([f["drawn_ms"] - f["received_ms"] for f in read])
    split = [f for f in read if f["arrived_ms"] is not None]
    to_arrival = spread([f["arrived_ms"] - f["received_ms"] for f in split])
    in_page = spread([f["drawn_ms"] - f["arrived_ms"] for f in split])
    sizes = sorted({"{}x{}".format(f["width"], f["height"]) for f in frames})

    after_read = [f for f in after if f["stamp"] in sent]
    first_ages = [round(glass(f)) for f in after_read[:5]]
    fresh = next((f for f in after_read if glass(f) < FRESH_MS), None)
    recovery_ms = fresh["drawn_ms"] - stall["end"] if fresh else None
    # Frames of the stall never drawn: between the fresh frame's and the one
    # drawn just before it.
    drawn = [before] + after if before else after
    at = next((i for i, f in enumerate(drawn) if f is fresh), None)
    skipped = (fresh["stamp"] - drawn[at - 1]["stamp"] - 1
               if at and drawn[at - 1]["stamp"] is not None else None)

    results = {
        "cli": str(cli), "fps_sent": args.fps, "window_s": round(window_s, 2),
        "frames_taken": taken_in_window, "frames_drawn": len(frames),
        "fps_drawn": round(len(frames) / window_s, 1),
        "unreadable_stamps": len(frames) - len(read), "frame_sizes": sizes,
        "glass_to_glass_ms": g2g, "camera_to_viewer_ms": to_viewer,
        "viewer_to_page_ms": to_page, "viewer_to_page_decoder_ms": to_arrival,
        "page_decode_and_draw_ms": in_page,
        "stall_s": args.stall, "first_ages_after_stall_ms": first_ages,
        "frames_skipped_over_stall": skipped,
        "ms_until_fresh_after_stall": round(recovery_ms) if recovery_ms is not None else None,
    }

    build = next((b for b in ("release", "debug") if "/{}/".format(b) in str(cli)), "build?")
    print("socketengine view, {} ({}), {} cores, load {:.2f}; camera {} fps for {:.0f} s".format(
        cli, build, os.cpu_count(), os.getloadavg()[0], args.fps, window_s))
    print("{:<28}{:>9}{:>9}{:>9}{:>9}".format("ms", "p50", "p90", "p99", "max"))
    for label, s in (("glass to glass", g2g), ("  camera to viewer's hub", to_viewer),
                     ("  viewer's hub to drawn", to_page),
                     ("    to the page's decoder", to_arrival), ("    decoded and drawn", in_page)):
        print("{:<28}{}".format(label, "".join(
            "{:>9.1f}".format(s[k]) if s[k] is not None else "{:>9}".format("-")
            for k in ("p50", "p90", "p99", "max"))))
    print("frames drawn per second      {:.1f} of {:.1f} taken ({} drawn, {} unreadable, {})"
          .format(len(frames) / window_s, taken_in_window / window_s, len(frames),
                  len(frames) - len(read), ", ".join(sizes) or "no frames"))
    print("after a {:.0f} s stall          first ages {} ms, {} frames passed over, "
          "fresh (< {:.0f} ms) after {}".format(
              args.stall, first_ages, skipped, FRESH_MS,
              "{} ms".format(results["ms_until_fresh_after_stall"]) if fresh else
              "never (within {} s)".format(AFTER_STALL_S)))
    print(json.dumps(results))
    if not read:
        fail("no frame drawn with a readable stamp: nothing measured")


if __name__ == "__main__":
    main()
