"""Shared pieces of the version schemes: the error, the length cap and small helpers."""

from __future__ import annotations

#: Longer inputs are rejected before any parsing, so hostile strings cannot cost time or memory.
#: Real version strings of every supported ecosystem are far shorter (npm itself caps at 256).
MAX_LENGTH = 512

ASCII_DIGITS = frozenset("0123456789")
ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class InvalidVersion(ValueError):
    """A version string that is not valid in the named scheme."""

    def __init__(self, scheme: str, version: object, reason: str) -> None:
        self.scheme = scheme
        self.version = version
        self.reason = reason
        super().__init__(f"invalid {scheme} version {shorten(version)}: {reason}")


class Reject(ValueError):
    """Raised by a scheme's parser with just the reason; the API adds scheme and version."""


def shorten(version: object) -> str:
    if isinstance(version, str) and len(version) > 80:
        return f"{version[:60]!r}... ({len(version)} characters)"
    return repr(version)


def cmp(a: object, b: object) -> int:
    return (a > b) - (a < b)  # type: ignore[operator]


def is_digits(s: str) -> bool:
    return bool(s) and all(c in ASCII_DIGITS for c in s)
