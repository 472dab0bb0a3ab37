"""RPM versions: ``[epoch:]version[-release]`` compared with rpmvercmp (rpm 4.18 rules).

Separators (anything but ASCII letters, digits, ``~`` and ``^``) only split segments; digit
runs compare numerically and beat letter runs; ``~`` sorts before anything, even the end;
``^`` sorts after the end but before any further segment.
A missing release sorts before every release (rpm itself skips the release comparison when
either side lacks one, which is not a total order).
"""

from __future__ import annotations

from ._base import ASCII_DIGITS, ASCII_LETTERS, Reject, cmp

_CHARS = frozenset(ASCII_DIGITS | ASCII_LETTERS | set("._+~^"))

# Tokens: (0, "") tilde, (1, "") caret, (2, letters), (3, digits without leading zeros).
Token = tuple[int, str]
_TILDE, _CARET, _ALPHA, _NUM = 0, 1, 2, 3
Key = tuple[int, tuple[Token, ...], tuple[Token, ...]]


def _tokens(s: str) -> tuple[Token, ...]:
    out: list[Token] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "~":
            out.append((_TILDE, ""))
            i += 1
        elif c == "^":
            out.append((_CARET, ""))
            i += 1
        elif c in ASCII_DIGITS:
            j = i
            while j < n and s[j] in ASCII_DIGITS:
                j += 1
            out.append((_NUM, s[i:j].lstrip("0")))
            i = j
        elif c in ASCII_LETTERS:
            j = i
            while j < n and s[j] in ASCII_LETTERS:
                j += 1
            out.append((_ALPHA, s[i:j]))
            i = j
        else:
            i += 1
    return tuple(out)


def vercmp(a: tuple[Token, ...], b: tuple[Token, ...]) -> int:
    """rpmvercmp over pre-split tokens."""
    i = 0
    while True:
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        i += 1
        if (x is not None and x[0] == _TILDE) or (y is not None and y[0] == _TILDE):
            if x is None or x[0] != _TILDE:
                return 1
            if y is None or y[0] != _TILDE:
                return -1
            continue
        if (x is not None and x[0] == _CARET) or (y is not None and y[0] == _CARET):
            if x is None:
                return -1
            if y is None:
                return 1
            if x[0] != _CARET:
                return 1
            if y[0] != _CARET:
                return -1
            continue
        if x is None or y is None:
            return 0 if x is y else (-1 if x is None else 1)
        if x[0] != y[0]:
            return 1 if x[0] == _NUM else -1
        r = cmp(x[1], y[1]) if x[0] == _ALPHA else cmp(len(x[1]), len(y[1])) or cmp(x[1], y[1])
        if r:
            return r


def parse(v: str) -> Key:
    epoch = 0
    rest = v
    if ":" in v:
        e, rest = v.split(":", 1)
        if not e or not all(c in ASCII_DIGITS for c in e):
            raise Reject("epoch is not a number")
        epoch = int(e)
    version, release = rest, None
    if "-" in rest:
        version, release = rest.rsplit("-", 1)
        if not release:
            raise Reject("release is empty")
    if not version:
        raise Reject("version is empty")
    for part, name in ((version, "version"), (release or "", "release")):
        if not set(part) <= _CHARS:
            raise Reject(f"invalid character in {name}")
    return (epoch, _tokens(version), _tokens(release or ""))


def compare(a: Key, b: Key) -> int:
    return cmp(a[0], b[0]) or vercmp(a[1], b[1]) or vercmp(a[2], b[2])
