"""Alpine/Wolfi/Chainguard versions, as apk-tools compares them.

``digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}``; suffixes ``alpha beta pre rc`` sort
before the bare version, ``cvs svn git hg p`` after it. When all shared tokens are equal,
the version whose next token comes earlier in the order
digit < letter < suffix < suffix number < commit hash < revision < end is the greater one.
A dotted number with a leading zero compares as a string (``1.01 < 1.1``).
"""

from __future__ import annotations

from ._base import ASCII_DIGITS, Reject, cmp

INITIAL, DIGIT, LETTER, SUFFIX, SUFFIX_NO, COMMIT_HASH, REVISION_NO, END = range(8)
_SUFFIXES = {"alpha": 0, "beta": 1, "pre": 2, "rc": 3, "cvs": 5, "svn": 6, "git": 7, "hg": 8, "p": 9}
_SUFFIX_NONE = 4
_LOWER = frozenset("abcdefghijklmnopqrstuvwxyz")
_HEX = frozenset("0123456789abcdefABCDEF")

Token = tuple[int, int | str]
Key = tuple[Token, ...]


def _span(s: str, i: int, chars: frozenset[str]) -> int:
    while i < len(s) and s[i] in chars:
        i += 1
    return i


def parse(v: str) -> Key:
    j = _span(v, 0, ASCII_DIGITS)
    if j == 0:
        raise Reject("must start with a digit")
    tokens: list[Token] = [(INITIAL, int(v[:j]))]
    last, i, n = INITIAL, j, len(v)
    while i < n:
        c = v[i]
        if c in _LOWER:
            if last > DIGIT:
                raise Reject(f"letter {c!r} not allowed here")
            tok: Token = (LETTER, c)
            i += 1
        elif c == "." or c in ASCII_DIGITS:
            if c == ".":
                if last > DIGIT:
                    raise Reject("'.' not allowed after a letter or suffix")
                i += 1
            if last in (INITIAL, DIGIT):
                kind = DIGIT
            elif last == SUFFIX:
                kind = SUFFIX_NO
            else:
                raise Reject("digits not allowed here")
            j = _span(v, i, ASCII_DIGITS)
            if j == i:
                raise Reject("missing number")
            tok = (kind, v[i:j] if kind == DIGIT else int(v[i:j]))
            i = j
        elif c == "_":
            if last > SUFFIX_NO:
                raise Reject("suffix not allowed here")
            j = _span(v, i + 1, _LOWER)
            name = v[i + 1 : j]
            if name not in _SUFFIXES:
                raise Reject(f"unknown suffix {name!r}")
            tok = (SUFFIX, _SUFFIXES[name])
            i = j
        elif c == "~":
            if last >= COMMIT_HASH:
                raise Reject("commit hash not allowed here")
            j = _span(v, i + 1, _HEX)
            if j == i + 1:
                raise Reject("empty commit hash")
            tok = (COMMIT_HASH, v[i + 1 : j])
            i = j
        elif c == "-":
            if last >= REVISION_NO or not v.startswith("-r", i):
                raise Reject("'-' must start a single -rN revision")
            j = _span(v, i + 2, ASCII_DIGITS)
            if j == i + 2:
                raise Reject("revision has no number")
            tok = (REVISION_NO, int(v[i + 2 : j]))
            i = j
        else:
            raise Reject(f"invalid character {c!r}")
        tokens.append(tok)
        last = tok[0]
    return tuple(tokens)


def _token_cmp(x: Token, y: Token) -> int:
    kind, a, b = x[0], x[1], y[1]
    if kind == DIGIT:
        assert isinstance(a, str) and isinstance(b, str)
        if a[0] == "0" or b[0] == "0":
            return cmp(a, b)
        return cmp(len(a), len(b)) or cmp(a, b)
    return cmp(a, b)


def compare(a: Key, b: Key) -> int:
    end: Token = (END, 0)
    i = 0
    while True:
        x = a[i] if i < len(a) else end
        y = b[i] if i < len(b) else end
        i += 1
        if x[0] != y[0]:
            break
        if x[0] == END:
            return 0
        r = _token_cmp(x, y)
        if r:
            return r
    if x[0] == SUFFIX and int(x[1]) < _SUFFIX_NONE:
        return -1
    if y[0] == SUFFIX and int(y[1]) < _SUFFIX_NONE:
        return 1
    return -1 if x[0] > y[0] else 1
