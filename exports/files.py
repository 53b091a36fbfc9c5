"""The files an export run writes: streamed through a SHA-256 on the way to disk, and the writers'
options built from the municipality's settings."""

from __future__ import annotations

import datetime
import hashlib
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from invoices.models import (
    AccountingSettings,
)

from .formats import agresso_cs15, agresso_lg04, visma_file
from .formats.types import WriteSummary
from .models import (
    ExportProfile,
    LineEnding,
)


class HashingWriter(io.RawIOBase):
    """Passes bytes to a file while computing their SHA-256 and size (a raw stream, so a writer
    may buffer it)."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self.size += view.nbytes
        self.raw.write(view)
        return view.nbytes

    def flush(self) -> None:
        self.raw.flush()


@dataclass
class Written:
    path: Path
    sha256: str
    size: int
    summary: WriteSummary


TMP_NAME = "exports/tmp"


def local_path(name: str) -> Path | None:
    """Where the storage keeps `name` on this host's filesystem; None for a storage without one
    (Django's base `Storage.path` raises NotImplementedError)."""
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:
        return None


def tmp_dir() -> Path:
    """Where a run writes its file before storing it: inside the storage's own directory when it
    has one, so `store()` is a rename on the same filesystem (atomic, also on a shared volume);
    else a local temporary directory, from which `store()` saves through the storage API."""
    path = local_path(TMP_NAME) or Path(tempfile.gettempdir()) / "aidn-billing-exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def remove_quietly(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _line_ending(profile: ExportProfile) -> Any:
    return "\r\n" if profile.line_ending == LineEnding.CRLF else "\n"


def visma_options(
    profile: ExportProfile,
    accounting: AccountingSettings,
    *,
    layout: str,
    reference_text: str = "",
) -> visma_file.VismaFileOptions:
    """The Visma writer's options from a municipality's profile and accounting settings
    (ValueError if invalid)."""
    return visma_file.VismaFileOptions(
        layout=layout,  # type: ignore[arg-type]
        encoding=profile.encoding,  # type: ignore[arg-type]
        line_ending=_line_ending(profile),
        quantity_decimals=profile.quantity_decimals,  # type: ignore[arg-type]
        default_oppdragsgiver=accounting.default_oppdragsgiver,
        kb_slots=tuple(accounting.kb_slots),
        reference_text=reference_text,
        include_zero_amount=True,  # zero-amount bases are left out by the selection
    )


def agresso_options(
    profile: ExportProfile,
    *,
    layout: str,
    batch_id: str,
    order_date: datetime.date | None = None,
) -> agresso_lg04.AgressoOptions:
    """The LG04 writer's options from a municipality's profile (ValueError if invalid)."""
    return agresso_lg04.AgressoOptions(
        layout=layout,  # type: ignore[arg-type]
        encoding=profile.encoding,  # type: ignore[arg-type]
        line_ending=_line_ending(profile),
        client=profile.agresso_client,
        voucher_type=profile.voucher_type,
        order_type=profile.order_type,
        pay_method=profile.pay_method,
        responsible=profile.responsible,
        responsible2=profile.responsible2,
        batch_id=batch_id,
        customer_mode=profile.customer_mode,  # type: ignore[arg-type]
        dim_slots=tuple(profile.dim_slots),
        required_slots=frozenset(profile.dim_required),
        header_text_template=profile.header_text_template,
        order_date=order_date or timezone.localdate(),
        include_zero_amount=True,
    )


def customer_file_options(profile: ExportProfile) -> agresso_cs15.CustomerFileOptions:
    return agresso_cs15.CustomerFileOptions(
        encoding=profile.encoding,  # type: ignore[arg-type]
        line_ending=_line_ending(profile),
        client=profile.agresso_client,
        customer_group=profile.cs15_customer_group,
        pay_method=profile.pay_method,
    )


def write_file(path: Path, render: Callable[[BinaryIO], WriteSummary]) -> Written:
    """Write a file at `path` through a SHA-256 with `render`, flushed to disk before it counts
    as written."""
    with open(path, "wb") as raw:
        out = HashingWriter(raw)
        summary = render(cast(BinaryIO, out))
        raw.flush()
        os.fsync(raw.fileno())
    return Written(path, out.digest.hexdigest(), out.size, summary)


def store(path: Path, name: str) -> str:
    """Move a finished temporary file into storage under `name`; the name it is stored under.

    The file is durable before this returns (the caller then commits the export as done): with a
    local directory, the rename and the directory entry are flushed to disk, so a crash cannot
    leave a finished export whose file is gone; otherwise the storage's own save is used.
    """
    target = local_path(name)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)  # same filesystem (tmp_dir): atomic, no copy
        _fsync_dir(target.parent)
        return name
    if default_storage.exists(name):
        default_storage.delete(name)
    with open(path, "rb") as fh:
        name = default_storage.save(name, File(fh))
    remove_quietly(path)
    return name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
