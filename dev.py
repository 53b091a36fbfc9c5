#!/usr/bin/env python3
"""The two commands: `./dev.py up` starts the product, `./dev.py test` runs every check.

Needs only Python 3.11. It makes `.venv`, installs the pinned requirements (again only when they
change), and then runs everything from there. With DATABASE_URL and REDIS_URL in the environment
the same commands run on PostgreSQL and Redis; without them, on SQLite and a filesystem broker.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VAR_DIR = ROOT / "var"
PY = VENV / "bin" / "python"
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8000"))


def run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    print("$", " ".join(str(a) for a in args), flush=True)
    subprocess.run([str(a) for a in args], cwd=ROOT, check=True, env=env)


def ensure_venv(requirements: str) -> None:
    if not PY.exists():
        run(sys.executable, "-m", "venv", VENV)
    digest = hashlib.sha256()
    for name in ("requirements.txt", requirements):
        digest.update((ROOT / name).read_bytes())
    stamp = VENV / f".installed-{requirements}-{digest.hexdigest()[:16]}"
    if stamp.exists():
        return
    run(PY, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirements)
    for old in VENV.glob(f".installed-{requirements}-*"):
        old.unlink()
    stamp.touch()


def manage(*args: str, env: dict[str, str] | None = None) -> None:
    run(PY, "manage.py", *args, env=env)


def has_command(name: str) -> bool:
    out = subprocess.run(
        [str(PY), "manage.py", "help", "--commands"], cwd=ROOT, capture_output=True, text=True
    )
    return name in out.stdout.split()


def up() -> int:
    ensure_venv("requirements.txt")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    manage("migrate", "--noinput", env=env)
    manage("seed_demo", "--if-empty", env=env)
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> None:
        print("starting:", " ".join(args), flush=True)
        procs.append(subprocess.Popen([str(PY), *args], cwd=ROOT, env=env))

    if has_command("run_visma_simulator"):
        # A state file, so what the simulator stored survives a restart like a real Visma would.
        start(
            "manage.py",
            "run_visma_simulator",
            "--state",
            str(ROOT / "var" / "visma-simulator.sqlite3"),
        )
    start(
        "-m",
        "celery",
        "-A",
        "aidn_billing",
        "worker",
        "--beat",
        "--loglevel",
        "INFO",
        "--concurrency",
        "2",
        "--schedule",
        str(ROOT / "var" / "celerybeat-schedule"),
    )
    start("manage.py", "runserver", "--noreload", f"{HOST}:{PORT}")
    time.sleep(2)
    print(
        f"\n  Fakturaeksport kjører: http://{HOST}:{PORT}/\n"
        "  Demobrukere (passord = brukernavn + '-demo-2026'):\n"
        "    admin       – systemadministrator\n"
        "    merkantil   – merkantil / fakturaansvarlig\n"
        "    superbruker – superbruker\n"
        "  Ctrl-C stopper alt.\n",
        flush=True,
    )
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    return 0


def test(pytest_args: list[str]) -> int:
    """Every check, each run even when an earlier one failed, so one run shows all problems."""
    ensure_venv("requirements-dev.txt")
    env = {**os.environ, "DJANGO_ENV": "test"}
    if os.environ.get("CI"):
        env.setdefault("REQUIRE_ALL_SERVICES", "1")
    check_env = {**env, "DJANGO_ENV": "production", **PRODUCTION_CHECK_ENV}
    # The tests' own plugin (tests/skip_summary.py) writes its closing line here; printed last.
    VAR_DIR.mkdir(exist_ok=True)
    skip_file = VAR_DIR / f"pytest-skips-{os.getpid()}.txt"
    pytest_env = {**env, "PYTEST_SKIP_SUMMARY": str(skip_file)}
    steps: list[tuple[str, list[str | Path], dict[str, str]]] = [
        ("ruff", [PY, "-m", "ruff", "check", "."], env),
        ("ruff format", [PY, "-m", "ruff", "format", "--check", "."], env),
        ("mypy", [PY, "-m", "mypy", "."], env),
        ("import contracts", [VENV / "bin" / "lint-imports"], env),
        (
            "check --deploy",
            [PY, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
            check_env,
        ),
        ("pytest", [PY, "-m", "pytest", *pytest_args], pytest_env),
    ]
    failed = []
    for name, args, step_env in steps:
        print("$", " ".join(str(a) for a in args), flush=True)
        started = time.monotonic()
        code = subprocess.run([str(a) for a in args], cwd=ROOT, env=step_env).returncode
        print(f"[{name}: {'ok' if code == 0 else 'FAILED'} in {time.monotonic() - started:.0f} s]")
        if code != 0:
            failed.append(name)
    if failed:
        print("Failed:", ", ".join(failed), file=sys.stderr, flush=True)
    if skip_file.exists():
        print(skip_file.read_text(encoding="utf-8").strip(), flush=True)
        skip_file.unlink()
    else:
        print("pytest ended before it could count its skipped tests.", flush=True)
    return 1 if failed else 0


# Throwaway values that satisfy production's checks, only for `check --deploy` in the test command.
PRODUCTION_CHECK_ENV = {
    "DJANGO_SECRET_KEY": "check-deploy-" + "x7Kq9vB2mN4pL8rT1wZ6cY3hF5jD0sGa" * 2,
    "DJANGO_ALLOWED_HOSTS": "faktura.example.no",
    "DATABASE_URL": "postgres://user:pw@127.0.0.1:5432/check",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "FERNET_KEYS": "Y2hlY2stZGVwbG95LW9ubHkta2V5LTAxMjM0NTY3ODk=",
}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"up", "test"}:
        print("usage: ./dev.py up | ./dev.py test [pytest args]", file=sys.stderr)
        return 2
    os.chdir(ROOT)
    if sys.argv[1] == "up":
        return up()
    return test(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
