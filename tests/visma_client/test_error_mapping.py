"""How the client sorts what a server (or a proxy in front of it) answers, against a stub server
on loopback that answers whatever the test tells it to: plain HTTP and TLS."""

from __future__ import annotations

import datetime
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from integrations.visma.client import VismaClient
from integrations.visma.errors import (
    AuthenticationFailed,
    ClientFault,
    ConfigurationError,
    TlsError,
    TransientError,
)

from .conftest import PASSWORD, USER, basis


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class _Stub(ThreadingHTTPServer):
    daemon_threads = True
    reply = Reply()
    requests: list[bytes]


class _Handler(BaseHTTPRequestHandler):
    server: _Stub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.server.requests.append(self.rfile.read(int(self.headers["Content-Length"])))
        reply = self.server.reply
        self.send_response(reply.status)
        for name, value in {"Content-Type": "text/xml; charset=utf-8", **reply.headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)


def _serve(context: ssl.SSLContext | None = None) -> tuple[_Stub, threading.Thread]:
    server = _Stub(("127.0.0.1", 0), _Handler)
    server.requests = []
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return server, thread


@pytest.fixture
def stub() -> Iterator[_Stub]:
    server, thread = _serve()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _client(server: _Stub, scheme: str = "http") -> VismaClient:
    port = server.server_address[1]
    return VismaClient(
        f"{scheme}://127.0.0.1:{port}/fakturering_ws/",
        USER,
        PASSWORD,
        connect_timeout=1,
        read_timeout=2,
    )


def _fault(side: str, kode: str) -> bytes:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        f"<soap:Fault><faultcode>soap:{side}</faultcode><faultstring>Feil</faultstring>"
        '<detail><f:feil xmlns:f="urn:kommune-fakturering:fakturering-ws:1">'
        f"<f:kode>{kode}</f:kode><f:tekst>Teksten fra Visma</f:tekst></f:feil></detail>"
        "</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()


@pytest.mark.parametrize(
    ("reply", "error", "maybe_delivered", "code"),
    [
        (Reply(401), AuthenticationFailed, False, "HTTP_401"),
        (Reply(403), AuthenticationFailed, False, "HTTP_403"),
        (Reply(404, b"<html>not found</html>"), ConfigurationError, False, "HTTP_404"),
        (Reply(302, headers={"Location": "http://x/"}), ConfigurationError, False, "HTTP_302"),
        (Reply(413), ClientFault, False, "HTTP_413"),
        (Reply(429), TransientError, False, "HTTP_429"),
        (Reply(503, b"<html>busy</html>"), TransientError, False, "HTTP_503"),
        # A gateway may have forwarded the request before giving up on it.
        (Reply(502), TransientError, True, "HTTP_502"),
        (Reply(504), TransientError, True, "HTTP_504"),
        (Reply(500, b"<html>oops</html>"), TransientError, True, "UGYLDIG_SVAR"),
        (Reply(200, b"not xml"), TransientError, True, "UGYLDIG_SVAR"),
        (Reply(200, b"<x/>"), TransientError, True, "UGYLDIG_SVAR"),
        (Reply(500, _fault("Client", "UKJENT_SELSKAP")), ClientFault, False, "UKJENT_SELSKAP"),
        (Reply(500, _fault("Server", "TEKNISK_FEIL")), TransientError, False, "TEKNISK_FEIL"),
    ],
)
def test_http_answers_are_sorted(
    stub: _Stub,
    reply: Reply,
    error: type[Exception],
    maybe_delivered: bool,
    code: str,
) -> None:
    stub.reply = reply
    with pytest.raises(error) as caught:
        _client(stub).send("1", "B1", [basis("R1")], False)
    assert type(caught.value) is error
    assert caught.value.maybe_delivered is maybe_delivered  # type: ignore[attr-defined]
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert PASSWORD not in str(caught.value)
    assert "R1" not in str(caught.value)


def test_fault_text_reaches_the_message(stub: _Stub) -> None:
    stub.reply = Reply(500, _fault("Client", "UGYLDIG_FORESPORSEL"))
    with pytest.raises(ClientFault) as caught:
        _client(stub).ping("1")
    assert "Teksten fra Visma" in str(caught.value)


def test_national_ids_in_a_fault_text_are_masked(stub: _Stub) -> None:
    stub.reply = Reply(
        500,
        _fault("Client", "UGYLDIG_FORESPORSEL").replace(b"Teksten fra Visma", b"Kunde 15899010059"),
    )
    with pytest.raises(ClientFault) as caught:
        _client(stub).ping("1")
    assert "158990*****" in str(caught.value)
    assert "15899010059" not in str(caught.value)


def test_a_reply_for_other_bases_is_not_trusted(stub: _Stub) -> None:
    stub.reply = Reply(
        200,
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<f:SendFakturagrunnlagResponse xmlns:f="urn:kommune-fakturering:fakturering-ws:1">'
        b"<f:buntreferanse>B1</f:buntreferanse><f:resultat><f:referanse>R-other</f:referanse>"
        b"<f:status>MOTTATT</f:status></f:resultat></f:SendFakturagrunnlagResponse>"
        b"</soap:Body></soap:Envelope>",
    )
    with pytest.raises(TransientError) as caught:
        _client(stub).send("1", "B1", [basis("R1")], False)
    assert caught.value.maybe_delivered is True


def test_a_reply_with_a_doctype_is_refused(stub: _Stub) -> None:
    stub.reply = Reply(
        200,
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "MOTTATT">]>'
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        b'<f:SendFakturagrunnlagResponse xmlns:f="urn:kommune-fakturering:fakturering-ws:1">'
        b"<f:buntreferanse>B1</f:buntreferanse><f:resultat><f:referanse>R1</f:referanse>"
        b"<f:status>&e;</f:status></f:resultat></f:SendFakturagrunnlagResponse>"
        b"</soap:Body></soap:Envelope>",
    )
    with pytest.raises(TransientError) as caught:
        _client(stub).send("1", "B1", [basis("R1")], False)
    assert caught.value.code == "UGYLDIG_SVAR"


def test_request_carries_the_contract_headers_and_basic_auth(stub: _Stub) -> None:
    stub.reply = Reply(401)
    seen: dict[str, str] = {}

    class Recording(_Handler):
        def do_POST(self) -> None:
            seen.update(self.headers.items())
            super().do_POST()

    stub.RequestHandlerClass = Recording
    with pytest.raises(AuthenticationFailed):
        _client(stub).ping("1")
    assert seen["SOAPAction"] == '"urn:kommune-fakturering:fakturering-ws:1#Ping"'
    assert seen["Content-Type"] == "text/xml; charset=utf-8"
    assert seen["Authorization"].startswith("Basic ")
    assert stub.requests[0].startswith(b"<?xml")


# TLS


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "visma.test")])
    now = datetime.datetime.now(tz=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def test_an_untrusted_certificate_is_a_tls_error(tmp_path: Path) -> None:
    server, thread = _serve(_self_signed(tmp_path))
    try:
        with pytest.raises(TlsError) as caught:
            _client(server, "https").ping("1")
        assert caught.value.permanent
        assert caught.value.maybe_delivered is False
        assert "sertifikat" in str(caught.value)
        assert server.requests == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_https_against_a_plain_http_server_is_not_a_certificate_error(stub: _Stub) -> None:
    with pytest.raises(TransientError) as caught:
        _client(stub, "https").ping("1")
    assert caught.value.code == "TLS"
