from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aidn_billing.celery import app as celery_app
from invoices.models import Municipality, Service
from tests.intake import helpers


@pytest.fixture
def services_a(kommune_a: Municipality) -> dict[str, Service]:
    return helpers.catalogue(kommune_a)


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks enqueued by name run at once in this process (the product's own enqueue)."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks: Any, eager_celery: None) -> Any:
    """`with on_commit():` runs what the block's transactions left for after their commit:
    here, the warnings' refresh."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
