"""RubyGems versions (Gem::Version).

Segments are digit runs (integers) and letter runs (strings); ``-`` means ``.pre.``.
Trailing zeros are dropped from the release part and from the pre-release part; missing
segments count as 0; a string segment sorts before a number; a version with a letter is a
pre-release.
"""

from __future__ import annotations

import re

from ._base import Reject, cmp

_PATTERN = re.compile(r"[0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?")
_SEGMENT = re.compile(r"[0-9]+|[a-zA-Z]+")

Key = tuple[int | str, ...]


def parse(v: str) -> Key:
    if _PATTERN.fullmatch(v) is None:
        raise Reject("not a RubyGems version (digits, then dot-separated alphanumerics)")
    segments: list[int | str] = [int(s) if s.isdigit() else s for s in _SEGMENT.findall(v.replace("-", ".pre."))]
    first_str = next((i for i, s in enumerate(segments) if isinstance(s, str)), len(segments))
    release, pre = segments[:first_str], segments[first_str:]
    for part in (release, pre):
        while part and part[-1] == 0:
            part.pop()
    return tuple(release + pre)


def compare(a: Key, b: Key) -> int:
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else 0
        y = b[i] if i < len(b) else 0
        if x == y:
            continue
        if isinstance(x, str) and isinstance(y, int):
            return -1
        if isinstance(x, int) and isinstance(y, str):
            return 1
        return cmp(x, y)
    return 0
