"""Encryption of secrets at rest (the Visma password) with the keys in settings.FERNET_KEYS.

The first key encrypts; every key decrypts, so a key can be rotated by putting the new one first
and re-saving (`rotate`). Tokens are ASCII text, stored in an ordinary text column.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class SecretUnreadable(Exception):
    """The stored secret cannot be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FERNET_KEYS is empty")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured("FERNET_KEYS holds a key that is not a Fernet key") from exc


def _current() -> MultiFernet:
    return _fernet(tuple(settings.FERNET_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        raise SecretUnreadable(
            "Det lagrede passordet kan ikke leses med nøklene i FERNET_KEYS"
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt a token with the first (newest) key (SecretUnreadable if no key reads it)."""
    try:
        return _current().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError):
        raise SecretUnreadable("Hemmeligheten kan ikke leses med nøklene i FERNET_KEYS") from None


def is_current(token: str) -> bool:
    """Whether the token is encrypted with the first (newest) key."""
    keys = tuple(settings.FERNET_KEYS)
    try:
        _fernet(keys[:1]).decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError):
        return False
    return True
