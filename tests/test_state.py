"""A basis's life in one place (`invoices.state`): every allowed transition moves, every other one
is refused before anything is written, and no product code writes the status column itself."""

from __future__ import annotations

import ast
import itertools
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from invoices import state
from invoices.models import BasisStatus, InvoiceBasis, Municipality
from tests import factories

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]
ALL = list(BasisStatus)
ALLOWED = [(a, b) for a in ALL for b in ALL if b in state.TRANSITIONS[a]]
REFUSED = [(a, b) for a in ALL for b in ALL if b not in state.TRANSITIONS[a]]


def test_the_table_is_the_life_the_spec_describes() -> None:
    assert set(state.TRANSITIONS) == set(BasisStatus)
    assert set(ALLOWED) == {
        (BasisStatus.RECEIVED, BasisStatus.APPROVED),
        (BasisStatus.APPROVED, BasisStatus.RECEIVED),
        (BasisStatus.APPROVED, BasisStatus.EXPORTED),
        (BasisStatus.APPROVED, BasisStatus.SENDING),
        (BasisStatus.SENDING, BasisStatus.SENT),
        (BasisStatus.SENDING, BasisStatus.FAILED),
        (BasisStatus.FAILED, BasisStatus.SENDING),
        (BasisStatus.FAILED, BasisStatus.RECEIVED),
    }
    # What has left the product never moves again: corrections are credit notes.
    assert not state.TRANSITIONS[BasisStatus.EXPORTED]
    assert not state.TRANSITIONS[BasisStatus.SENT]


@pytest.mark.parametrize(("frm", "to"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_every_allowed_transition_moves_only_bases_in_its_source_status(
    kommune_a: Municipality, frm: BasisStatus, to: BasisStatus
) -> None:
    mover = factories.basis(kommune_a, status=frm)
    # A basis in another status among the same ids is left alone and not counted.
    other = next(s for s in ALL if s != frm)
    bystander = factories.basis(kommune_a, status=other)
    old = timezone.now() - timedelta(days=3)
    InvoiceBasis.objects.filter(pk__in=[mover.pk, bystander.pk]).update(updated_at=old)

    with CaptureQueriesContext(connection) as queries:
        moved = state.transition([mover.pk, bystander.pk], frm=frm, to=to)

    assert moved == 1
    basis_updates = [q for q in queries if q["sql"].startswith('UPDATE "invoices_invoicebasis"')]
    assert len(basis_updates) == 1  # one statement for the set
    mover.refresh_from_db()
    bystander.refresh_from_db()
    assert mover.status == to and mover.updated_at > old
    assert bystander.status == other and bystander.updated_at == old


@pytest.mark.parametrize(("frm", "to"), REFUSED, ids=[f"{a}->{b}" for a, b in REFUSED])
def test_every_other_transition_is_refused_and_writes_nothing(
    kommune_a: Municipality, frm: BasisStatus, to: BasisStatus
) -> None:
    basis = factories.basis(kommune_a, status=frm)
    with CaptureQueriesContext(connection) as queries, pytest.raises(state.TransitionRefused):
        state.transition(InvoiceBasis.objects.filter(pk=basis.pk), frm=frm, to=to)
    assert not queries
    basis.refresh_from_db()
    assert basis.status == frm


def test_one_refused_source_among_several_refuses_the_whole_call(kommune_a: Municipality) -> None:
    approved = factories.basis(kommune_a, status=BasisStatus.APPROVED)
    with pytest.raises(state.TransitionRefused):
        state.transition(
            [approved.pk], frm=(BasisStatus.APPROVED, BasisStatus.SENT), to=BasisStatus.RECEIVED
        )
    approved.refresh_from_db()
    assert approved.status == BasisStatus.APPROVED


def test_many_bases_move_in_bounded_statements(
    kommune_a: Municipality, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state, "CHUNK", 2)
    ids = [factories.basis(kommune_a, status=BasisStatus.SENDING).pk for _ in range(5)]
    with CaptureQueriesContext(connection) as queries:
        assert state.mark_sent(ids) == 5
    basis_updates = [q for q in queries if q["sql"].startswith('UPDATE "invoices_invoicebasis"')]
    assert len(basis_updates) == 3
    assert set(InvoiceBasis.objects.values_list("status", flat=True)) == {BasisStatus.SENT}


def test_the_statements_do_not_grow_with_the_bases(kommune_a: Municipality) -> None:
    def statements(n: int) -> int:
        ids = [factories.basis(kommune_a, status=BasisStatus.RECEIVED).pk for _ in range(n)]
        with CaptureQueriesContext(connection) as queries:
            assert state.transition(ids, frm=BasisStatus.RECEIVED, to=BasisStatus.APPROVED) == n
        return len(queries)

    assert statements(2) == statements(40)


def test_named_steps_set_what_their_step_means(kommune_a: Municipality, admin_a: object) -> None:
    basis = factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    now = timezone.now() - timedelta(minutes=5)  # the approval's own time, not the clock's
    assert state.approve([basis.pk], by=admin_a, at=now) == 1
    basis.refresh_from_db()
    assert (basis.status, basis.approved_at, basis.approved_by_id) == ("approved", now, admin_a.pk)  # type: ignore[attr-defined]
    assert basis.updated_at == now

    assert state.mark_sending([basis.pk]) == 1
    assert state.mark_failed([basis.pk], refused=True) == 1
    basis.refresh_from_db()
    assert (basis.status, basis.refused_by_receiver) == ("failed", True)

    assert state.mark_sending([basis.pk], again=True) == 1
    basis.refresh_from_db()
    assert (basis.status, basis.refused_by_receiver) == ("sending", False)

    assert state.mark_failed([basis.pk], refused=True) == 1
    assert state.take_back([basis.pk]) == 1
    basis.refresh_from_db()
    assert (basis.status, basis.approved_at, basis.refused_by_receiver) == ("received", None, False)

    assert state.mark_exported([basis.pk]) == 0  # not approved: left alone

    # Taken back from approved, the basis forgets who approved it.
    assert state.approve([basis.pk], by=admin_a, at=now) == 1
    assert state.take_back([basis.pk]) == 1
    basis.refresh_from_db()
    assert (basis.status, basis.approved_at, basis.approved_by_id) == ("received", None, None)


PRODUCT = ("invoices", "exports", "integrations", "core", "aidn_billing")


def _status_writes(path: Path, root: Path = ROOT) -> list[str]:
    """`.update(status=BasisStatus…)` and `basis.status = BasisStatus…` in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        values: list[ast.expr] = []
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "update":
            values = [k.value for k in node.keywords if k.arg == "status"]
        elif isinstance(node, ast.Assign):
            values = [
                node.value
                for t in node.targets
                if isinstance(t, ast.Attribute) and t.attr == "status"
            ]
        for value in values:
            if "BasisStatus" in ast.unparse(value):
                found.append(f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}")
    return found


def test_no_product_code_writes_a_basis_status_outside_the_state_module() -> None:
    files = itertools.chain.from_iterable((ROOT / app).rglob("*.py") for app in PRODUCT)
    writes = [
        hit
        for path in files
        if "migrations" not in path.parts and path != ROOT / "invoices" / "state.py"
        for hit in _status_writes(path)
    ]
    assert writes == []


def test_the_guard_sees_a_status_write(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        "from invoices.models import BasisStatus, InvoiceBasis\n"
        "InvoiceBasis.objects.filter(pk=1).update(status=BasisStatus.SENT)\n"
        "basis.status = BasisStatus.APPROVED\n",
        encoding="utf-8",
    )
    assert sorted(_status_writes(planted, tmp_path)) == ["planted.py:2", "planted.py:3"]


def test_only_the_given_bases_move(kommune_a: Municipality) -> None:
    """By ids and by queryset alike: another basis in the same status is not touched."""
    given, other = (factories.basis(kommune_a, status=BasisStatus.SENDING) for _ in range(2))
    assert state.mark_sent([given.pk]) == 1
    assert InvoiceBasis.objects.get(pk=other.pk).status == BasisStatus.SENDING

    received = factories.basis(kommune_a, status=BasisStatus.RECEIVED)
    mixed = InvoiceBasis.objects.filter(pk__in=[other.pk, received.pk])
    assert state.transition(mixed, frm=BasisStatus.SENDING, to=BasisStatus.FAILED) == 1
    assert InvoiceBasis.objects.get(pk=other.pk).status == BasisStatus.FAILED
    assert InvoiceBasis.objects.get(pk=received.pk).status == BasisStatus.RECEIVED


def test_a_failure_is_not_a_refusal_unless_said(kommune_a: Municipality) -> None:
    basis = factories.basis(kommune_a, status=BasisStatus.SENDING)
    assert state.mark_failed([basis.pk]) == 1
    basis.refresh_from_db()
    assert (basis.status, basis.refused_by_receiver) == (BasisStatus.FAILED, False)


def test_a_refused_transition_names_itself() -> None:
    with pytest.raises(state.TransitionRefused) as exc:
        state.transition(
            [],
            frm=(BasisStatus.APPROVED, BasisStatus.SENT, BasisStatus.EXPORTED),
            to=BasisStatus.RECEIVED,
        )
    assert str(exc.value) == "sent, exported → received"
    with pytest.raises(state.TransitionRefused) as exc:
        state.transition([], frm=(), to=BasisStatus.RECEIVED)
    assert str(exc.value) == "(none) → received"
