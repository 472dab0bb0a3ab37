"""SemVer 2.0.0 (semver.org) and its ecosystem dialects: npm, Cargo and Go modules/toolchains.

Precedence: major, minor, patch numerically; a pre-release sorts before its release;
pre-release identifiers compare numerically when all digits, ASCII-wise otherwise, numeric
before alphanumeric, a shorter list first. Build metadata is ignored.
"""

from __future__ import annotations

import re

from ._base import Reject

_NUM = r"(0|[1-9][0-9]*)"
_IDENT = r"[0-9A-Za-z-]+"
_DOTTED = rf"{_IDENT}(?:\.{_IDENT})*"
_SEMVER = re.compile(rf"{_NUM}\.{_NUM}\.{_NUM}(?:-({_DOTTED}))?(?:\+({_DOTTED}))?")
# golang.org/x/mod/semver also accepts the shorthands vMAJOR and vMAJOR.MINOR (no pre-release).
_GO_SHORT = re.compile(rf"{_NUM}(?:\.{_NUM})?")
# Go toolchain names (go/version): go1, go1.21, go1.21rc1, go1.9beta2, go1.21.3.
_GO_TOOLCHAIN = re.compile(rf"go{_NUM}(?:\.{_NUM}(?:(beta|rc){_NUM}|\.{_NUM})?)?")
_NPM_MAX_SAFE = 2**53 - 1

PreId = tuple[int, int, str]
Key = tuple[int, int, int, int, tuple[PreId, ...]]


def _pre_key(pre: str | None) -> tuple[int, tuple[PreId, ...]]:
    if pre is None:
        return 1, ()
    ids: list[PreId] = []
    for ident in pre.split("."):
        if ident.isdigit():
            if len(ident) > 1 and ident[0] == "0":
                raise Reject(f"numeric pre-release identifier {ident!r} has a leading zero")
            ids.append((0, int(ident), ""))
        else:
            ids.append((1, 0, ident))
    return 0, tuple(ids)


def parse_semver(v: str) -> Key:
    m = _SEMVER.fullmatch(v)
    if m is None:
        raise Reject("not MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]")
    flag, ids = _pre_key(m.group(4))
    return (int(m.group(1)), int(m.group(2)), int(m.group(3)), flag, ids)


def parse_npm(v: str) -> Key:
    """node-semver's strict parse: an optional leading ``v``; numbers up to 2**53-1."""
    key = parse_semver(v[1:] if v[:1] == "v" else v)
    if max(key[:3]) > _NPM_MAX_SAFE:
        raise Reject("number larger than Number.MAX_SAFE_INTEGER")
    return key


def parse_go(v: str) -> Key:
    """Go module versions (``v`` optional, as OSV writes them) and toolchain names ``go1.N...``.

    Toolchains map the way the Go vulnerability database does: go1.21rc1 -> 1.21.0-rc.1,
    go1.9beta2 -> 1.9.0-beta.2. The language version go1.21 sorts before go1.21rc1 for
    Go 1.21 and later (go/version); before 1.21, go1.N was the name of release 1.N.0.
    """
    m = _GO_TOOLCHAIN.fullmatch(v)
    if m is not None:
        major, minor, kind, n, patch = m.groups()
        mj, mn = int(major), int(minor or 0)
        if kind is not None:
            return (mj, mn, 0, 0, ((1, 0, kind), (0, int(n), "")))
        if patch is not None:
            return (mj, mn, int(patch), 1, ())
        if mj == 1 and mn >= 21 and minor is not None:
            return (mj, mn, 0, 0, ((0, 0, ""),))  # the language version, 1.N.0-0
        return (mj, mn, 0, 1, ())
    body = v[1:] if v[:1] == "v" else v
    short = _GO_SHORT.fullmatch(body)
    if short is not None:
        return (int(short.group(1)), int(short.group(2) or 0), 0, 1, ())
    return parse_semver(body)
