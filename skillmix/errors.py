"""The one base class for mistakes a user can fix (bad input files, settings, missing credentials).

Every such error's message names the file/line/field and the fix, so `cli.py` prints the message alone,
without a traceback, and exits with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input or set-up; the message says where and how to fix it."""


class UnknownNameError(InputError, KeyError):
    """A name (skill, template, ...) that is not among the known ones; also a `KeyError` for lookups."""

    def __str__(self) -> str:  # KeyError's own __str__ would print the message in quotes
        return str(self.args[0]) if self.args else ""
