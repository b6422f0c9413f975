"""`socketengine discover`, `listen --hub-name` and dialling @NAME across two
network namespaces (see netns.py)."""

import json
import os
import subprocess

from cli_support import Background, cli_path
from netns import net  # noqa: F401 (a fixture)
from peers import PATIENCE, eventually


class NsCli(Background):
    """The socketengine program running in the background in namespace `ns`."""

    def __init__(self, ns, *args, env=None):
        prefix = ["ip", "netns", "exec", ns]
        if env:
            prefix += ["env"] + ["{}={}".format(k, v) for k, v in env.items()]
        super().__init__(prefix + [cli_path(), *args])

    def port(self):
        with self._cond:
            assert self._cond.wait_for(
                lambda: any(l.startswith("listening on port") for l in self.err), PATIENCE), \
                self.describe()


def cli_in(ns, *args, env=None):
    """Runs the program in `ns` to its end: (status, stdout, stderr)."""
    prefix = ["ip", "netns", "exec", ns, "env"]
    prefix += ["{}={}".format(k, v) for k, v in (env or {}).items()]
    full = dict(os.environ)
    full.pop("LD_PRELOAD", None)  # the program carries its own sanitizer runtime, if any
    done = subprocess.run(prefix + [cli_path(), *args], capture_output=True, text=True,
                          timeout=PATIENCE, env=full)
    return done.returncode, done.stdout, done.stderr


def test_cli_discover_lists_a_listening_hub_and_send_dials_it_by_name(net):
    a, b = net
    listener = NsCli(b, "listen", "-p", "0", "--hub-name", "cli-bot", "-n", "1")
    hidden = NsCli(b, "listen", "-p", "0", "--hub-name", "hidden",
                   env={"SOCKETENGINE_DISCOVERY": "off"})
    try:
        listener.port()
        hidden.port()
        lines = []

        def listed():
            status, out, err = cli_in(a, "discover", "--json", "-W", "0.8")
            lines[:] = [json.loads(l) for l in out.splitlines()]
            return status == 0 and any(h["name"] == "cli-bot" for h in lines)
        eventually(listed, "cli-bot in `socketengine discover`")
        assert [h["name"] for h in lines] == ["cli-bot"]  # not the hub with discovery off
        assert lines[0]["addresses"] == ["10.202.1.2"]

        status, out, err = cli_in(a, "discover", "-W", "0.5", "--hub", "hidden")
        assert status == 3 and "no hub named \"hidden\"" in err, err

        # Where multicast does not go: the peer listed in the environment.
        def found_through_the_peer():
            status, out, err = cli_in(a, "discover", "--no-multicast", "-W", "0.8",
                                      env={"SOCKETENGINE_PEERS": "10.202.1.2"})
            return status == 0 and out.startswith("cli-bot  10.202.1.2:")
        eventually(found_through_the_peer, "cli-bot through SOCKETENGINE_PEERS")
        status, out, err = cli_in(a, "discover", "--no-multicast", "-W", "0.3")
        assert status == 3, (status, out, err)

        status, out, err = cli_in(a, "send", "@cli-bot", "greeting", "hi")
        assert status == 0, err
        assert listener.finish() == 0
        assert listener.out == ['cli-bot greeting "hi"'], listener.describe()
    finally:
        listener.stop()
        hidden.stop()


def test_cli_discover_says_what_is_wrong(net):
    a, _ = net
    status, _, err = cli_in(a, "discover", "-i", "no-such-interface", "-W", "0.1")
    assert status == 2 and "interfaces named" in err, err
    status, _, err = cli_in(a, "send", "@nobody", "x", "1", "--connect-timeout", "0.3")
    assert status == 1 and "no hub of that name answered" in err, err
