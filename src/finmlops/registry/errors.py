"""Errors of the registry runtime; each maps to one documented CLI exit code."""

from __future__ import annotations

from collections.abc import Sequence


class RegistryError(Exception):
    """Base class: something the caller asked for could not be done."""


class NotFoundError(RegistryError):
    """A model package group, version, manifest or deployment does not exist."""


class RefusedError(RegistryError):
    """A check refused the request; `problems` lists each reason, and no state was changed."""

    def __init__(self, what: str, problems: Sequence[str]):
        self.what = what
        self.problems = tuple(problems)
        listed = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{what} refused:\n{listed}")


class InvalidInputError(RegistryError):
    """Bad input from the caller; the message names the field."""


class ConflictError(RegistryError):
    """A write that must create a new object found one already there."""
