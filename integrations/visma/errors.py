"""What can go wrong talking to Visma, sorted by what the caller must do about it.

Messages are Bokmål, for people, and never contain the password or the request body.
"""

from __future__ import annotations


class VismaError(Exception):
    """Base class. `permanent`: retrying the same call cannot help.
    `maybe_delivered`: the request may have reached Visma (ask HentStatus before resending)."""

    permanent = False
    maybe_delivered = False

    def __init__(self, message: str, *, code: str = "", maybe_delivered: bool | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        if maybe_delivered is not None:
            self.maybe_delivered = maybe_delivered


class AuthenticationFailed(VismaError):
    """HTTP 401/403: stop the whole run and tell the administrator."""

    permanent = True


class ClientFault(VismaError):
    """SOAP Fault Client (UGYLDIG_FORESPORSEL, FOR_MANGE_GRUNNLAG, UKJENT_SELSKAP): permanent for
    this call."""

    permanent = True


class TransientError(VismaError):
    """SOAP Fault Server, 429/502/503/504, refused/reset connections, timeouts: retry later.
    `retry_after`: seconds the server asked the caller to wait (HTTP Retry-After), if it did."""

    permanent = False
    retry_after: float | None = None


class ConfigurationError(VismaError):
    """The integration is not set up (or not enabled) for the municipality."""

    permanent = True


class TlsError(VismaError):
    """The server's certificate was not accepted (unknown issuer, wrong host name, expired):
    stop the run and tell the administrator; retrying cannot help."""

    permanent = True
