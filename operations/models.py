"""Signs of life of the background processes, read by the readiness probe (`health.py`)."""

from __future__ import annotations

from django.db import models


class Role(models.TextChoices):
    WORKER = "worker", "Celery worker"
    BEAT = "beat", "Celery beat"


class Heartbeat(models.Model):
    """The last time a worker (by its Celery node name) or beat (by host) said it was alive.

    One row per process name, overwritten in place: a restarted process keeps its row.
    """

    role = models.CharField(max_length=16, choices=Role.choices)
    name = models.CharField(max_length=200)
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["role", "name"], name="heartbeat_one_per_process")
        ]

    def __str__(self) -> str:
        return f"{self.role} {self.name} {self.seen_at:%Y-%m-%d %H:%M:%S}"
