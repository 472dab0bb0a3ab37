"""PyPI versions: PEP 440 via ``packaging.version`` (PyPA's reference implementation)."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from ._base import Reject, cmp


def parse(v: str) -> Version:
    try:
        return Version(v)
    except (InvalidVersion, ValueError) as e:
        raise Reject("not a PEP 440 version") from e


def compare(a: Version, b: Version) -> int:
    return cmp(a, b)
