"""Debian/Ubuntu versions: Debian Policy 5.6.12 and dpkg's verrevcmp.

``[epoch:]upstream_version[-debian_revision]``. Each part is compared as alternating runs of
non-digits (letters sort before non-letters, ``~`` before everything, even the end) and
digits (numerically).
"""

from __future__ import annotations

from ._base import ASCII_DIGITS, ASCII_LETTERS, Reject, cmp

_UPSTREAM_CHARS = frozenset(ASCII_DIGITS | ASCII_LETTERS | set(".+~-:"))
_REVISION_CHARS = frozenset(ASCII_DIGITS | ASCII_LETTERS | set(".+~"))
_INT_MAX = 2**31 - 1

# A run: (weights of the non-digit run followed by a 0 terminator, numeric value of the digit run).
Run = tuple[tuple[int, ...], int]
Key = tuple[int, tuple[Run, ...], tuple[Run, ...]]
_PAD: Run = ((0,), 0)


def _weight(c: str) -> int:
    if c == "~":
        return -1
    if c in ASCII_LETTERS:
        return ord(c)
    return ord(c) + 256


def _runs(s: str) -> tuple[Run, ...]:
    runs: list[Run] = []
    i, n = 0, len(s)
    while i < n:
        j = i
        while j < n and s[j] not in ASCII_DIGITS:
            j += 1
        k = j
        while k < n and s[k] in ASCII_DIGITS:
            k += 1
        runs.append(((*(_weight(c) for c in s[i:j]), 0), int(s[j:k]) if k > j else 0))
        i = k
    while runs and runs[-1] == _PAD:  # an absent run compares like an empty one
        runs.pop()
    return tuple(runs)


def parse(v: str) -> Key:
    epoch = 0
    rest = v
    if ":" in v:
        e, rest = v.split(":", 1)
        if not e:
            raise Reject("epoch is empty")
        if not all(c in ASCII_DIGITS for c in e):
            raise Reject("epoch is not a number")
        epoch = int(e)
        if epoch > _INT_MAX:
            raise Reject("epoch is too big")
        if not rest:
            raise Reject("nothing after the epoch colon")
    upstream, revision = rest, ""
    if "-" in rest:
        upstream, revision = rest.rsplit("-", 1)
        if not revision:
            raise Reject("revision is empty")
    if not upstream:
        raise Reject("upstream version is empty")
    if upstream[0] not in ASCII_DIGITS:
        raise Reject("upstream version does not start with a digit")
    if not set(upstream) <= _UPSTREAM_CHARS:
        raise Reject("invalid character in upstream version")
    if not set(revision) <= _REVISION_CHARS:
        raise Reject("invalid character in revision")
    return (epoch, _runs(upstream), _runs(revision))


def _cmp_runs(a: tuple[Run, ...], b: tuple[Run, ...]) -> int:
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else _PAD
        y = b[i] if i < len(b) else _PAD
        if x != y:
            return cmp(x, y)
    return 0


def compare(a: Key, b: Key) -> int:
    return cmp(a[0], b[0]) or _cmp_runs(a[1], b[1]) or _cmp_runs(a[2], b[2])
