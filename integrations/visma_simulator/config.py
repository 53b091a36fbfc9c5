"""Companies, their oppdragsgivere and varer, and the users allowed in: read from a JSON file.

The file's shape is `demo_company.json` (the default): `selskaper` with `oppdragsgivere` →
`varer`, and `brukere` with the companies each may use.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEMO_CONFIG_PATH = Path(__file__).resolve().parent / "demo_company.json"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Company:
    selskap: str
    navn: str
    # oppdragsgiver → set of varenr
    varer: dict[str, frozenset[str]]
    kid_method: str = "MOD10"
    betalingsfrist_dager: int = 14


@dataclass(frozen=True)
class User:
    username: str
    password: str
    selskaper: frozenset[str]


@dataclass(frozen=True)
class SimulatorConfig:
    companies: dict[str, Company]
    users: dict[str, User]
    tjenesteversjon: str = "1.0"
    allow_synthetic_ids: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def authenticate(self, username: str, password: str) -> User | None:
        user = self.users.get(username)
        # Compare even for unknown users so timing does not tell which names exist.
        expected = user.password if user else "\0" * max(len(password), 1)
        if hmac.compare_digest(expected.encode(), password.encode()) and user:
            return user
        return None

    def company_for(self, user: User, selskap: str) -> Company | None:
        if selskap not in user.selskaper:
            return None
        return self.companies.get(selskap)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulatorConfig:
        try:
            companies = {}
            for c in data["selskaper"]:
                varer = {
                    str(og): frozenset(str(v) for v in spec.get("varer", {}))
                    for og, spec in c.get("oppdragsgivere", {}).items()
                }
                kid_method = str(c.get("kid", "MOD10")).upper()
                if kid_method not in ("MOD10", "MOD11"):
                    raise ConfigError(f"kid must be MOD10 or MOD11, not {kid_method!r}")
                company = Company(
                    selskap=str(c["selskap"]),
                    navn=str(c["navn"]),
                    varer=varer,
                    kid_method=kid_method,
                    betalingsfrist_dager=int(c.get("betalingsfrist_dager", 14)),
                )
                companies[company.selskap] = company
            users = {}
            for u in data["brukere"]:
                user = User(
                    username=str(u["brukernavn"]),
                    password=str(u["passord"]),
                    selskaper=frozenset(str(s) for s in u.get("selskaper", [])),
                )
                users[user.username] = user
        except (KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"Simulator configuration is incomplete: {exc!r}") from exc
        return cls(
            companies=companies,
            users=users,
            tjenesteversjon=str(data.get("tjenesteversjon", "1.0")),
            allow_synthetic_ids=bool(data.get("tillat_syntetiske_id", True)),
        )

    @classmethod
    def load(cls, path: Path | str | None = None) -> SimulatorConfig:
        path = Path(path) if path else DEMO_CONFIG_PATH
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"Cannot read simulator configuration {path}: {exc}") from exc
        return cls.from_dict(data)
