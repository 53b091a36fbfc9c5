"""The commands of the systemd units in deploy/systemd/, as the tests run them: so the documented
commands are the tested ones.

A unit's `ExecStart=` (or `ExecStartPre=`) is read as systemd would (line continuations, `%%`,
`${VAR}` from the environment), and the installation's fixed paths are mapped to where this
checkout and this test keep them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
INSTALL_DIR = "/opt/fakturaeksport"
STATE_DIR = "/var/lib/fakturaeksport"
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def read_unit(name: str) -> dict[str, list[str]]:
    """The [Service] section of a unit: key → every value it is given, in order."""
    text = (UNITS / name).read_text(encoding="utf-8").replace("\\\n", " ")
    section = ""
    values: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        if section == "Service":
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), []).append(value.strip())
    return values


def _map(word: str, paths: Mapping[str, str]) -> str:
    for fixed, here in paths.items():
        if word == fixed or word.startswith(fixed + "/"):
            return here + word[len(fixed) :]
    return word


def command(
    name: str, env: Mapping[str, str], paths: Mapping[str, str], key: str = "ExecStart"
) -> list[str]:
    """The unit's command line with `${VAR}` expanded from `env` and fixed paths mapped."""
    [line] = read_unit(name)[key]
    line = line.lstrip("-+@!:")  # systemd's prefixes (ignore failure, privileges)
    expanded = _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), line)
    return [_map(word.replace("%%", "%"), paths) for word in shlex.split(expanded)]


def environment(name: str, paths: Mapping[str, str]) -> dict[str, str]:
    """The unit's own `Environment=` values (paths mapped)."""
    result: dict[str, str] = {}
    for assignment in read_unit(name).get("Environment", []):
        key, _, value = assignment.partition("=")
        result[key] = _map(value, paths)
    return result
