"""Composer (Packagist) versions: Composer's VersionParser::normalize, then PHP's version_compare.

Normalisation: optional ``v``; up to four numbers (missing ones become .0) or a date-like
version; stability suffixes (a/alpha, b/beta, RC, p/pl/patch, stable) with an optional number
and an optional trailing ``dev``; ``+build`` metadata and ``@stability`` flags are dropped;
``1.x-dev`` style branches become ``1.9999999.9999999.9999999-dev``. Other ``dev-`` branches
have no order and are rejected.
Comparison (version_compare): dev < alpha = a < beta = b < RC = rc < number < p = pl = patch;
unknown words sort first.
"""

from __future__ import annotations

import re

from ._base import ASCII_DIGITS, Reject, cmp

_MODIFIER = r"[._-]?(?:(stable|beta|b|RC|alpha|a|patch|pl|p)((?:[.-]?[0-9]+)*+)?)?([.-]?dev)?"
_CLASSICAL = re.compile(r"v?([0-9]{1,5}+)(\.[0-9]++)?(\.[0-9]++)?(\.[0-9]++)?" + _MODIFIER, re.IGNORECASE)
_DATE = re.compile(r"v?([0-9]{4}(?:[.:-]?[0-9]{2}){1,6}(?:[.:-]?[0-9]{1,3})?)" + _MODIFIER, re.IGNORECASE)
_STABILITY_FLAG = re.compile(r"@(?:stable|RC|beta|alpha|dev)$", re.IGNORECASE)
_BUILD = re.compile(r"([^,\s+]++)\+\S++")
_DEV_BRANCH = re.compile(r"(.*?)[.-]?dev", re.IGNORECASE)
_BRANCH_PART = r"(\.(?:[0-9]++|[xX*]))?"
_NUMERIC_BRANCH = re.compile(r"v?([0-9]++)" + _BRANCH_PART * 3, re.IGNORECASE)
_EXPAND = {"a": "alpha", "b": "beta", "p": "patch", "pl": "patch", "rc": "RC"}

# PHP's special forms, matched by prefix in this order; numbers rank as "#".
_SPECIAL = (
    ("dev", 0),
    ("alpha", 1),
    ("a", 1),
    ("beta", 2),
    ("b", 2),
    ("RC", 3),
    ("rc", 3),
    ("#", 4),
    ("pl", 5),
    ("p", 5),
)
_NUMBER_RANK = 4
Token = tuple[int, int]
Key = tuple[Token, ...]
_PAD: Token = (_NUMBER_RANK, -1)  # a missing part: below any number, equal rank to "#"


def normalize(v: str) -> str:
    m = _STABILITY_FLAG.search(v)
    if m:
        v = v[: m.start()]
    if v in ("master", "trunk", "default") or v[:4].lower() == "dev-":
        raise Reject("dev branches have no version order")
    m = _BUILD.fullmatch(v)
    if m:
        v = m.group(1)
    m = _CLASSICAL.fullmatch(v)
    index = 5
    if m:
        out = m.group(1) + "".join(m.group(i) or ".0" for i in (2, 3, 4))
    else:
        m = _DATE.fullmatch(v)
        index = 2
        if m:
            out = re.sub(r"[^0-9]", ".", m.group(1))
    if m:
        stability = m.group(index)
        if stability:
            if stability == "stable":
                return out
            number = m.group(index + 1) or ""
            out += "-" + _EXPAND.get(stability.lower(), stability.lower()) + number.lstrip(".-")
        if m.group(index + 2):
            out += "-dev"
        return out
    m = _DEV_BRANCH.fullmatch(v)
    if m:
        b = _NUMERIC_BRANCH.fullmatch(m.group(1))
        if b:
            rest = [g[1:] if g and g[1:] not in ("x", "X", "*") else "9999999" for g in b.groups()[1:]]
            parts = [b.group(1), *rest]
            return ".".join(parts) + "-dev"
    raise Reject("not a Composer version")


def _canonical_parts(s: str) -> list[str]:
    # php_canonicalize_version: -_+ and other non-alphanumerics become '.', and a '.' goes
    # between every digit/non-digit transition.
    out: list[str] = []
    cur = ""
    for c in s:
        if not c.isalnum() or not c.isascii():
            if cur:
                out.append(cur)
            cur = ""
        elif cur and (cur[-1] in ASCII_DIGITS) != (c in ASCII_DIGITS):
            out.append(cur)
            cur = c
        else:
            cur += c
    if cur:
        out.append(cur)
    return out


def _rank(word: str) -> int:
    for name, rank in _SPECIAL:
        if word.startswith(name):
            return rank
    return -1


def parse(v: str) -> Key:
    normalized = normalize(v)
    return tuple(
        (_NUMBER_RANK, int(p)) if p[0] in ASCII_DIGITS else (_rank(p), 0) for p in _canonical_parts(normalized)
    )


def compare(a: Key, b: Key) -> int:
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else _PAD
        y = b[i] if i < len(b) else _PAD
        if x != y:
            return cmp(x, y)
    return 0
