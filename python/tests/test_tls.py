"""TLS from Python: the tls_* keyword arguments of hub, host and client.
Certificates are made at test time with the ``openssl`` command, by the
C++ tests' tests/support/make_certificates.sh: hubs and a host with its clients exchange values over TLS, a certificate from an
unknown CA is refused with OpenSSL's reason, mutual TLS refuses a client
without a certificate, options that cannot work raise when the engine is
made, and token authentication works over TLS."""

import faulthandler
import os
import pathlib
import re
import subprocess
from types import SimpleNamespace

import pytest

from conftest import DEADLINE, LOCALHOST, connect_hubs, eventually
from socketengine import client, host, hub

# The C++ tests' script: the same certificates for both.
MAKE_CERTIFICATES = (pathlib.Path(__file__).resolve().parents[2] / "tests" / "support"
                     / "make_certificates.sh")

# Longer than any one test's waits together: a test still running then is
# stuck, and its threads' stacks are printed before the process ends.
TEST_TIMEOUT = 60


@pytest.fixture(autouse=True)
def watchdog():
    faulthandler.dump_traceback_later(TEST_TIMEOUT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA ``ca`` and certificates it signed for ``server`` (127.0.0.1)
    and ``client``; ``stranger`` (127.0.0.1) signed by another CA.
    ``pki.cert(name)`` and ``pki.key(name)`` are their files."""
    d = tmp_path_factory.mktemp("pki")
    # A sanitizer runtime preloaded for the interpreter is not meant for
    # bash and openssl (ThreadSanitizer's crashes them).
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    made = subprocess.run(["bash", str(MAKE_CERTIFICATES), str(d)], capture_output=True,
                          text=True, timeout=60, env=env)
    assert made.returncode == 0, "making test certificates failed:\n" + made.stderr
    return SimpleNamespace(cert=lambda name: str(d / (name + ".pem")),
                           key=lambda name: str(d / (name + ".key")))


def dial(dialler, listener, name):
    """connect_hubs, bounded."""
    return connect_hubs(dialler, listener, name, timeout=DEADLINE)


def opened(c):
    """Opens client ``c`` (made with open=False), bounded; returns it."""
    c.open(timeout=DEADLINE)
    return c


def serving(pki, name="server", ca="ca"):
    """Keyword arguments for TLS with ``name``'s certificate, trusting ``ca``."""
    return dict(tls=True, tls_cert=pki.cert(name), tls_key=pki.key(name), tls_ca=pki.cert(ca))


def trusting(pki, ca="ca"):
    """Keyword arguments for TLS without a certificate of its own, trusting
    ``ca``: enough for a client. A hub listens, and needs one (serving)."""
    return dict(tls=True, tls_ca=pki.cert(ca))


def test_hubs_exchange_values_over_tls(closer, pki):
    a = closer(hub(port=0, **serving(pki)))
    b = closer(hub(port=0, **serving(pki, "client")))
    local, remote = dial(b, a, "cam")
    local.write("x", {"over": "tls"})
    eventually(lambda: remote.get("x") == {"over": "tls"}, what="value through a TLS link")
    remote.write("back", [1, 2, 3])
    assert local.wait_for("back", DEADLINE) == [1, 2, 3]
    eventually(lambda: local.native and remote.native, what="native protocol over TLS")


def test_a_host_serves_clients_over_tls(closer, pki):
    h = closer(host(port=0, **serving(pki)))
    assert h.start() is h  # a client's handshake needs the host accepting
    # Paths may be pathlib.Path objects too.
    c = opened(closer(client(port=h.port, open=False, tls=True,
                             tls_ca=pathlib.Path(pki.cert("ca")))))
    assert c.opened
    c.write("from", 1)
    assert h.wait_for("from", DEADLINE) == [1]
    assert h.write_ALL("news", "hello") == 1
    assert c.wait_for("news", DEADLINE) == "hello"


def test_a_certificate_from_an_unknown_ca_is_refused(closer, pki):
    a = closer(hub(port=0, **serving(pki, "stranger", "other_ca")))
    b = closer(hub(port=0, **serving(pki, "client", "ca")))
    with pytest.raises(RuntimeError,
                       match="certificate rejected: unable to get local issuer certificate"):
        b.connect("cam", LOCALHOST, a.port, timeout=DEADLINE)
    assert b.connections == []
    assert a.connections == []

    # The same from a client to a host.
    h = closer(host(port=0, **serving(pki, "stranger", "other_ca")))
    h.start()
    with pytest.raises(RuntimeError, match="certificate rejected"):
        opened(closer(client(port=h.port, open=False, **trusting(pki, "ca"))))


def test_without_verification_any_certificate_is_taken(closer, pki):
    a = closer(hub(port=0, **serving(pki, "stranger", "other_ca")))
    b = closer(hub(port=0, tls=True, tls_verify=False, tls_cert=pki.cert("client"),
                   tls_key=pki.key("client")))
    local, remote = dial(b, a, "cam")
    local.write("x", 1)
    eventually(lambda: remote.get("x") == 1, what="value without verification")


def test_the_name_checked_is_tls_server_name_when_given(closer, pki):
    a = closer(hub(port=0, **serving(pki)))
    wrong = closer(hub(port=0, tls_server_name="nothere.example", **serving(pki, "client")))
    with pytest.raises(RuntimeError, match="hostname mismatch"):
        wrong.connect("cam", LOCALHOST, a.port, timeout=DEADLINE)
    right = closer(hub(port=0, tls_server_name="localhost", **serving(pki, "client")))
    right.connect("cam", LOCALHOST, a.port, timeout=DEADLINE)
    assert right.connections[-1].opened


def test_mutual_tls_refuses_a_client_without_a_certificate(closer, pki):
    h = closer(host(port=0, tls_require_client_cert=True, **serving(pki)))
    h.start()
    # Under TLS 1.3 a client's handshake may end before the host has checked
    # its certificate: the refusal then closes the link just after opening.
    try:
        bare = opened(closer(client(port=h.port, open=False, **trusting(pki))))
        eventually(lambda: bare.stopped, what="link without a client certificate closed")
    except RuntimeError as e:
        assert "certificate required" in str(e)
    assert h.clients == []

    good = opened(closer(client(port=h.port, open=False, **serving(pki, "client"))))
    good.write("x", 1)
    assert h.wait_for("x", DEADLINE) == [1]


def test_token_authentication_works_over_tls(closer, pki):
    a = closer(hub(port=0, token="over-tls", **serving(pki)))
    b = closer(hub(port=0, token="over-tls", **serving(pki, "client")))
    local, remote = dial(b, a, "cam")
    local.write("x", 4)
    eventually(lambda: remote.get("x") == 4, what="value with a token over TLS")

    wrong = closer(hub(port=0, token="guess", **serving(pki, "client")))
    with pytest.raises(RuntimeError, match="authentication"):
        wrong.connect("w", LOCALHOST, a.port, timeout=DEADLINE)


def test_options_that_cannot_work_raise_when_the_engine_is_made(pki, tmp_path):
    missing = str(tmp_path / "missing.key")
    with pytest.raises(RuntimeError,
                       match=re.escape("cannot read tls.private_key_file " + missing)):
        hub(port=0, **dict(serving(pki), tls_key=missing))
    with pytest.raises(RuntimeError, match="cannot read tls.ca_file"):
        client(open=False, tls=True, tls_ca=str(tmp_path / "missing.pem"))
    with pytest.raises(ValueError, match="is not the key of"):
        host(port=0, **dict(serving(pki), tls_key=pki.key("client")))
    # A hub listens: with TLS it needs a certificate, even to dial.
    with pytest.raises(ValueError, match="listening with TLS needs tls.certificate_file"):
        hub(port=0, **trusting(pki))
    with pytest.raises(ValueError, match="tls.handshake_timeout must be positive"):
        hub(port=0, tls_handshake_timeout=0, **serving(pki))
    # Nothing is implied: TLS options without tls=True would run plain TCP.
    with pytest.raises(ValueError, match="tls.enabled is false"):
        hub(port=0, tls_cert=pki.cert("server"), tls_key=pki.key("server"))
    with pytest.raises(ValueError, match="tls.enabled is false"):
        client(open=False, tls_ca=pki.cert("ca"))
    # One that listens only on a Unix domain socket (plain) needs none.
    hub(port="unix:" + str(tmp_path / "s.sock"), **trusting(pki)).close()


def test_an_engine_whose_constructor_raised_can_still_be_shown():
    # A traceback's display of `self` in the constructor (pytest shows it)
    # once reached the missing engine and crashed the interpreter.
    for cls in (hub, host, client):
        with pytest.raises(ValueError) as raised:
            cls(port=0, tls_ca="ca.pem")  # tls_* without tls=True
        frame = raised.tb
        while frame.tb_next is not None:
            frame = frame.tb_next
        made = frame.tb_frame.f_locals["self"]
        assert repr(made) == "<socketengine.{} (not made)>".format(cls.__name__)


def test_a_plain_dialler_never_becomes_a_connection_of_a_tls_hub(closer, pki):
    a = closer(hub(port=0, **serving(pki)))
    plain = closer(hub(port=0))
    plain.connect("intruder", LOCALHOST, a.port, timeout=DEADLINE)  # plain TCP connects
    eventually(lambda: not plain.connections[-1].opened, what="plain link closed")
    assert a.connections == []
