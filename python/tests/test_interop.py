"""A Python hub and the published Node.js socket.engine 0.3.0 hub, driven
through tests/interop/node_hub.js: dialling each other, values both ways,
names, closing from either side, and images both ways.

What the Node hub can and cannot do shapes these tests:
- its connection.write calls data.replace, so it sends strings only (other
  values reach Node from Python, but not back);
- it re-reads its whole receive buffer on every socket read, so it reports
  (GOT) earlier messages again; expect() takes the first match, so tests
  look for values that cannot be confused with earlier ones;
- it acknowledges each image but fails to keep it (its hub.js imports
  `decomeImg`), so an image's arrival in Node shows only as its __ack.
"""

import base64
from typing import NamedTuple

import pytest

from peers import (HUB_IMAGE, KINDS, PATIENCE, ImageLog, PeerProcess, accepted,
                   assert_same_image, eventually, node_hub, png_of, random_image, same_json)
from socketengine import connection, hub

# Non-ASCII inside and outside the Basic Multilingual Plane: Python's JSON
# escapes them (the emoji as a surrogate pair), Node sends raw UTF-8.
CAFE = "caf\u00e9"
TEXT = "caf\u00e9 \u20ac \U0001F600"


def got(name, channel, data):
    """A GOT event of the Node hub: `data` arrived on `channel` from the
    connection it calls `name`."""
    return {"name": name, "channel": channel, "data": data}


def write_cmd(channel, data):
    return {"channel": channel, "data": data}


def node_state(node):
    node.send("STATE")
    return node.expect("STATE")["connections"]


class Link(NamedTuple):
    """The Python hub `py`, the Node hub process `node`, and `conn`, the
    Python hub's connection to Node, which Node knows as `name`."""
    py: hub
    node: PeerProcess
    conn: connection
    name: str

WAYS = ["node_dials_python", "python_dials_node"]


@pytest.fixture
def py_hub():
    with hub(port=0) as h:
        yield h


@pytest.fixture
def link(py_hub):
    """link(way) joins the Python hub to a new Node hub, `way` being one of
    WAYS; the Node hub is stopped at teardown."""
    nodes = []

    def join(way):
        if way == "node_dials_python":
            node = node_hub("dial", "cam", str(py_hub.port))
            nodes.append(node)
            node.expect("READY")
            conn = accepted(py_hub, "cam")
            # Node's close() before it is connected would drop its __closing.
            node.expect("CONNECTED")
            return Link(py_hub, node, conn, "cam")
        node = node_hub("listen")
        nodes.append(node)
        py_hub.connect("py", "127.0.0.1", node.expect("READY"), timeout=PATIENCE)
        conn = py_hub.connections[0]
        node.expect("CONNECTION", {"type": connection.TYPE_REMOTE})
        node.expect("GOT", got("py", "__name_conn", "py"))
        return Link(py_hub, node, conn, "py")

    yield join
    for node in nodes:
        node.stop()


# --- dialling, names and values --------------------------------------------------------

def test_python_hub_dials_node_hub_and_values_go_both_ways(link):
    py, node, conn, _ = link("python_dials_node")
    assert conn.name == "py"
    assert conn.type == connection.TYPE_LOCAL
    state = node_state(node)
    assert [(c["name"], c["type"]) for c in state] == [("py", connection.TYPE_REMOTE)]

    # Python -> Node: any JSON value, through each writer that reaches Node.
    sent = {
        "speed": "3.5",
        CAFE: TEXT,
        "count": 7,
        "ratio": 2.5,
        "flags": [True, False, None],
        "pose": {"x": -1, "path": [2.5, "\u00fc"], "ok": True},
    }
    writers = [conn.write, lambda ch, v: py.write_all(ch, v),
               lambda ch, v: py.write_to_local(ch, v),
               lambda ch, v: py.write_to_name("py", ch, v)]
    for i, (channel, data) in enumerate(sent.items()):
        writers[i % len(writers)](channel, data)
    for channel, data in sent.items():
        node.expect("GOT", got("py", channel, data))
    # The latest value wins on the Node side too.
    conn.write("speed", "4.0")
    node.expect("GOT", got("py", "speed", "4.0"))
    node.send("GET_ALL", "speed")
    assert node.expect("ALL", {"channel": "speed"})["values"] == ["4.0"]

    # Node -> Python (strings only: see the top of this file). TCP keeps
    # the order, so once `sync` is in, `reply` has been replaced.
    for channel, data in [("reply", "one"), ("reply", "two"), (CAFE, TEXT), ("sync", "done")]:
        node.send("WRITE", write_cmd(channel, data))
    assert conn.wait_for("sync", PATIENCE) == "done"
    assert conn.get("reply") == "two"
    assert conn.get(CAFE) == TEXT
    assert py.get_all(CAFE) == [TEXT]
    assert py.get_by_name("py", "reply") == ["two"]
    assert py.get_local("reply") == ["two"]
    assert py.get_remote("reply") == []
    assert conn.stats["errors"] == 0, "a line from Node did not parse"
    assert node.quit() == 0, "nothing Python sent may break the Node hub"


def test_node_hub_dials_python_hub_and_values_go_both_ways(link):
    py, node, conn, _ = link("node_dials_python")
    # Python takes the name from Node's first line, __name_conn.
    assert conn.name == "cam"
    assert conn.type == connection.TYPE_REMOTE
    assert [c["name"] for c in node_state(node)] == ["cam"]

    # Node -> Python.
    node.send("WRITE", write_cmd("speed", "3.5"))
    node.send("WRITE", write_cmd(CAFE, TEXT))
    assert py.wait_for("speed", PATIENCE) == ["3.5"]
    assert py.wait_for(CAFE, PATIENCE) == [TEXT]
    assert py.get_remote("speed") == ["3.5"]
    assert py.get_by_name("cam", "speed") == ["3.5"]
    assert py.get_local("speed") == []

    # Python -> Node, addressed by the name Node gave itself.
    py.write_to_name("cam", "cmd", {"go": True, "n": 1})
    py.write_to_remote(CAFE, TEXT)
    py.write_all("count", 42)
    node.expect("GOT", got("cam", "cmd", {"go": True, "n": 1}))
    node.expect("GOT", got("cam", CAFE, TEXT))
    node.expect("GOT", got("cam", "count", 42))
    node.send("GET_ALL", "cmd")
    assert same_json(node.expect("ALL", {"channel": "cmd"})["values"], [{"go": True, "n": 1}])
    assert conn.stats["errors"] == 0, "a line from Node did not parse"
    assert node.quit() == 0, "nothing Python sent may break the Node hub"


# --- closing -------------------------------------------------------------------------------

def test_python_connection_close_ends_the_node_connection(link):
    _, node, conn, _ = link("python_dials_node")
    conn.close()
    assert conn.stopped and not conn.opened
    # `stopped` shows Node closed because of __closing, not merely at EOF.
    node.expect("GOT", got("py", "__status", "__closing"))
    node.expect("CLOSED", {"name": "py", "stopped": True})


def test_python_hub_close_ends_the_node_connection(link):
    py, node, conn, _ = link("node_dials_python")
    py.close()
    assert conn.stopped
    node.expect("GOT", got("cam", "__status", "__closing"))
    node.expect("CLOSED", {"name": "cam", "opened": False, "stopped": True})
    assert [c["opened"] for c in node_state(node)] == [False]


def test_node_hub_close_ends_the_python_connection(link):
    _, node, conn, _ = link("node_dials_python")
    node.send("CLOSE")
    node.expect("CLOSED_HUB")
    eventually(lambda: conn.stopped, "the Python connection to close")
    assert not conn.opened
    assert conn.get("__status") == "__closing"
    assert conn.name == "cam"
    conn.write("late", "x")  # ignored on a closed connection, as the seed did


# --- images --------------------------------------------------------------------------------

@pytest.mark.parametrize("way", WAYS)
def test_images_from_python_are_acknowledged_by_node(link, way):
    conn = link(way).conn
    for n, channels in enumerate(KINDS.values()):
        sent_before = conn.stats["messages_out"]
        conn.writeImg(random_image(48, 64, channels, seed=n))
        assert conn.stats["messages_out"] == sent_before + 1, "the image was not sent"
        # Only Node's __ack lets the next image go.
        eventually(lambda: conn.canWrite, "Node's __ack for image {}".format(n + 1))
    assert conn.stats["errors"] == 0


@pytest.mark.parametrize("way", WAYS)
def test_images_from_node_arrive_as_arrays(link, way):
    py, node, conn, name = link(way)
    log = ImageLog(conn)
    frames = [random_image(24, 32, channels, seed=10 + channels) for channels in KINDS.values()]
    for n, frame in enumerate(frames, start=1):
        # Node's writeImg sends the base64 text as given, if canWrite.
        node.send("WRITE_IMG", base64.b64encode(png_of(frame)).decode())
        assert_same_image(log.wait_count(n)[-1], frame)
        # Python's __ack sets Node's canWrite again; without it Node would
        # drop the next image.
        eventually(lambda: all(c["canWrite"] for c in node_state(node)),
                   "Node's canWrite after image {}".format(n))
    node.expect("GOT", got(name, "__ack", "__ack"))
    assert_same_image(conn.getImg(), frames[-1])
    assert_same_image(py.get_all(HUB_IMAGE)[0], frames[-1])
    assert conn.stats["errors"] == 0
