from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Running the product: health probes, heartbeats of workers and beat, request ids in the logs,
    the restore check and key rotation. It may see every app; no app imports it."""

    name = "operations"
    verbose_name = "Drift"

    def ready(self) -> None:
        from . import heartbeat, logins, middleware

        heartbeat.connect_signals()
        logins.connect_signals()
        middleware.connect_signals()
