"""Every setting the product reads is in .env.example and named in docs/operations.md, so an IT
department reading either sees all of them: Django's (aidn_billing/settings.py), gunicorn's
(deploy/gunicorn.conf.py) and the units' own (deploy/systemd/)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_READS = re.compile(
    r"""(?:env\.\w+|_required_in_production|os\.environ\.get)\(\s*["']([A-Z][A-Z0-9_]+)["']"""
)
_UNIT_VARS = re.compile(r"\$\{([A-Z][A-Z0-9_]+)\}")


def settings_read() -> set[str]:
    names = set(_READS.findall((ROOT / "aidn_billing" / "settings.py").read_text()))
    names |= set(_READS.findall((ROOT / "deploy" / "gunicorn.conf.py").read_text()))
    for unit in (ROOT / "deploy" / "systemd").glob("*.service"):
        names |= set(_UNIT_VARS.findall(unit.read_text()))
    return names


def test_the_scan_finds_the_settings() -> None:
    found = settings_read()
    assert {
        "DJANGO_SECRET_KEY",
        "FERNET_KEYS",
        "LOG_FORMAT",
        "WEB_BIND",
        "WORKER_CONCURRENCY",
    } <= found


def test_every_setting_is_in_env_example_and_operations_doc() -> None:
    listed = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    doc = (ROOT / "docs" / "operations.md").read_text()
    read = settings_read()
    assert read - listed == set(), "missing from .env.example"
    assert listed - read == set(), "in .env.example but read nowhere"
    assert {name for name in read if f"`{name}`" not in doc} == set(), "not in docs/operations.md"
