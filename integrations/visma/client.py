"""Client for Visma's `fakturering_ws` SOAP service (contract: `wsdl/fakturering-ws.wsdl`).

One `VismaClient` per (URL, username, password) and process, from `get_client()`. The WSDL is parsed
once per process from the bundled file, never fetched; the endpoint address comes from the
municipality's base URL. Every call is one HTTP POST on a pooled `requests.Session` with basic auth
and explicit (connect, read) timeouts.

Results come back as the plain dataclasses in `types.py`; every failure is one of the exceptions in
`errors.py`, sorted by what the caller must do:

- `AuthenticationFailed` (401/403): stop the run, tell the administrator.
- `ClientFault` (SOAP Fault Client, `code` = `UKJENT_SELSKAP`, `UGYLDIG_FORESPORSEL`,
  `FOR_MANGE_GRUNNLAG`, …): this call will never succeed as it is.
- `TransientError`: retry later. `maybe_delivered=True` when the request may have reached Visma
  (read timeout, connection lost after sending, unreadable reply, a gateway's 502/504): ask
  `status()` for the references before sending any of them again.
- `ConfigurationError` / `TlsError`: the URL or the server certificate is wrong; retrying cannot
  help.

Exception messages are Bokmål and never contain the password, the Authorization header or the
request body, and no exception chains to one that might.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
import zoneinfo
from collections.abc import Sequence
from typing import Any

import requests
import zeep
import zeep.exceptions
from lxml import etree
from requests.adapters import HTTPAdapter

from .contract import (
    MAX_BASES_PER_CALL,
    MAX_REFERANSER_PER_STATUS,
    NAMESPACE,
    WSDL_PATH,
)
from .envelope import send_envelope
from .errors import (
    AuthenticationFailed,
    ClientFault,
    ConfigurationError,
    TlsError,
    TransientError,
    VismaError,
)
from .send_reply import read_send_reply
from .types import PingResult, SendResult, SoapBasis, StatusResult

logger = logging.getLogger(__name__)

SERVICE_PATH = "FaktureringService"

_OSLO = zoneinfo.ZoneInfo("Europe/Oslo")
# Gateways answer 502/504 after they may have forwarded the request; 429/503 mean "not taken".
# zeep does not check enumerations.
_TILSTANDER = frozenset({"UKJENT", "MOTTATT", "FAKTURERT", "AVVIST"})
_NOT_DELIVERED_STATUSES = frozenset({429, 503})
_MAYBE_DELIVERED_STATUSES = frozenset({502, 504})


# --- the parsed contract: one per process --------------------------------------------------------

_zeep_lock = threading.Lock()
_zeep_client: zeep.Client | None = None


def _zeep_settings() -> zeep.Settings:
    return zeep.Settings(
        strict=True,
        xml_huge_tree=False,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
    )


def _contract() -> zeep.Client:
    """The zeep client holding the parsed WSDL. It only serializes requests and parses replies;
    HTTP is done by each `VismaClient`'s own session, so one instance serves every municipality."""
    global _zeep_client
    if _zeep_client is None:
        with _zeep_lock:
            if _zeep_client is None:
                transport = zeep.Transport(session=_NoNetworkSession())
                _zeep_client = zeep.Client(
                    str(WSDL_PATH), transport=transport, settings=_zeep_settings()
                )
    return _zeep_client


class _NoNetworkSession(requests.Session):
    """The bundled WSDL must never lead zeep onto the network."""

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        raise RuntimeError("The Visma WSDL is loaded from disk only")


# --- public API ----------------------------------------------------------------------------------


def get_client(
    base_url: str,
    username: str,
    password: str,
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
) -> VismaClient:
    """The process's client for these credentials and timeouts (created on first use).

    `base_url` is the municipality's URL ending in `fakturering_ws/`; the caller passes the
    installation's timeouts (the client knows no Django settings). A changed password gives a new
    client; a forked child process (Celery prefork) never reuses its parent's connections.
    """
    key = (
        base_url,
        username,
        hashlib.sha256(password.encode()).hexdigest(),
        connect_timeout,
        read_timeout,
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            if len(_clients) >= _MAX_CACHED_CLIENTS:
                _drop_clients()
            client = VismaClient(
                base_url,
                username,
                password,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            )
            _clients[key] = client
    return client


_clients_lock = threading.Lock()
_clients: dict[tuple[str, str, str, float, float], VismaClient] = {}
# A region's installation serves a handful of municipalities; old credentials fall out eventually.
_MAX_CACHED_CLIENTS = 64


def _drop_clients() -> None:
    for client in _clients.values():
        client.close()
    _clients.clear()


def _forget_clients_after_fork() -> None:
    # The parent's pooled sockets must not be shared with a child; just forget them, the parent
    # still owns and closes them.
    global _clients_lock
    _clients_lock = threading.Lock()
    _clients.clear()


os.register_at_fork(after_in_child=_forget_clients_after_fork)


class VismaClient:
    """Talks to one `fakturering_ws` endpoint with one set of credentials. Thread-safe."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        pool_size: int = 4,
    ) -> None:
        if not base_url.endswith("/"):
            raise ConfigurationError("URL-en til Visma må slutte med «fakturering_ws/».")
        self.base_url = base_url
        self.endpoint = base_url + SERVICE_PATH
        self.username = username
        self.timeout = (connect_timeout, read_timeout)
        self._session = requests.Session()
        self._session.auth = (username, password)
        # No retries here: whether a call may be repeated is the sending protocol's decision.
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("https://", adapter)
        self._session.mount("http://", adapter)
        self._session.trust_env = False  # no proxies or .netrc credentials from the environment
        self._contract = _contract()

    def __repr__(self) -> str:
        return f"<VismaClient {self.endpoint} user={self.username}>"

    def close(self) -> None:
        self._session.close()

    # operations

    def ping(self, selskap: str) -> PingResult:
        """Check URL, credentials and company. `ClientFault(code="UKJENT_SELSKAP")` when the
        company does not exist or the user may not use it."""
        body = _zeep_envelope("Ping", {"selskap": selskap})
        reply = self._call("Ping", body, context=f"selskap {selskap}")
        tidspunkt = reply.tidspunkt
        if tidspunkt.tzinfo is None:
            tidspunkt = tidspunkt.replace(tzinfo=_OSLO)
        return PingResult(
            selskap=reply.selskap,
            selskapsnavn=reply.selskapsnavn,
            tjenesteversjon=reply.tjenesteversjon,
            tidspunkt=tidspunkt,
        )

    def send(
        self,
        selskap: str,
        buntreferanse: str,
        bases: Sequence[SoapBasis],
        testmodus: bool,
    ) -> list[SendResult]:
        """Send 1–200 bases in one `SendFakturagrunnlag` call; one result per basis, in request
        order. `testmodus=True` only validates (results are `VALIDERT` or `AVVIST`).

        Raises `ValueError` for an empty or too large batch (a programming error, nothing sent).
        On `TransientError(maybe_delivered=True)` some or all bases may have been stored.
        """
        body = build_send_envelope(selskap, buntreferanse, bases, testmodus)
        reply = self._call(
            "SendFakturagrunnlag",
            body,
            context=f"bunt {buntreferanse} ({len(bases)} grunnlag)",
        )
        results: list[SendResult] = reply
        expected = [b.referanse for b in bases]
        if [r.referanse for r in results] != expected:
            # A reply that does not answer exactly what was asked cannot be trusted for any basis.
            raise TransientError(
                "Svaret fra Visma passer ikke med grunnlagene som ble sendt "
                f"(bunt {buntreferanse}). Sjekk status før noe sendes på nytt.",
                code="UGYLDIG_SVAR",
                maybe_delivered=True,
            )
        return results

    def status(self, selskap: str, referanser: Sequence[str]) -> list[StatusResult]:
        """`HentStatus` for 1–500 references; one result per reference, in request order."""
        if not referanser:
            raise ValueError("status() needs at least one referanse")
        if len(referanser) > MAX_REFERANSER_PER_STATUS:
            raise ValueError(f"status() takes at most {MAX_REFERANSER_PER_STATUS} referanser")
        body = _zeep_envelope("HentStatus", {"selskap": selskap, "referanse": list(referanser)})
        reply = self._call("HentStatus", body, context=f"status for {len(referanser)} grunnlag")
        results = [_status_result(s) for s in _unwrap(reply, "grunnlagstatus")]
        if [r.referanse for r in results] != list(referanser) or any(
            r.tilstand not in _TILSTANDER for r in results
        ):
            raise TransientError(
                "Statussvaret fra Visma passer ikke med referansene det ble spurt om.",
                code="UGYLDIG_SVAR",
                maybe_delivered=False,
            )
        return results

    # plumbing

    def _call(self, operation: str, body: bytes, *, context: str) -> Any:
        binding = self._contract.service._binding
        operation_obj = binding.get(operation)
        started = time.monotonic()
        try:
            response = self._session.post(
                self.endpoint,
                data=body,
                headers=_headers(operation),
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            error = _transport_error(exc, operation)
            self._log(operation, context, started, f"feil: {type(exc).__name__}")
            raise error from None
        try:
            reply = self._parse_reply(binding, operation_obj, response, context)
        except VismaError as error:
            self._log(operation, context, started, f"HTTP {response.status_code}: {error.code}")
            raise
        self._log(operation, context, started, f"HTTP {response.status_code}")
        return reply

    def _parse_reply(
        self, binding: Any, operation_obj: Any, response: requests.Response, context: str
    ) -> Any:
        status = response.status_code
        if status in (401, 403):
            raise AuthenticationFailed(
                "Visma avviste brukernavnet eller passordet (HTTP "
                f"{status}). Kontroller innstillingene for integrasjonen.",
                code=f"HTTP_{status}",
            )
        if 300 <= status < 400:
            raise ConfigurationError(
                f"Visma svarte med en videresending (HTTP {status}). Kontroller URL-en.",
                code=f"HTTP_{status}",
            )
        if status == 404:
            raise ConfigurationError(
                "Fant ikke tjenesten på den oppgitte URL-en (HTTP 404). Kontroller URL-en.",
                code="HTTP_404",
            )
        if status in _NOT_DELIVERED_STATUSES:
            busy = TransientError(
                f"Visma er overbelastet eller utilgjengelig (HTTP {status}). Prøver igjen senere.",
                code=f"HTTP_{status}",
                maybe_delivered=False,
            )
            busy.retry_after = _retry_after(response.headers.get("Retry-After"))
            raise busy
        if status in _MAYBE_DELIVERED_STATUSES:
            raise TransientError(
                f"En mellomtjener fikk ikke svar fra Visma (HTTP {status}).",
                code=f"HTTP_{status}",
                maybe_delivered=True,
            )
        if status not in (200, 500) and 400 <= status < 500:
            raise ClientFault(
                f"Visma avviste forespørselen (HTTP {status}).", code=f"HTTP_{status}"
            )
        try:
            if status == 200 and operation_obj.name == "SendFakturagrunnlag":
                return read_send_reply(response.content)
            return binding.process_reply(self._contract, operation_obj, response)
        except zeep.exceptions.Fault as fault:
            raise _fault_error(fault, context) from None
        except (zeep.exceptions.Error, etree.LxmlError, ValueError, TypeError, AttributeError):
            # Unreadable XML, or XML that does not match the contract: the request was read by
            # the server, so it may have been acted on.
            raise TransientError(
                f"Svaret fra Visma kunne ikke leses (HTTP {status}, {context}).",
                code="UGYLDIG_SVAR",
                maybe_delivered=True,
            ) from None

    def _log(self, operation: str, context: str, started: float, outcome: str) -> None:
        logger.info(
            "Visma %s %s mot %s: %s (%.0f ms)",
            operation,
            context,
            self.endpoint,
            outcome,
            (time.monotonic() - started) * 1000,
        )


def build_send_envelope(
    selskap: str, buntreferanse: str, bases: Sequence[SoapBasis], testmodus: bool = False
) -> bytes:
    """The exact HTTP body `VismaClient.send()` posts for these bases (UTF-8 SOAP envelope).

    Raises ValueError for an empty or too large batch, a malformed `periode`, or text XML cannot
    carry (control characters)."""
    _check_batch(bases)
    return send_envelope(selskap, buntreferanse, bases, testmodus)


def _zeep_envelope(operation: str, kwargs: dict[str, Any]) -> bytes:
    operation_obj = _contract().service._binding.get(operation)
    envelope = operation_obj.create(**kwargs).content
    return etree.tostring(envelope, xml_declaration=True, encoding="utf-8")


def soap_action(operation: str) -> str:
    return f'"{NAMESPACE}#{operation}"'


# --- request building ----------------------------------------------------------------------------


def _headers(operation: str) -> dict[str, str]:
    return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": soap_action(operation)}


def _check_batch(bases: Sequence[SoapBasis]) -> None:
    if not bases:
        raise ValueError("send() needs at least one basis")
    if len(bases) > MAX_BASES_PER_CALL:
        raise ValueError(f"send() takes at most {MAX_BASES_PER_CALL} bases per call")


# --- reply reading -------------------------------------------------------------------------------


def _unwrap(reply: Any, name: str) -> list[Any]:
    # zeep hands back the inner list itself when a response element has a single child.
    if isinstance(reply, list):
        return reply
    return list(getattr(reply, name, None) or [])


def _status_result(node: Any) -> StatusResult:
    return StatusResult(
        referanse=node.referanse,
        tilstand=node.tilstand,
        grunnlag_id=node.grunnlagId or "",
        fakturanummer=node.fakturanummer or "",
        fakturadato=node.fakturadato,
        forfallsdato=node.forfallsdato,
        kid=node.kid or "",
        belop=node.belop,
    )


def _fault_error(fault: zeep.exceptions.Fault, context: str) -> VismaError:
    if not fault.code:
        # zeep's name for "HTTP error status, but no SOAP fault in the body".
        return TransientError(
            f"Svaret fra Visma kunne ikke leses ({context}).",
            code="UGYLDIG_SVAR",
            maybe_delivered=True,
        )
    code, tekst = "", ""
    detail = fault.detail
    if isinstance(detail, etree._Element):
        code = (detail.findtext(f"{{{NAMESPACE}}}feil/{{{NAMESPACE}}}kode") or "").strip()
        tekst = (detail.findtext(f"{{{NAMESPACE}}}feil/{{{NAMESPACE}}}tekst") or "").strip()
    tekst = _safe_server_text(tekst or fault.message or "")
    faultcode = (fault.code or "").rsplit(":", 1)[-1]
    if faultcode == "Client":
        return ClientFault(
            f"Visma avviste forespørselen ({code or 'ukjent feil'}): {tekst}",
            code=code or "UGYLDIG_FORESPORSEL",
        )
    return TransientError(
        f"Feil hos Visma ({code or 'TEKNISK_FEIL'}) under {context}: {tekst}",
        code=code or "TEKNISK_FEIL",
        maybe_delivered=False,
    )


_MAX_RETRY_AFTER = 3600.0


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the delay form only; an HTTP date is ignored), capped."""
    if not value or not value.strip().isdigit():
        return None
    return min(float(value.strip()), _MAX_RETRY_AFTER)


# An 11-digit run in a server's text is most likely a national id echoed back.
_NATIONAL_ID = re.compile(r"(?<![0-9])([0-9]{6})[0-9]{5}(?![0-9])")
_MAX_SERVER_TEXT = 300


def _safe_server_text(text: str) -> str:
    """A server's fault text as it may appear in messages and logs: masked and bounded."""
    text = _NATIONAL_ID.sub(r"\1*****", " ".join(text.split()))
    if len(text) > _MAX_SERVER_TEXT:
        text = text[: _MAX_SERVER_TEXT - 1] + "…"
    return text


def _transport_error(exc: requests.RequestException, operation: str) -> VismaError:
    """Sort a requests failure by whether the request may have reached the server."""
    if isinstance(exc, requests.exceptions.SSLError):
        if _is_certificate_problem(exc):
            return TlsError(
                "Vismas sertifikat ble ikke godtatt (sikker tilkobling kunne ikke bekreftes). "
                "Kontroller URL-en og serverens sertifikat.",
                code="TLS",
            )
        return TransientError(
            "Den sikre tilkoblingen (TLS) til Visma feilet.", code="TLS", maybe_delivered=True
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return TransientError(
            "Fikk ikke kontakt med Visma innen tidsfristen.", code="TIDSAVBRUDD_TILKOBLING"
        )
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return TransientError(
            f"Visma svarte ikke innen tidsfristen ({operation}).",
            code="TIDSAVBRUDD",
            maybe_delivered=True,
        )
    if isinstance(exc, requests.exceptions.ConnectionError) and _never_connected(exc):
        return TransientError(
            "Fikk ikke kontakt med Visma (tilkoblingen ble avvist eller adressen finnes ikke).",
            code="INGEN_TILKOBLING",
            maybe_delivered=False,
        )
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.InvalidSchema
        | requests.exceptions.MissingSchema,
    ):
        return ConfigurationError("URL-en til Visma er ugyldig.", code="UGYLDIG_URL")
    return TransientError(
        f"Forbindelsen til Visma ble brutt før svaret kom ({operation}).",
        code="BRUTT_FORBINDELSE",
        maybe_delivered=True,
    )


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    stack: list[object] = [exc]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or any(current is s for s in seen):
            continue
        seen.append(current)
        stack.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        stack.extend(current.args)
    return seen


def _never_connected(exc: BaseException) -> bool:
    """True when the TCP connection was never made (refused, DNS, unreachable): nothing sent."""
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    return any(
        isinstance(c, NewConnectionError | NameResolutionError | ConnectionRefusedError)
        for c in _causes(exc)
    )


def _is_certificate_problem(exc: BaseException) -> bool:
    import ssl

    return any(
        isinstance(c, ssl.SSLCertVerificationError | ssl.CertificateError) for c in _causes(exc)
    )
