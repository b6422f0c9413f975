"""LAN discovery from Python across two network namespaces (see netns.py):
a named hub is found with its address on the network asked from, and
dialled by name; a hub with discovery off is not."""

import pytest

import socketengine
from netns import inside, net  # noqa: F401 (net is a fixture)
from peers import PATIENCE, eventually
from socketengine import hub


def found_from(ns, hub_id, **kwargs):
    """discover() from `ns`, asked again until the hub `hub_id` answers."""
    answers = []

    def ask():
        with inside(ns):
            answers[:] = socketengine.discover(0.8, **kwargs)
        return any(h["id"] == hub_id for h in answers)
    eventually(ask, "an answer from hub " + hub_id)
    return answers


def test_a_python_hub_is_found_and_dialled_by_name(net):
    a, b = net
    with inside(b):
        bot = hub(0, name="py-bot")
        quiet = hub(0, name="py-quiet", discovery=False)
    try:
        assert bot.discoverable and bot.name == "py-bot" and len(bot.id) == 32
        assert not quiet.discoverable
        answers = found_from(a, bot.id)
        assert [h["name"] for h in answers] == ["py-bot"]  # not py-quiet
        seen = answers[0]
        assert seen["addresses"] == ["10.202.1.2"]
        assert seen["port"] == bot.port
        assert seen["protocol"] == 1 and not seen["tls"] and not seen["token"]

        with inside(a):
            asker = hub(0)
            asker.connect_by_name("py-bot", timeout=PATIENCE)
        try:
            asker.write_all("ping", {"n": 1})
            assert bot.wait_for("ping", PATIENCE) == [{"n": 1}]
            with inside(a), pytest.raises(RuntimeError, match="py-quiet"):
                asker.connect_by_name("py-quiet", timeout=0.5)
        finally:
            asker.close()
    finally:
        bot.close()
        quiet.close()


def test_a_bad_name_is_refused():
    with pytest.raises(ValueError):
        hub(0, name="x" * 256)
    with pytest.raises(ValueError):
        socketengine.discover(0.01, peers=["host:notaport"], multicast=False)
