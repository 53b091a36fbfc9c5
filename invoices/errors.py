"""The error every write of the domain raises when a rule forbids what was asked."""

from __future__ import annotations


class BasisActionError(Exception):
    """A status rule forbids the action; `message` is Bokmål for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
