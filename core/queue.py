"""Handing work to a Celery task by its name.

A task is a thin wrapper that calls a service; the service that enqueues it must not import the
tasks module back. Looking the task up by name at call time keeps the imports one-way, and still
uses the registered task, so `CELERY_TASK_ALWAYS_EAGER` and routing apply as usual.
"""

from __future__ import annotations

from typing import Any

from celery import current_app


def enqueue(task_name: str, *args: Any, countdown: float | None = None) -> None:
    if task_name not in current_app.tasks:
        # A web process has not imported the apps' task modules yet: what a worker does at
        # start (autodiscovery) is done here once.
        current_app.loader.import_default_modules()
    task = current_app.tasks[task_name]
    if countdown:
        task.apply_async(args, countdown=countdown)
    else:
        task.apply_async(args)
