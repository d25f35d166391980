"""API keys: read from the environment only, checked before any work starts, never written anywhere.

Backends hold a key only inside the SDK client they build, and pass every error message through
`redact` before it can reach a log, a record or an exception.
"""

from __future__ import annotations

import os

from skillmix.errors import InputError


class MissingCredentialsError(InputError, RuntimeError):
    """A provider's key is not in the environment."""


def require_env(variable: str, *, alternatives: str) -> str:
    """The value of `variable`, or a `MissingCredentialsError` naming it and what else would work."""
    value = os.environ.get(variable, "").strip()
    if not value:
        raise MissingCredentialsError(f"{variable} is not set: export {variable}=... first. {alternatives}")
    return value


def redact(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` replaced by a placeholder."""
    if not secret:
        return text
    return text.replace(secret, "[redacted]")
