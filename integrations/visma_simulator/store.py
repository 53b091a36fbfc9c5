"""What the simulated Visma has stored: bases by (selskap, referanse), rejections, invoices.

Thread-safe (one lock; each call's bases are decided and stored under it, so two concurrent calls
carrying the same referanse cannot both store it). In memory, and optionally mirrored to a SQLite
file so a restarted simulator still knows what it stored.
"""

from __future__ import annotations

import datetime
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from .rules import Message, ParsedBasis


@dataclass(slots=True)
class StoredBasis:
    selskap: str
    referanse: str
    grunnlag_id: str
    content: bytes  # the fakturagrunnlag element as first sent
    belop: int
    fakturanummer: str = ""
    fakturadato: datetime.date | None = None
    forfallsdato: datetime.date | None = None
    kid: str = ""

    @property
    def tilstand(self) -> str:
        return "FAKTURERT" if self.fakturanummer else "MOTTATT"


class Outcome(NamedTuple):
    referanse: str
    status: str
    grunnlag_id: str = ""
    messages: tuple[Message, ...] = ()


@dataclass(frozen=True)
class StatusRow:
    referanse: str
    tilstand: str
    stored: StoredBasis | None = None


@dataclass(slots=True)
class _Counts:
    received: int = 0  # times sent for real (not testmodus)
    duplikat: int = 0  # times answered DUPLIKAT


_SCHEMA = """
create table if not exists grunnlag (
    selskap text not null,
    referanse text not null,
    grunnlag_id text not null primary key,
    innhold blob not null,
    belop integer not null,
    fakturanummer text not null default '',
    fakturadato text,
    forfallsdato text,
    kid text not null default ''
);
create table if not exists avvist (
    selskap text not null,
    referanse text not null,
    primary key (selskap, referanse)
);
create table if not exists teller (navn text primary key, verdi integer not null);
"""


@dataclass
class Store:
    path: Path | None = None
    _stored: dict[tuple[str, str], list[StoredBasis]] = field(default_factory=dict)
    _rejected: set[tuple[str, str]] = field(default_factory=set)
    _counts: dict[tuple[str, str], _Counts] = field(default_factory=dict)
    _next_id: int = 1
    _next_invoice: int = 100001
    calls: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("pragma journal_mode=wal")
            self._db.execute("pragma synchronous=normal")
            self._db.executescript(_SCHEMA)
            self._load()

    def close(self) -> None:
        with self.lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # calls

    def count_call(self, operation: str) -> None:
        with self.lock:
            self.calls[operation] += 1

    def send(
        self,
        selskap: str,
        checked: Sequence[tuple[ParsedBasis, list[Message]]],
        *,
        testmodus: bool,
        dedup: bool = True,
    ) -> list[Outcome]:
        """Decide each basis in request order and store the accepted ones (unless testmodus)."""
        outcomes: list[Outcome] = []
        new_rows: list[StoredBasis] = []
        new_rejected: list[tuple[str, str]] = []
        with self.lock:
            # In testmodus nothing is stored, but a repeat within the call is still a repeat.
            seen_in_test: dict[str, bytes] = {}
            for basis, messages in checked:
                key = (selskap, basis.referanse)
                counts = None
                if not testmodus:
                    counts = self._counts.setdefault(key, _Counts())
                    counts.received += 1
                copies = self._stored.get(key)
                earlier = copies[0].content if copies else seen_in_test.get(basis.referanse)
                if earlier is not None and not basis.same_content(earlier):
                    used = Message(
                        "REFERANSE_BRUKT",
                        f"Referansen {basis.referanse} er allerede brukt med annet innhold",
                        "referanse",
                    )
                    outcomes.append(Outcome(basis.referanse, "AVVIST", messages=(used,)))
                    continue
                if earlier is not None and (testmodus or (dedup and copies)):
                    if testmodus:
                        outcomes.append(Outcome(basis.referanse, "VALIDERT"))
                    else:
                        assert copies is not None and counts is not None
                        counts.duplikat += 1
                        outcomes.append(Outcome(basis.referanse, "DUPLIKAT", copies[0].grunnlag_id))
                    continue
                if messages:
                    outcomes.append(Outcome(basis.referanse, "AVVIST", messages=tuple(messages)))
                    if not testmodus and not copies and key not in self._rejected:
                        self._rejected.add(key)
                        new_rejected.append(key)
                    continue
                if testmodus:
                    seen_in_test[basis.referanse] = basis.xml
                    outcomes.append(Outcome(basis.referanse, "VALIDERT"))
                    continue
                row = StoredBasis(
                    selskap=selskap,
                    referanse=basis.referanse,
                    grunnlag_id=f"G-{self._next_id:06d}",
                    content=basis.xml,
                    belop=basis.belop,
                )
                self._next_id += 1
                self._stored.setdefault(key, []).append(row)
                new_rows.append(row)
                outcomes.append(Outcome(basis.referanse, "MOTTATT", row.grunnlag_id))
            self._persist_send(new_rows, new_rejected)
        return outcomes

    def status(self, selskap: str, referanser: Sequence[str]) -> list[StatusRow]:
        rows = []
        with self.lock:
            for referanse in referanser:
                key = (selskap, referanse)
                copies = self._stored.get(key)
                if copies:
                    rows.append(StatusRow(referanse, copies[0].tilstand, copies[0]))
                elif key in self._rejected:
                    rows.append(StatusRow(referanse, "AVVIST"))
                else:
                    rows.append(StatusRow(referanse, "UKJENT"))
        return rows

    def invoice(
        self,
        selskap: str,
        referanser: Sequence[str] | None,
        *,
        fakturadato: datetime.date,
        forfallsdato: datetime.date,
        make_kid: Callable[[StoredBasis, str], str],
    ) -> list[StoredBasis]:
        """Move stored, not yet invoiced bases to FAKTURERT (all of the company's when
        `referanser` is None). Unknown or already invoiced references are skipped."""
        done: list[StoredBasis] = []
        with self.lock:
            if referanser is None:
                keys = [k for k in self._stored if k[0] == selskap]
            else:
                keys = [(selskap, r) for r in referanser]
            for key in keys:
                copies = self._stored.get(key)
                if not copies or copies[0].fakturanummer:
                    continue
                row = copies[0]
                fakturanummer = str(self._next_invoice)
                self._next_invoice += 1
                row.fakturanummer = fakturanummer
                row.fakturadato = fakturadato
                row.forfallsdato = forfallsdato
                row.kid = make_kid(row, fakturanummer)
                done.append(row)
            self._persist_invoices(done)
        return done

    def reset(self) -> None:
        with self.lock:
            self._stored.clear()
            self._rejected.clear()
            self._counts.clear()
            self.calls.clear()
            self._next_id = 1
            self._next_invoice = 100001
            if self._db is not None:
                self._db.execute("begin")
                for table in ("grunnlag", "avvist", "teller"):
                    self._db.execute(f"delete from {table}")  # noqa: S608 (fixed names)
                self._db.execute("commit")

    def stats(self, *, per_referanse: bool = True) -> dict[str, Any]:
        with self.lock:
            stored_total = sum(len(c) for c in self._stored.values())
            data: dict[str, Any] = {
                "calls": {**self.calls, "total": sum(self.calls.values())},
                "stored_total": stored_total,
                "stored_unique": len(self._stored),
                "stored_more_than_once": sorted(
                    f"{s}/{r}" for (s, r), c in self._stored.items() if len(c) > 1
                ),
                "duplikat_total": sum(c.duplikat for c in self._counts.values()),
                "received_total": sum(c.received for c in self._counts.values()),
                "rejected_unique": len(self._rejected),
                "invoiced_total": sum(1 for c in self._stored.values() if c[0].fakturanummer),
            }
            if per_referanse:
                per: dict[str, dict[str, dict[str, int]]] = {}
                for (selskap, referanse), counts in self._counts.items():
                    per.setdefault(selskap, {})[referanse] = {
                        "stored": len(self._stored.get((selskap, referanse), ())),
                        "received": counts.received,
                        "duplikat": counts.duplikat,
                    }
                for (selskap, referanse), copies in self._stored.items():
                    per.setdefault(selskap, {}).setdefault(
                        referanse, {"stored": len(copies), "received": 0, "duplikat": 0}
                    )
                data["per_referanse"] = per
        return data

    # persistence

    def _persist_send(self, rows: list[StoredBasis], rejected: list[tuple[str, str]]) -> None:
        if self._db is None or not (rows or rejected):
            return
        self._db.execute("begin")
        self._db.executemany(
            "insert into grunnlag (selskap, referanse, grunnlag_id, innhold, belop) "
            "values (?, ?, ?, ?, ?)",
            [(r.selskap, r.referanse, r.grunnlag_id, r.content, r.belop) for r in rows],
        )
        self._db.executemany("insert or ignore into avvist values (?, ?)", rejected)
        self._db.execute("insert or replace into teller values ('neste_id', ?)", (self._next_id,))
        self._db.execute("commit")

    def _persist_invoices(self, rows: list[StoredBasis]) -> None:
        if self._db is None or not rows:
            return
        self._db.execute("begin")
        self._db.executemany(
            "update grunnlag set fakturanummer = ?, fakturadato = ?, forfallsdato = ?, kid = ? "
            "where grunnlag_id = ?",
            [
                (
                    r.fakturanummer,
                    r.fakturadato.isoformat() if r.fakturadato else None,
                    r.forfallsdato.isoformat() if r.forfallsdato else None,
                    r.kid,
                    r.grunnlag_id,
                )
                for r in rows
            ],
        )
        self._db.execute(
            "insert or replace into teller values ('neste_faktura', ?)", (self._next_invoice,)
        )
        self._db.execute("commit")

    def _load(self) -> None:
        assert self._db is not None
        for row in self._db.execute(
            "select selskap, referanse, grunnlag_id, innhold, belop, fakturanummer, "
            "fakturadato, forfallsdato, kid from grunnlag order by rowid"
        ):
            stored = StoredBasis(
                selskap=row[0],
                referanse=row[1],
                grunnlag_id=row[2],
                content=row[3],
                belop=row[4],
                fakturanummer=row[5],
                fakturadato=datetime.date.fromisoformat(row[6]) if row[6] else None,
                forfallsdato=datetime.date.fromisoformat(row[7]) if row[7] else None,
                kid=row[8],
            )
            self._stored.setdefault((stored.selskap, stored.referanse), []).append(stored)
        self._rejected.update(
            (s, r) for s, r in self._db.execute("select selskap, referanse from avvist")
        )
        counters = dict(self._db.execute("select navn, verdi from teller").fetchall())
        self._next_id = int(counters.get("neste_id", 1))
        self._next_invoice = int(counters.get("neste_faktura", 100001))
