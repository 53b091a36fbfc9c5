"""Fault injection: what the simulator does to a SOAP call instead of (or after) answering it.

Every call draws once from a seeded generator, so a run with the same seed and the same order of
calls meets the same faults. The outcomes, in the order their rates are stacked:

| outcome | stored? | the client sees |
| --- | --- | --- |
| `http_429` | no | HTTP 429 |
| `http_5xx` | no | HTTP 503 |
| `server_fault` | no | SOAP Fault Server `TEKNISK_FEIL` (HTTP 500) |
| `reset` | no | the connection closed (RST) without a reply |
| `timeout` | yes | the reply only after `timeout_seconds` (past the client's read timeout) |
| `drop_reply` | yes | the connection closed (RST) after storing: the reply is lost |
| `garbled` | yes | HTTP 200 with the reply cut off halfway (unreadable XML) |

`latency_ms` is the response time of every call (processing included), before any of these.
"""

from __future__ import annotations

import dataclasses
import random
import threading
from dataclasses import dataclass, field
from typing import Any

OUTCOMES = (
    "http_429",
    "http_5xx",
    "server_fault",
    "reset",
    "timeout",
    "drop_reply",
    "garbled",
)
OPERATIONS = ("Ping", "SendFakturagrunnlag", "HentStatus")


@dataclass(frozen=True)
class Faults:
    latency_ms: int = 0
    http_429_rate: float = 0.0
    http_5xx_rate: float = 0.0
    server_fault_rate: float = 0.0
    reset_rate: float = 0.0
    timeout_rate: float = 0.0
    drop_reply_rate: float = 0.0
    garbled_rate: float = 0.0
    timeout_seconds: float = 65.0
    # Which operations the rates apply to (latency applies to all).
    operations: tuple[str, ...] = OPERATIONS
    seed: int = 0
    # False: a resend of a stored referanse is stored again (a service that does not deduplicate).
    dedup: bool = True

    def __post_init__(self) -> None:
        rates = [getattr(self, f"{o}_rate") for o in OUTCOMES]
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0 + 1e-9:
            raise ValueError("fault rates must be in [0, 1] and add up to at most 1")
        if self.latency_ms < 0 or self.timeout_seconds < 0:
            raise ValueError("latency_ms and timeout_seconds must not be negative")
        unknown = set(self.operations) - set(OPERATIONS)
        if unknown:
            raise ValueError(f"unknown operations: {sorted(unknown)}")

    def replace(self, **changes: Any) -> Faults:
        names = {f.name for f in dataclasses.fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        if "operations" in changes:
            changes["operations"] = tuple(changes["operations"])
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["operations"] = list(self.operations)
        return data


@dataclass
class FaultInjector:
    faults: Faults = field(default_factory=Faults)
    injected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        # Not for security: a reproducible sequence of faults.
        self._random = random.Random(self.faults.seed)  # noqa: S311

    def configure(self, faults: Faults) -> None:
        with self._lock:
            reseed = faults.seed != self.faults.seed
            self.faults = faults
            if reseed:
                self._random = random.Random(faults.seed)  # noqa: S311

    def decide(self, operation: str) -> tuple[Faults, str]:
        """The fault settings in force and the outcome for one call ("" = answer normally)."""
        with self._lock:
            faults = self.faults
            draw = self._random.random()
            if operation not in faults.operations:
                return faults, ""
            threshold = 0.0
            for outcome in OUTCOMES:
                threshold += getattr(faults, f"{outcome}_rate")
                if draw < threshold:
                    self.injected[outcome] += 1
                    return faults, outcome
            return faults, ""

    def reset_counts(self) -> None:
        with self._lock:
            self.injected = dict.fromkeys(OUTCOMES, 0)
