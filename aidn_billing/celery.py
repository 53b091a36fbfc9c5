"""The Celery application. Tasks live in each app's `tasks.py` and only call services."""

import logging.config
import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aidn_billing.settings")

app = Celery("aidn_billing")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_broker_folders(sender: Celery, **kwargs: object) -> None:
    """The filesystem broker needs its folders before the first message."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        folder = options.get(key)
        if folder:
            os.makedirs(folder, exist_ok=True)


@signals.setup_logging.connect
def _keep_django_logging(**kwargs: Any) -> None:
    """Workers and beat log like the web does (settings.LOGGING: one line per event, masked, with
    the export or transfer id); without a receiver here Celery would replace it with its own."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
