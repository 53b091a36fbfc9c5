"""The simulator's HTTP side: a threaded server for the SOAP endpoint, its WSDL, and a
loopback-only control API (`/_sim/…`) for tests, benchmarks and people.

Paths:
- `POST /fakturering_ws/FaktureringService`: the SOAP endpoint (basic auth).
- `GET  /fakturering_ws/FaktureringService?wsdl` (and `?xsd=fakturering-ws.xsd`): the contract.
- `GET  /_sim/stats`, `GET|POST /_sim/faults`, `POST /_sim/reset`, `POST /_sim/invoice`.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import ipaddress
import json
import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from integrations.visma.contract import WSDL_DIR, WSDL_FILE

from .config import SimulatorConfig
from .faults import FaultInjector, Faults
from .service import FaktureringService
from .soap import SoapFault, fault_body, parse_request
from .store import Store, StoredBasis

logger = logging.getLogger(__name__)

BASE_PATH = "/fakturering_ws/"
ENDPOINT_PATH = BASE_PATH + "FaktureringService"
MAX_BODY_BYTES = 50 * 1024 * 1024
XSD_FILE = "fakturering-ws.xsd"


class SimulatorServer(ThreadingHTTPServer):
    """One thread per connection, so slow calls (latency, timeouts) never hold up others."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        *,
        config: SimulatorConfig,
        store: Store,
        injector: FaultInjector,
    ) -> None:
        self.config = config
        self.store = store
        self.injector = injector
        self.service = FaktureringService(config, store)
        super().__init__(address, _Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        host = str(host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}{BASE_PATH}"

    def wsdl_document(self) -> bytes:
        text = (WSDL_DIR / WSDL_FILE).read_text(encoding="utf-8")
        text = text.replace(
            "http://localhost/fakturering_ws/FaktureringService",
            self.base_url + "FaktureringService",
        )
        text = text.replace(
            f'schemaLocation="{XSD_FILE}"', f'schemaLocation="FaktureringService?xsd={XSD_FILE}"'
        )
        return text.encode()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class _Handler(BaseHTTPRequestHandler):
    server: SimulatorServer
    protocol_version = "HTTP/1.1"  # keep-alive, as a pooled client expects
    # Headers and body go out in two writes; with Nagle on, each reply waits for a delayed ACK.
    disable_nagle_algorithm = True
    server_version = "fakturering-ws-simulator"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.client_address[0], *args)

    # routing

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/_sim/"):
            self._control("GET", url.path, url.query)
            return
        if url.path != ENDPOINT_PATH:
            self._text(404, "Ikke funnet\n")
            return
        query = parse_qs(url.query, keep_blank_values=True)
        if "wsdl" in query:
            self._send(200, self.server.wsdl_document(), "text/xml; charset=utf-8")
        elif query.get("xsd") == [XSD_FILE]:
            self._send(200, (WSDL_DIR / XSD_FILE).read_bytes(), "text/xml; charset=utf-8")
        else:
            self._text(405, "Bruk POST (SOAP) eller ?wsdl\n")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/_sim/"):
            self._control("POST", url.path, url.query)
            return
        body = self._read_body()
        if body is None:
            return
        if url.path != ENDPOINT_PATH:
            self._text(404, "Ikke funnet\n")
            return
        self._soap(body)

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding"):
            self._text(411, "Content-Length kreves\n", close=True)
            return None
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._text(411, "Content-Length kreves\n", close=True)
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            self._text(413, "For stor forespørsel\n", close=True)
            return None
        return self.rfile.read(length)

    # SOAP

    def _soap(self, body: bytes) -> None:
        server = self.server
        operation = (self.headers.get("SOAPAction") or "").strip('"').rpartition("#")[2]
        server.store.count_call(operation or "ukjent")
        faults, outcome = server.injector.decide(operation)
        # latency_ms is the service's response time: processing counts towards it.
        ready_at = time.monotonic() + faults.latency_ms / 1000

        def wait() -> None:
            remaining = ready_at - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)

        if outcome in ("http_429", "http_5xx", "server_fault", "reset"):
            wait()
            self._refuse(outcome)
            return

        user = self._authenticate()
        if user is None:
            wait()
            self._text(
                401,
                "Feil brukernavn eller passord\n",
                extra={"WWW-Authenticate": 'Basic realm="fakturering_ws", charset="UTF-8"'},
            )
            return
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if content_type != "text/xml":
                raise SoapFault("Client", "UGYLDIG_FORESPORSEL", "Content-Type må være text/xml")
            op, request = parse_request(body, self.headers.get("SOAPAction"))
            reply = server.service.handle(op, request, user, dedup=faults.dedup, body=body)
        except SoapFault as fault:
            wait()
            self._fault(fault)
            return
        except Exception:
            logger.exception("Simulator failed on a %s call", operation)
            wait()
            self._fault(SoapFault("Server", "TEKNISK_FEIL", "Teknisk feil hos tjenesten"))
            return

        wait()
        if outcome == "drop_reply":
            self._reset()
            return
        if outcome == "timeout":
            time.sleep(faults.timeout_seconds)
        if outcome == "garbled":
            reply = reply[: len(reply) // 2]
        try:
            self._send(200, reply, "text/xml; charset=utf-8")
        except OSError:
            self.close_connection = True  # the client gave up waiting

    def _refuse(self, outcome: str) -> None:
        """The faults that answer without processing anything."""
        if outcome == "http_429":
            self._text(429, "For mange forespørsler\n", extra={"Retry-After": "1"})
        elif outcome == "http_5xx":
            self._text(503, "Tjenesten er utilgjengelig\n")
        elif outcome == "server_fault":
            self._fault(SoapFault("Server", "TEKNISK_FEIL", "Teknisk feil hos tjenesten"))
        else:
            self._reset()

    def _authenticate(self) -> Any:
        header = self.headers.get("Authorization") or ""
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, sep, password = decoded.partition(":")
        if not sep:
            return None
        return self.server.config.authenticate(username, password)

    def _text(self, status: int, message: str, **kwargs: Any) -> None:
        self._send(status, message.encode(), "text/plain; charset=utf-8", **kwargs)

    def _fault(self, fault: SoapFault) -> None:
        self._send(500, fault_body(fault), "text/xml; charset=utf-8")

    def _reset(self) -> None:
        """Drop the connection with a TCP reset and no reply."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        extra: dict[str, str] | None = None,
        close: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    # control API

    def _control(self, method: str, path: str, query: str) -> None:
        if not _is_loopback(self.client_address[0]):
            self._json(403, {"feil": "Kontroll-API-et er bare tilgjengelig fra localhost"})
            return
        data: dict[str, Any] = {}
        if method == "POST":
            body = self._read_body()
            if body is None:
                return
            try:
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
            except ValueError as exc:
                self._json(400, {"feil": f"Ugyldig JSON: {exc}"})
                return
        server = self.server
        try:
            if path == "/_sim/stats" and method == "GET":
                per = parse_qs(query).get("per_referanse", ["1"])[0] not in ("0", "false")
                stats = server.store.stats(per_referanse=per)
                stats["faults_injected"] = dict(server.injector.injected)
                self._json(200, stats)
            elif path == "/_sim/faults" and method == "GET":
                self._json(200, server.injector.faults.as_dict())
            elif path == "/_sim/faults" and method == "POST":
                faults = Faults() if data.pop("reset", False) else server.injector.faults
                server.injector.configure(faults.replace(**data))
                self._json(200, server.injector.faults.as_dict())
            elif path == "/_sim/reset" and method == "POST":
                server.store.reset()
                server.injector.reset_counts()
                self._json(200, {"ok": True})
            elif path == "/_sim/invoice" and method == "POST":
                rows = server.service.invoice(
                    str(data.get("selskap", "1")),
                    data.get("referanser"),
                    fakturadato=_date(data.get("fakturadato")),
                    forfallsdato=_date(data.get("forfallsdato")),
                )
                self._json(200, {"fakturert": [invoice_dict(r) for r in rows]})
            else:
                self._json(404, {"feil": "Ukjent kontrollsti"})
        except (ValueError, TypeError, SoapFault) as exc:
            self._json(400, {"feil": str(exc)})

    def _json(self, status: int, data: Any) -> None:
        body = json.dumps(data, ensure_ascii=False, indent=1).encode()
        self._send(status, body, "application/json; charset=utf-8")


def _date(value: Any) -> datetime.date | None:
    return datetime.date.fromisoformat(value) if value else None


def invoice_dict(row: StoredBasis) -> dict[str, Any]:
    return {
        "selskap": row.selskap,
        "referanse": row.referanse,
        "grunnlagId": row.grunnlag_id,
        "fakturanummer": row.fakturanummer,
        "fakturadato": row.fakturadato.isoformat() if row.fakturadato else None,
        "forfallsdato": row.forfallsdato.isoformat() if row.forfallsdato else None,
        "kid": row.kid,
        "belop": row.belop,
    }


@dataclass
class SimulatorHandle:
    """A simulator running in a background thread (`start_simulator`)."""

    server: SimulatorServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        """Base URL ending in `fakturering_ws/`, as a municipality would configure it."""
        return self.server.base_url

    @property
    def endpoint(self) -> str:
        return self.url + "FaktureringService"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stats(self, *, per_referanse: bool = True) -> dict[str, Any]:
        stats = self.server.store.stats(per_referanse=per_referanse)
        stats["faults_injected"] = dict(self.server.injector.injected)
        return stats

    @property
    def faults(self) -> Faults:
        return self.server.injector.faults

    def set_faults(self, faults: Faults | None = None, /, **changes: Any) -> Faults:
        """Replace the fault settings (`faults`) or change some of them (`changes`)."""
        base = faults if faults is not None else self.server.injector.faults
        self.server.injector.configure(base.replace(**changes))
        return self.server.injector.faults

    def reset(self) -> None:
        """Forget everything stored and all counters (fault settings stay)."""
        self.server.store.reset()
        self.server.injector.reset_counts()

    def invoice(
        self,
        selskap: str = "1",
        referanser: list[str] | None = None,
        *,
        fakturadato: datetime.date | None = None,
        forfallsdato: datetime.date | None = None,
    ) -> list[dict[str, Any]]:
        rows = self.server.service.invoice(
            selskap, referanser, fakturadato=fakturadato, forfallsdato=forfallsdato
        )
        return [invoice_dict(r) for r in rows]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.server.store.close()

    def __enter__(self) -> SimulatorHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    config: SimulatorConfig | Path | str | None = None,
    faults: Faults | None = None,
    state: Path | str | None = None,
) -> SimulatorServer:
    if not isinstance(config, SimulatorConfig):
        config = SimulatorConfig.load(config)
    store = Store(Path(state) if state else None)
    return SimulatorServer(
        (host, port), config=config, store=store, injector=FaultInjector(faults or Faults())
    )


def start_simulator(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    config: SimulatorConfig | Path | str | None = None,
    faults: Faults | None = None,
    state: Path | str | None = None,
) -> SimulatorHandle:
    """Start a simulator in a background thread. `port=0` picks a free port; `config` is a
    `SimulatorConfig` or a JSON file (default: the demo company); `state` a SQLite file."""
    server = make_server(host=host, port=port, config=config, faults=faults, state=state)
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.1},
        name=f"visma-simulator-{server.server_address[1]}",
        daemon=True,
    )
    thread.start()
    return SimulatorHandle(server=server, thread=thread)
