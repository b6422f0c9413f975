"""A headless Chromium driven over the Chrome DevTools Protocol, for the
viewer's browser tests and its benchmark: Debian's /usr/bin/chromium,
started with a throwaway profile and a DevTools port the system chooses,
and one page target spoken to over a WebSocket (Debian's python3-websocket,
the websocket-client library).

    with Browser() as b:
        b.navigate("http://127.0.0.1:8000/")
        b.wait_for("document.title === 'socketengine'", "the page's title")
        b.screenshot("page.png")

Nothing here waits without a deadline: each wait raises BrowserError (an
AssertionError, so that pytest reports a failure) saying what it waited for
once its timeout passes. It needs no pytest and no socketengine module, so
that bench/viewer_bench.py can use it too.
"""

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import websocket  # Debian's python3-websocket (websocket-client)

CHROMIUM = "/usr/bin/chromium"

# How long something that should happen may take: generous, for loaded
# machines; only a failing wait waits this long.
PATIENCE = 10.0

# How often wait_for() asks the page again.
POLL_S = 0.05


def browser_env():
    """The environment without what the sanitizer presets load into the test
    interpreter: a sanitizer's runtime preloaded into Chromium (and its
    launcher script's shell) breaks it before it starts."""
    env = dict(os.environ)
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS"):
        env.pop(name, None)
    return env


class BrowserError(AssertionError):
    """A wait that timed out, a browser that would not start or went away,
    a command the browser refused, or JavaScript that threw."""


class Browser:
    """One headless Chromium process with one page. close() (or leaving a
    `with` block) ends the browser and removes its profile."""

    def __init__(self, width=1280, height=800, timeout=PATIENCE):
        if not os.access(CHROMIUM, os.X_OK):
            raise BrowserError("{} is not there: install Debian's chromium (scripts/setup.sh "
                               "does)".format(CHROMIUM))
        self._dir = tempfile.mkdtemp(prefix="socketengine-chromium-")
        self._profile = os.path.join(self._dir, "profile")
        self._log_path = os.path.join(self._dir, "chromium.log")
        self._ids = itertools.count(1)
        self._ws = None
        args = [CHROMIUM, "--headless=new", "--remote-debugging-port=0",
                "--user-data-dir=" + self._profile,
                "--window-size={},{}".format(width, height),
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync", "--mute-audio",
                # A headless page is never visible; without these its timers
                # and animation frames may be throttled as a hidden tab's.
                "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                "--disable-backgrounding-occluded-windows",
                "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium's sandbox refuses root
        with open(self._log_path, "wb") as log:
            # A session of its own, so that close() can end the browser and
            # every process it started (renderer, GPU, zygote) by its group.
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, env=browser_env())
        try:
            deadline = time.monotonic() + timeout
            port = self._devtools_port(deadline)
            self._ws = websocket.create_connection(
                self._page_target(port, deadline), timeout=max(deadline - time.monotonic(), 0.1),
                # Chromium refuses DevTools connections that carry an Origin
                # it was not told to allow (--remote-allow-origins).
                suppress_origin=True)
            # The window's size takes in room for browser chrome that a
            # headless window does not show: the page gets the whole size.
            self.command("Emulation.setDeviceMetricsOverride",
                         {"width": width, "height": height, "deviceScaleFactor": 1,
                          "mobile": False}, max(deadline - time.monotonic(), 1.0))
        except BaseException:
            self.close()
            raise

    # --- starting --------------------------------------------------------------

    def _log_tail(self, lines=20):
        try:
            with open(self._log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n--- chromium's output (last {} lines) ---\n{}".format(
            lines, "\n".join(text.splitlines()[-lines:]))

    def _fail(self, message):
        raise BrowserError(message + self._log_tail())

    def _devtools_port(self, deadline):
        """The DevTools port, from the DevToolsActivePort file Chromium writes
        into its profile once it listens (its first line)."""
        path = os.path.join(self._profile, "DevToolsActivePort")
        while True:
            try:
                with open(path) as f:
                    first = f.readline().strip()
                if first.isdigit():
                    return int(first)
            except FileNotFoundError:
                pass
            if self.proc.poll() is not None:
                self._fail("chromium exited with status {} before it listened for DevTools"
                           .format(self.proc.returncode))
            if time.monotonic() >= deadline:
                self._fail("waited for chromium's DevToolsActivePort in {}".format(self._profile))
            time.sleep(POLL_S)

    def _page_target(self, port, deadline):
        """The WebSocket address of the browser's page (about:blank)."""
        # Loopback only: no proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        url = "http://127.0.0.1:{}/json/list".format(port)
        last = None
        while True:
            try:
                with opener.open(url, timeout=max(deadline - time.monotonic(), 0.1)) as r:
                    targets = json.load(r)
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
                last = "no page among {}".format([t.get("type") for t in targets])
            except (OSError, ValueError) as e:
                last = repr(e)
            if time.monotonic() >= deadline:
                self._fail("waited for a page target at {} ({})".format(url, last))
            time.sleep(POLL_S)

    # --- the protocol ----------------------------------------------------------

    def command(self, method, params=None, timeout=PATIENCE):
        """Sends one DevTools command to the page and returns its result;
        events that come meanwhile are passed over."""
        if self._ws is None:
            raise BrowserError("the browser is closed ({})".format(method))
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self._fail("waited {} s for chromium to answer {}".format(timeout, method))
            self._ws.settimeout(left)
            try:
                raw = self._ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError) as e:
                self._fail("lost the DevTools connection awaiting {}: {!r}".format(method, e))
            message = json.loads(raw)
            if message.get("id") != msg_id:
                continue
            if "error" in message:
                raise BrowserError("chromium refused {}: {}".format(method, message["error"]))
            return message.get("result", {})

    def evaluate(self, js, timeout=PATIENCE):
        """The value of the JavaScript expression `js` in the page (a
        promise is awaited), as JSON comes back: None for undefined.
        Raises BrowserError if it throws."""
        result = self.command("Runtime.evaluate", {"expression": js, "returnByValue": True,
                                                   "awaitPromise": True}, timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            thrown = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError("{} threw: {}".format(_short(js), thrown))
        return result.get("result", {}).get("value")

    def wait_for(self, js_predicate, what, timeout=PATIENCE, show=None):
        """Evaluates `js_predicate` every POLL_S until it is truthy and
        returns that value. While it throws (the page is still loading, an
        element is not there yet) it counts as false. After `timeout`
        seconds raises BrowserError naming `what`, with the predicate's last
        value or exception and, if given, the value of the expression
        `show` (what the page shows instead)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                last = self.evaluate(js_predicate, timeout=max(deadline - time.monotonic(), 1.0))
                if last:
                    return last
            except BrowserError as e:
                last = e
                if self.proc.poll() is not None:
                    raise
            if time.monotonic() >= deadline:
                shown = ""
                if show is not None:
                    try:
                        shown = "\nthe page shows: {!r}".format(self.evaluate(show))
                    except BrowserError as e:
                        shown = "\nthe page shows: ({})".format(e)
                raise BrowserError("waited {} s for {}: last {!r}{}".format(
                    timeout, what, last, shown))
            time.sleep(POLL_S)

    # --- what tests use ----------------------------------------------------------

    def navigate(self, url, timeout=PATIENCE):
        """Loads `url` and waits until its document has loaded."""
        result = self.command("Page.navigate", {"url": url}, timeout)
        if result.get("errorText"):
            raise BrowserError("chromium could not load {}: {}".format(url, result["errorText"]))
        self.wait_for("document.readyState === 'complete' && location.href", "{} to load"
                      .format(url), timeout)

    def screenshot(self, path, timeout=PATIENCE):
        """Writes what the page shows as a PNG to `path`; returns `path`."""
        data = self.command("Page.captureScreenshot", {"format": "png"}, timeout)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        """Ends the browser and its processes, and removes its profile."""
        if self._ws is not None:
            try:
                self._ws.close(timeout=1)
            except (websocket.WebSocketException, OSError):
                pass
            self._ws = None
        if self.proc.poll() is None:
            # SIGTERM lets chromium shut its children down; SIGKILL if not.
            for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, PATIENCE)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # Renderers left behind once the browser has gone.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _short(js, limit=120):
    one_line = " ".join(js.split())
    return one_line if len(one_line) <= limit else one_line[:limit] + "..."


# --- the C++ peer's camera stamp --------------------------------------------------

# JavaScript defining window.socketengineReadStamp(canvas): the frame number
# that `cpp_peer camera` stamped into the frame drawn on `canvas` (see
# cpp_peer.cpp: 16 blocks of 40x40 along the top, bit 15 first, white for 1,
# and under them the same bits inverted), or null if the stamp cannot be
# read (a frame not from that camera, or one torn or smeared beyond reading).
# It reads the canvas through its 2D context, which it must already have (the
# viewer draws frames with one), at the canvas's scale against 640x480.
STAMP_READER_JS = r"""
window.socketengineReadStamp = function (canvas) {
  const ctx = canvas.getContext('2d');
  if (!ctx || !canvas.width || !canvas.height) return null;
  const sx = canvas.width / 640, sy = canvas.height / 480;
  const rows = Math.max(1, Math.ceil(80 * sy));
  const px = ctx.getImageData(0, 0, canvas.width, rows).data;
  // The mean brightness of a patch a third of a block wide at a block's centre.
  const level = (bx, by) => {
    const half = Math.max(1, Math.floor(40 * Math.min(sx, sy) / 6));
    const cx = Math.floor((bx * 40 + 20) * sx), cy = Math.floor((by * 40 + 20) * sy);
    let sum = 0, count = 0;
    for (let y = Math.max(0, cy - half); y < Math.min(rows, cy + half); ++y)
      for (let x = Math.max(0, cx - half); x < Math.min(canvas.width, cx + half); ++x) {
        const i = (y * canvas.width + x) * 4;
        sum += (px[i] + px[i + 1] + px[i + 2]) / 3;
        ++count;
      }
    return count ? sum / count : 128;
  };
  let n = 0;
  for (let b = 0; b < 16; ++b) {
    const bit = level(b, 0), inverted = level(b, 1);
    if (Math.abs(bit - inverted) < 96) return null;  // not black against white
    n = n * 2 + (bit > inverted ? 1 : 0);
  }
  return n;
};
true
"""
