"""Who did something: a logged-in user, an anonymous request, or the system itself (None)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

if TYPE_CHECKING:
    from django.contrib.auth.models import User

Actor = AbstractBaseUser | AnonymousUser | None


def user_or_none(actor: Actor) -> User | None:
    """The user to store in a `created_by`/`updated_by` column: None for the system and for an
    anonymous request."""
    if actor is None or not actor.is_authenticated:
        return None
    return cast("User", actor)


def user_id(actor: Actor) -> int | None:
    user = user_or_none(actor)
    return user.pk if user is not None else None
