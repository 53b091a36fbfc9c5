"""`manage.py run_visma_simulator`: the local stand-in for Visma's `fakturering_ws`.

Needs no database. Binds loopback unless told otherwise; the control API (`/_sim/…`) answers
loopback clients only.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations.visma_simulator import Faults, SimulatorConfig, make_server
from integrations.visma_simulator.config import ConfigError


class Command(BaseCommand):
    help = "Starter en lokal simulator for Visma fakturering_ws (SOAP) med feilinjeksjon."
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (loopback).")
        parser.add_argument(
            "--port", type=int, default=None, help="Port (default VISMA_SIMULATOR_PORT, 8290)."
        )
        parser.add_argument("--config", help="Companies and users (JSON); default: demo company.")
        parser.add_argument("--state", help="SQLite file that keeps stored bases across restarts.")
        parser.add_argument(
            "--latency-ms",
            type=int,
            default=0,
            help="Response time of every call, processing included.",
        )
        parser.add_argument("--fail-rate", type=float, default=0.0, help="Share answered 503.")
        parser.add_argument(
            "--rate-limit-rate", type=float, default=0.0, help="Share answered 429."
        )
        parser.add_argument(
            "--server-fault-rate", type=float, default=0.0, help="Share answered Fault Server."
        )
        parser.add_argument(
            "--reset-rate", type=float, default=0.0, help="Share cut off before processing."
        )
        parser.add_argument(
            "--timeout-rate", type=float, default=0.0, help="Share answered too late (stored)."
        )
        parser.add_argument(
            "--timeout-seconds", type=float, default=65.0, help="How late a timed-out reply is."
        )
        parser.add_argument(
            "--drop-reply-rate",
            type=float,
            default=0.0,
            help="Share stored and then cut off without a reply.",
        )
        parser.add_argument(
            "--garbled-rate",
            type=float,
            default=0.0,
            help="Share stored and then answered with a reply cut off halfway.",
        )
        parser.add_argument("--seed", type=int, default=0, help="Seed of the fault sequence.")
        parser.add_argument(
            "--no-dedup",
            action="store_true",
            help="Store a resent referanse again instead of answering DUPLIKAT.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"] if options["port"] is not None else settings.VISMA_SIMULATOR_PORT
        try:
            faults = Faults(
                latency_ms=options["latency_ms"],
                http_5xx_rate=options["fail_rate"],
                http_429_rate=options["rate_limit_rate"],
                server_fault_rate=options["server_fault_rate"],
                reset_rate=options["reset_rate"],
                timeout_rate=options["timeout_rate"],
                timeout_seconds=options["timeout_seconds"],
                drop_reply_rate=options["drop_reply_rate"],
                garbled_rate=options["garbled_rate"],
                seed=options["seed"],
                dedup=not options["no_dedup"],
            )
            config = SimulatorConfig.load(options["config"])
            server = make_server(
                host=options["host"],
                port=port,
                config=config,
                faults=faults,
                state=options["state"],
            )
        except (ValueError, ConfigError, OSError) as exc:
            raise CommandError(str(exc)) from exc

        if not _is_loopback(options["host"]):
            self.stderr.write(
                self.style.WARNING(
                    "Simulatoren lytter på en adresse utenfor maskinen: bare for testrigger."
                )
            )
        self.stdout.write(f"Visma-simulator: {server.base_url}")
        for user in config.users.values():
            self.stdout.write(
                f"  bruker {user.username}, selskap {', '.join(sorted(user.selskaper))}"
            )
        if options["state"]:
            self.stdout.write(f"  tilstand lagres i {options['state']}")
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            server.store.close()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
