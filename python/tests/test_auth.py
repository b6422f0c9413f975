"""Token authentication from Python: the keyword arguments of hub, host and
client, a wrong or missing token refused, the token from a file or an
environment variable, and bad options refused when the engine is made."""

import pytest

from conftest import LOCALHOST, connect_hubs, eventually
from socketengine import client, host, hub


def test_hubs_with_the_same_token_exchange_values(closer):
    a = closer(hub(port=0, token="s3cret"))
    b = closer(hub(port=0, token=b"s3cret"))  # str or bytes, the same token
    local, remote = connect_hubs(b, a, "b")
    local.write("x", 1)
    eventually(lambda: remote.get("x") == 1, what="value through an authenticated link")


def test_a_host_and_client_with_the_same_token_exchange_values(closer):
    h = closer(host(port=0, token="s3cret"))
    h.start()
    c = closer(client(port=h.port, token="s3cret"))
    c.write("x", 2)
    eventually(lambda: h.get_all("x") == [2], what="value at the host")


def test_a_wrong_or_missing_token_is_refused(closer):
    a = closer(hub(port=0, token="s3cret"))
    wrong = closer(hub(port=0, token="guess"))
    with pytest.raises(RuntimeError, match="authentication"):
        wrong.connect("w", LOCALHOST, a.port)
    none = closer(hub(port=0))
    none.connect("n", LOCALHOST, a.port)  # no token: its side opens, and is refused
    eventually(lambda: not none.connections[-1].opened, what="refused link closed")
    assert a.connections == []


def test_the_token_comes_from_a_file_or_a_variable(closer, tmp_path, monkeypatch):
    (tmp_path / "token").write_text("from-a-file\n")
    monkeypatch.setenv("SOCKETENGINE_PY_TOKEN", "from-a-file")
    a = closer(hub(port=0, token_file=str(tmp_path / "token")))
    b = closer(hub(port=0, token_env="SOCKETENGINE_PY_TOKEN"))
    local, remote = connect_hubs(b, a, "b")
    local.write("y", 3)
    eventually(lambda: remote.get("y") == 3, what="value with the token from a file")


def test_bad_token_options_are_refused_when_the_engine_is_made(tmp_path):
    with pytest.raises(ValueError, match="set one of"):
        hub(port=0, token="a", token_env="B")
    with pytest.raises(RuntimeError, match="token_file"):
        hub(port=0, token_file=str(tmp_path / "missing"))
