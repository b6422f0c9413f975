"""The seed README's Python examples, copied verbatim apart from ports and a
bounded wait (see seed_examples/), run and print what they should.

Each pair runs as two processes, as on two computers: the interpreter
running this test, with the environment (PYTHONPATH included) passed
through, a free port in SEED_EXAMPLE_PORT and a bound on the examples' own
waits in SEED_EXAMPLE_WAIT.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent / "seed_examples"

# How long an example waits for its peer's value (the examples' deadline),
# and how long a pair may take in all (the processes are killed then). The
# first is shorter, so that a lost value shows as wrong output, not a kill.
EXAMPLE_WAIT_S = 10
PAIR_TIMEOUT_S = 20

# The seed README's code, verbatim (tabs included), to check that the
# examples are still the seed's programs.
SEED = {
    "hub_computer1.py": (
        "# Computer 1:\n"
        "from socketengine import hub\n"
        "\n"
        "h = hub(port=8080)\n"
        "\n"
        "while h.connections == []:\n"
        "\tpass\n"
        "\n"
        'h.write_all("test", "hubs are connected")\n'
        "h.close()\n"
    ),
    "hub_computer2.py": (
        "# Computer 2:\n"
        "from socketengine import hub\n"
        "\n"
        "h = hub()\n"
        "\n"
        "h.connect('hello!', '127.0.0.1', 8080)\n"
        "\n"
        "print(h.get_all('test'))\n"
        "\n"
        "h.close()\n"
    ),
    "host.py": (
        "from socketengine import host\n"
        "\n"
        "h = host()\n"
        "h.start()\n"
        "\n"
        "while True:\n"
        '\tdata = h.get_ALL("test")\n'
        "\n"
        "\tif data is not None:\n"
        "\t\tfor item in data:\n"
        "\t\t\tprint(item)\n"
        "\t\t\tbreak\n"
        "\n"
        "h.close()\n"
    ),
    "client.py": (
        "from socketengine import client\n"
        "\n"
        "c = client()\n"
        "c.start()\n"
        "\n"
        'c.write("test", "client is connected!")\n'
        "\n"
        "c.close()\n"
    ),
}

# The changes each example's header comment documents, as (seed text,
# example text); each must occur exactly once. The port: 8080 (explicit or
# the default) becomes PORT. The waits: see the examples' comments.
CHANGES = {
    "hub_computer1.py": [("hub(port=8080)", "hub(port=PORT)")],
    "hub_computer2.py": [
        ("'127.0.0.1', 8080)", "'127.0.0.1', PORT)"),
        ("\nprint(h.get_all('test'))\n",
         "\nwhile h.get_all('test') == [] and time.monotonic() < deadline:\n"
         "\tpass\n"
         "print(h.get_all('test'))\n"),
    ],
    "host.py": [
        ("host()", "host(port=PORT)"),
        ("while True:", "while not printed and time.monotonic() < deadline:"),
        ("\t\t\tprint(item)\n", "\t\t\tprint(item)\n\t\t\tprinted = True\n"),
        ("h.close()\n",
         "h.close()\n"
         'if not printed: raise SystemExit("host: nothing arrived on \\"test\\" in time")\n'),
    ],
    "client.py": [("client()", "client(port=PORT)")],
}


def free_port():
    """A TCP port nobody listens on now (the system's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(example, port):
    env = dict(os.environ)
    env["SEED_EXAMPLE_PORT"] = str(port)
    env["SEED_EXAMPLE_WAIT"] = str(EXAMPLE_WAIT_S)
    return subprocess.Popen([sys.executable, str(EXAMPLES / example)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_pair(first, second):
    """Starts `first`, then `second`, on one free port; returns each one's
    (exit status, stdout, stderr). Both are killed if the pair takes longer
    than PAIR_TIMEOUT_S."""
    port = free_port()
    deadline = time.monotonic() + PAIR_TIMEOUT_S
    procs = [start(first, port), start(second, port)]
    results = []
    try:
        for name, p in zip((first, second), procs):
            try:
                out, err = p.communicate(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                outs = [q.communicate() for q in procs]
                pytest.fail("{} and {} did not finish within {} s; {} printed {!r}, stderr {!r}"
                            .format(first, second, PAIR_TIMEOUT_S, name,
                                    *outs[procs.index(p)]))
            results.append((p.returncode, out, err))
    finally:
        for q in procs:
            if q.poll() is None:
                q.kill()
                q.communicate()
    return results


def check(result, name, expected_stdout):
    status, out, err = result
    assert (status, out, err) == (0, expected_stdout, ""), \
        "{}: exit status {}, stdout {!r}, stderr:\n{}".format(name, status, out, err)


@pytest.mark.parametrize("example", sorted(SEED))
def test_example_is_the_seed_code_with_the_documented_changes(example):
    text = (EXAMPLES / example).read_text()
    header, sep, body = text.partition(SEED[example].splitlines(keepends=True)[0])
    assert sep, example + " no longer contains the seed's first line"
    # The header is comments and the lines that set PORT (and the deadline).
    for line in header.splitlines():
        assert line == "" or line.startswith("#") or line.startswith(
            ("import os; PORT = ", "import time; deadline = ", "printed = False")), line
    expected = SEED[example]
    for old, new in CHANGES[example]:
        assert expected.count(old) == 1, (example, old)
        expected = expected.replace(old, new)
    assert sep + body == expected


# Each pair: the listening program and what it prints, then the dialling one
# and what it prints. Computer 1 and the client close right after writing:
# the value must still arrive (close() flushes; closed clients keep their
# last values), so the other side prints it, once.
PAIRS = {
    "hub": (("hub_computer1.py", ""), ("hub_computer2.py", "['hubs are connected']\n")),
    "host_client": (("host.py", "client is connected!\n"), ("client.py", "")),
}


# The listener first, as the README tells it; and the dialer first, which
# retries while refused (as the seed's connect did) until the listener is up.
@pytest.mark.parametrize("dialer_first", [False, True], ids=["listener_first", "dialer_first"])
@pytest.mark.parametrize("pair", PAIRS)
def test_each_example_prints_what_the_readme_says(pair, dialer_first):
    programs = list(PAIRS[pair])
    if dialer_first:
        programs.reverse()
    results = run_pair(*(name for name, _ in programs))
    for (name, expected), result in zip(programs, results):
        check(result, name, expected)
