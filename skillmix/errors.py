"""The one base class for mistakes a user can fix (bad input files, settings, missing credentials).

Every such error's message names the file/line/field and the fix, so `cli.py` prints the message alone,
without a traceback, and exits with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class InputError(ValueError):
    """Bad input or set-up; the message says where and how to fix it."""
