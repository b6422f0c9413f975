"""Values: what a write takes, what a read gives back (the exact Python
types), and what a write refuses."""

import queue

import pytest

from conftest import eventually

# Value -> what the peer reads back. Strings keep their newlines: the engine
# escapes them in JSON where the 0.3 hubs stripped them (docs/legacy-protocol.md).
ROUND_TRIPS = {
    "empty str": ("", ""),
    "ascii": ("hello", "hello"),
    "non-ascii": ("café ünïcödé", "café ünïcödé"),
    "cjk": ("日本語", "日本語"),
    "emoji": ("🤖👍🏽", "🤖👍🏽"),
    "newlines kept": ("line 1\nline 2\r\n", "line 1\nline 2\r\n"),
    "quotes, backslash, tab, nul": ('say "hi" \\ \t \x00', 'say "hi" \\ \t \x00'),
    "zero": (0, 0),
    "negative": (-42, -42),
    "int64 max": (2**63 - 1, 2**63 - 1),
    "int64 min": (-2**63, -2**63),
    "uint64 max": (2**64 - 1, 2**64 - 1),
    "float": (3.25, 3.25),
    "integral float stays float": (2.0, 2.0),
    "negative zero": (-0.0, -0.0),
    "tiny float": (-5e-324, -5e-324),
    "huge float": (1.7976931348623157e308, 1.7976931348623157e308),
    "float needing 17 digits": (0.1 + 0.2, 0.1 + 0.2),
    "true": (True, True),
    "false": (False, False),
    "none": (None, None),
    "empty list": ([], []),
    "list": ([1, "two", 3.0, None, True], [1, "two", 3.0, None, True]),
    "tuple comes back a list": ((1, "two", (3, 4)), [1, "two", [3, 4]]),
    "empty dict": ({}, {}),
    "nested dict": ({"a": {"b": [1, {"c": None, "d": False}]}, "é": "ü"},
                    {"a": {"b": [1, {"c": None, "d": False}]}, "é": "ü"}),
    # Keys become strings as json.dumps writes them.
    "non-str keys": ({1: "a", 2.5: "b", False: "c", None: "d", -7: "e"},
                     {"1": "a", "2.5": "b", "false": "c", "null": "d", "-7": "e"}),
    "large str": ("x" * (1 << 20), "x" * (1 << 20)),
    "long list": (list(range(10000)), list(range(10000))),
}


def assert_same(got, expected):
    """Equal, and of exactly the same types all the way down (True is not 1,
    2.0 is not 2)."""
    assert type(got) is type(expected), "{!r} is {}, not {}".format(
        got, type(got).__name__, type(expected).__name__)
    if isinstance(expected, list):
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            assert_same(g, e)
    elif isinstance(expected, dict):
        # JSON objects are unordered; the engine gives keys back sorted.
        assert got.keys() == expected.keys()
        for key in expected:
            assert_same(got[key], expected[key])
    elif isinstance(expected, float):
        assert repr(got) == repr(expected)  # tells -0.0 from 0.0
    else:
        assert got == expected


@pytest.mark.parametrize("value, expected", ROUND_TRIPS.values(), ids=list(ROUND_TRIPS))
def test_value_round_trips_between_hubs(hubs, value, expected):
    hubs.local.write("v", value)
    # hub.wait_for gives a list, so that a None value is told from no value.
    [got] = hubs.listener.wait_for("v", 5)
    assert_same(got, expected)
    assert_same(hubs.remote.get("v"), expected)


def test_value_round_trips_between_host_and_client(pair):
    value = {"n": [1, 2.0, True, None, "é\n"], "t": (1,), 3: -2**63}
    expected = {"n": [1, 2.0, True, None, "é\n"], "t": [1], "3": -2**63}
    pair.client.write("v", value)
    [got] = pair.host.wait_for("v", 5)
    assert_same(got, expected)
    pair.host.write_ALL("v", value)
    eventually(lambda: pair.client.get("v") is not None)
    assert_same(pair.client.get("v"), expected)


def test_callbacks_get_exact_types(hubs):
    got = queue.Queue()
    hubs.listener.on("v", got.put)
    hubs.local.write("v", {"b": True, "i": 1, "f": 1.0, "n": None, "l": (1,)})
    assert_same(got.get(timeout=5), {"b": True, "i": 1, "f": 1.0, "n": None, "l": [1]})


@pytest.mark.parametrize("channel", ["café", "with space", "🤖", "a/b.c", "new\nline", ""])
def test_any_channel_name(hubs, channel):
    hubs.local.write(channel, channel)
    assert hubs.remote.wait_for(channel, 5) == channel


def circular_list():
    a = [1]
    a.append(a)
    return a


def circular_dict():
    d = {}
    d["self"] = {"again": d}
    return d


# Value -> the error json.dumps (TypeError, ValueError for circular values) or
# the 64-bit range of JSON peers (ValueError) calls for.
REFUSED = {
    "object": (object(), TypeError),
    "set": ({1, 2}, TypeError),
    "bytes": (b"bytes", TypeError),
    "nested unserialisable": ({"ok": [1, object()]}, TypeError),
    "tuple key": ({(1, 2): "tuple key"}, TypeError),
    "2**64": (2**64, ValueError),
    "-2**63 - 1": (-2**63 - 1, ValueError),
    "10**30 inside a list": ([10**30], ValueError),
    "circular list": (circular_list(), ValueError),
    "circular dict": (circular_dict(), ValueError),
}


@pytest.mark.parametrize("value, error", REFUSED.values(), ids=list(REFUSED))
def test_a_value_json_cannot_carry_raises_and_sends_nothing(hubs, value, error):
    with pytest.raises(error):
        hubs.local.write("bad", value)
    with pytest.raises(error):
        hubs.dialler.write_all("bad", value)
    # Nothing went out and the connection goes on: a later value arrives,
    # and nothing ever arrived on "bad".
    hubs.local.write("after", 1)
    assert hubs.remote.wait_for("after", 5) == 1
    assert hubs.remote.get("bad") is None
    assert hubs.local.opened and hubs.remote.opened
