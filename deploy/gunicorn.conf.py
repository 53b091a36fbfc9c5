"""gunicorn's settings for the web unit (deploy/systemd/fakturaeksport-web.service).

Read from the environment the unit loads (/etc/fakturaeksport/env): WEB_BIND, WEB_WORKERS,
WEB_THREADS, WEB_FORWARDED_ALLOW_IPS, and LOG_LEVEL / LOG_FORMAT for gunicorn's own lines, which
then look like the application's (core/logs.py).
"""

import os
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(APP))

from core.logs import logging_config  # noqa: E402  (needs the path above)

pythonpath = str(APP)
# Comma-separated; a port of 0 takes a free one (the address is in the "Listening at" line).
bind = [b.strip() for b in os.environ.get("WEB_BIND", "127.0.0.1:8000").split(",") if b.strip()]
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "gthread"
# Longer than the slowest page, shorter than the proxy's read timeout.
timeout = 60
graceful_timeout = 30
keepalive = 5
# Only the reverse proxy may tell gunicorn the original scheme and client address.
forwarded_allow_ips = os.environ.get("WEB_FORWARDED_ALLOW_IPS", "127.0.0.1")
logconfig_dict = logging_config(
    level=os.environ.get("LOG_LEVEL", "INFO"),
    fmt=os.environ.get("LOG_FORMAT", "plain"),
    extra_loggers={
        "gunicorn.error": {"level": "INFO", "propagate": True},
        # Requests are logged by the reverse proxy; here only what goes wrong.
        "gunicorn.access": {"level": "WARNING", "propagate": True},
    },
)
