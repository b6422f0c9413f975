"""Running the `socketengine` program from a test: to its end, or in the
background with its output read as it comes. The program is found through
SOCKETENGINE_CLI (ctest sets it). Every wait has a deadline.
"""

import os
import re
import subprocess
import threading

import pytest

from peers import PATIENCE

def cli_path():
    path = os.environ.get("SOCKETENGINE_CLI")
    if not path or not os.access(path, os.X_OK):
        pytest.fail("SOCKETENGINE_CLI is not set to the socketengine program: run the tests "
                    "through ctest, or set it to <build>/cli/socketengine")
    return path


def cli_env():
    env = dict(os.environ)
    # The program carries its own sanitizer runtime, if any; the one
    # preloaded for the interpreter is not for it.
    env.pop("LD_PRELOAD", None)
    return env


def run(*args, timeout=PATIENCE):
    """Runs the program to its end; returns (status, stdout, stderr)."""
    p = subprocess.run([cli_path(), *args], capture_output=True, text=True, timeout=timeout,
                       env=cli_env())
    return p.returncode, p.stdout, p.stderr


class Background:
    """A process running in the background, its stdout and stderr read line
    by line as they come (stdout through took_out(), which subclasses may
    parse), under a condition that waits can use."""

    def __init__(self, args, stdin=False):
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE if stdin else None,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=cli_env())
        self.out, self.err = [], []
        self._cond = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(s, take), daemon=True)
                         for s, take in ((self.proc.stdout, self.took_out),
                                         (self.proc.stderr, self.err.append))]
        for r in self._readers:
            r.start()

    def took_out(self, line):
        self.out.append(line)

    def _read(self, stream, take):
        for line in stream:
            with self._cond:
                take(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:  # the end of its output: waits see that it ended
            self._cond.notify_all()

    def describe(self):
        return "stdout: {}\nstderr: {}".format(self.out, self.err)

    def finish(self, timeout=PATIENCE):
        """The exit status, once it has ended by itself."""
        try:
            status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail("still running after {} s\n{}".format(timeout, self.describe()))
        for r in self._readers:
            r.join(PATIENCE)
        return status

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(PATIENCE)


class Cli(Background):
    """The program running in the background."""

    def __init__(self, *args):
        super().__init__([cli_path(), *args])

    def wait_for(self, predicate, what, timeout=PATIENCE):
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                pytest.fail("waited {} s for {}\n{}".format(timeout, what, self.describe()))

    def announced(self, pattern, what):
        """The first group of the first stderr line that matches `pattern`,
        once it has come."""
        found = []

        def seen():
            for line in self.err:
                m = re.match(pattern, line)
                if m:
                    found.append(m.group(1))
                    return True
            return False
        self.wait_for(seen, what)
        return found[0]

    def port(self):
        """The port it announced on stderr ("listening on port N")."""
        return int(self.announced(r"listening on port (\d+)", "the port on stderr"))


def started(make):
    """Yields start(*args), which makes a process with make(*args); each
    made is stopped at teardown."""
    started = []

    def start(*args):
        started.append(make(*args))
        return started[-1]
    yield start
    for p in started:
        p.stop()
