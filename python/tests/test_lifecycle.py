"""Lifecycle: programs that never call close() still end at once, Ctrl-C
interrupts every blocking call, callback errors are printed without stopping
delivery, and waits let other Python threads run."""

import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import LOCALHOST, child_env
from socketengine import client

# Run in every child before its script.
PRELUDE = '''
import sys, threading, time

def ready_when_inside(function_name):
    """Prints "ready" once the main thread is inside `function_name`, so the
    parent signals a call that is blocked, not one about to start."""
    main = threading.main_thread().ident

    def watch():
        while True:
            frame = sys._current_frames().get(main)
            while frame is not None:
                if frame.f_code.co_name == function_name:
                    print("ready", flush=True)
                    return
                frame = frame.f_back
            time.sleep(0.005)

    threading.Thread(target=watch, daemon=True).start()
'''


class Child:
    """A Python child process running ``script``. Its output is read on
    threads, so that every wait here has a deadline."""

    def __init__(self, script):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PRELUDE + textwrap.dedent(script)], env=child_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.err = []
        self.readers = [threading.Thread(target=self._read_stdout, daemon=True),
                        threading.Thread(target=self._read_stderr, daemon=True)]
        for r in self.readers:
            r.start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # end of output

    def _read_stderr(self):
        self.err.append(self.proc.stderr.read())

    def expect(self, line, timeout=10):
        """Waits for ``line`` on stdout; returns the time it was read."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = self.lines.get(timeout=max(0, deadline - time.monotonic()))
            except queue.Empty:
                got = None
            if got == line:
                return time.monotonic()
            if got is None:
                self.kill()
                raise AssertionError("child never printed {!r}; stderr:\n{}".format(
                    line, "".join(self.err)))

    def finish(self, timeout=10):
        """Waits for the child to end; returns (exit status, stderr)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("child still running after {} s; stderr:\n{}".format(
                timeout, "".join(self.err)))
        for r in self.readers:
            r.join(10)
        return self.proc.returncode, "".join(self.err)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for r in self.readers:
            r.join(10)


@pytest.fixture
def run():
    """``run(script)`` starts a child; any still running at teardown is killed."""
    children = []

    def start(script):
        children.append(Child(script))
        return children[-1]

    yield start
    for c in children:
        c.kill()


# --- exiting without close() ----------------------------------------------------------

# Each leaves engines open, with traffic and callbacks, and ends.
UNCLOSED = {
    "hubs": '''
        from socketengine import hub
        a, b = hub(port=0), hub(port=0)
        a.connect("alpha", "127.0.0.1", b.port).write_all("x", 1)
        a.on("y", [].append)
        b.wait_for("x", 5)
        b.write_all("y", 2)
    ''',
    "host and client": '''
        from socketengine import client, host
        h = host(port=0).start()
        c = client(port=h.port)
        c.on("y", [].append)
        c.write("x", 1)
        h.wait_for("x", 5)
        h.write_ALL("y", 2)
    ''',
    "stand-alone connection": '''
        from socketengine import connection, hub
        h = hub(port=0)
        c = connection("cam")
        c.connect("cam", "127.0.0.1", h.port)
        c.write("x", 1)
        h.wait_for("x", 5)
    ''',
}


@pytest.mark.parametrize("script", UNCLOSED.values(), ids=list(UNCLOSED))
def test_program_that_never_closes_ends_within_a_second(run, script):
    child = run(textwrap.dedent(script) + 'print("last line", flush=True)\n')
    last_line = child.expect("last line")
    status, err = child.finish()
    assert time.monotonic() - last_line < 1.0
    assert status == 0, err
    assert "Traceback" not in err, err


def test_exception_in_a_callback_is_printed_and_delivery_goes_on(run):
    child = run('''
        from socketengine import hub
        a, b = hub(port=0), hub(port=0)
        a.connect("alpha", "127.0.0.1", b.port)

        done = threading.Event()

        def callback(value):
            if value == 1:
                raise ValueError("boom in callback")
            print("got", value, flush=True)
            done.set()

        b.on("n", callback)
        a.write_all("n", 1)
        a.write_all("n", 2)
        done.wait(10)
    ''')
    child.expect("got 2")
    status, err = child.finish()
    assert status == 0
    assert "Exception ignored" in err and "ValueError: boom in callback" in err, err


# --- Ctrl-C ------------------------------------------------------------------------------

# The call blocked forever (no timeout), and the function the traceback names.
BLOCKING = {
    "hub.connect to a port nobody listens on": ('''
        from socketengine import hub
        h = hub(port=0)
        ready_when_inside("connect")
        h.connect("nobody", "127.0.0.1", {port})
    ''', "connect"),
    "connection.wait_for a value that never comes": ('''
        from socketengine import hub
        a, b = hub(port=0), hub(port=0)
        a.connect("alpha", "127.0.0.1", b.port)
        ready_when_inside("wait_for")
        a.connections[0].wait_for("never")
    ''', "wait_for"),
    "hub.wait_for a value that never comes": ('''
        from socketengine import hub
        h = hub(port=0)
        ready_when_inside("wait_for")
        h.wait_for("never")
    ''', "wait_for"),
    "client opening to a port nobody listens on": ('''
        from socketengine import client
        ready_when_inside("open")
        client(port={port})
    ''', "open"),
}


@pytest.mark.parametrize("script, function", BLOCKING.values(), ids=list(BLOCKING))
def test_ctrl_c_interrupts_a_blocking_call(run, refused_port, script, function):
    child = run(script.format(port=refused_port))
    child.expect("ready")
    signalled = time.monotonic()
    child.proc.send_signal(signal.SIGINT)
    status, err = child.finish()
    assert time.monotonic() - signalled < 2
    assert err.rstrip().endswith("KeyboardInterrupt"), err
    assert "in " + function in err, err  # raised from inside the blocked call
    assert status == -signal.SIGINT


# --- the GIL -----------------------------------------------------------------------------


def connection_wait_for(hubs, refused_port):
    assert hubs.remote.wait_for("never", 1) is None


def connection_wait_for_next(hubs, refused_port):
    assert hubs.remote.wait_for_next("never", 1) is None


def hub_wait_for(hubs, refused_port):
    assert hubs.listener.wait_for("never", 1) == []


def hub_connect(hubs, refused_port):
    with pytest.raises(RuntimeError):
        hubs.dialler.connect("nobody", LOCALHOST, refused_port, timeout=1)


def client_open(hubs, refused_port):
    c = client(port=refused_port, open=False)
    try:
        with pytest.raises(RuntimeError):
            c.open(timeout=1)
    finally:
        c.close()


@pytest.mark.parametrize("blocking_call", [connection_wait_for, connection_wait_for_next,
                                           hub_wait_for, hub_connect, client_open])
def test_blocking_calls_let_other_threads_run(hubs, refused_port, blocking_call):
    # A thread counts. If the call held the GIL, the thread would stand still
    # for the whole second the call blocks. (How long its pauses are is up to
    # the scheduler of a loaded machine, so only progress is checked.)
    progress = {"count": 0}
    stop = threading.Event()

    def count():
        while not stop.is_set():
            progress["count"] += 1

    counter = threading.Thread(target=count)
    counter.start()
    try:
        before = progress["count"]
        start = time.monotonic()
        blocking_call(hubs, refused_port)
        assert time.monotonic() - start >= 1
        during = progress["count"] - before
    finally:
        stop.set()
        counter.join(5)
    assert during > 1000
