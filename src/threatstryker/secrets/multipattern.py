"""The Hyperscan databases that answer, in one pass over a buffer, which rule regexes may match and which
keywords occur; with their build (exact, prefilter or Python-only per rule), dump and load.

Rule ``i`` reports id ``i``, keyword ``j`` id ``len(regexes) + j``; every pattern has
``HS_FLAG_SINGLEMATCH``, so a buffer costs at most one callback per pattern. A hit only makes a rule a
candidate: its Python regex always confirms and extracts, so Hyperscan may over-match but must never miss.
Hence a rule Hyperscan compiles as written is *exact*; one using constructs it lacks (lookaround,
backreferences...) or that it rejects is compiled with ``HS_FLAG_PREFILTER`` (a superset of the matches);
one it rejects even so, or whose syntax PCRE reads differently from Python (POSIX classes), is
*python*-only: left out and run on every buffer that holds one of its keywords. Large bounded repeats are
widened to unbounded ones in the Hyperscan expression (same guarantee, far faster compiles). Which
expression failed is found by compiling halves of the set, since the binding does not say.

Gated rules: Hyperscan is fast when every pattern holds a literal it can search for; one pattern made of
character classes only (``(?:^|[^A-Za-z0-9+/])([A-Za-z0-9+/]{40})``) makes it examine every byte and
slows the whole database about fourfold. Such a rule, when it has keywords, gets a database of its own
that scans only a buffer in which the main database found one of its keywords (which the rule needs
anyway). Rules without keywords stay in the main database whatever their regex.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import hyperscan

__all__ = ["EXACT", "PREFILTER", "PYTHON", "PatternDatabase", "database_key", "hs_expression",
           "required_literal_length"]

EXACT = "exact"
PREFILTER = "prefilter"
PYTHON = "python"
ABSENT = "absent"
FORMAT = 2
#: A rule with keywords whose regex holds no literal this long is gated (see the module text).
MIN_ANCHOR = 3
# The standard library's own regex parser (private, but what re.compile uses): for required literals.
_sre: Any = importlib.import_module("re._parser")

_LEADING_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")
# Constructs Hyperscan never compiles exactly; rules using them start in prefilter mode.
_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\(\?>|\(\?P=|\(\?\(|(?<!\\)\\[1-9]|[*+?}]\+")
# POSIX classes: PCRE reads "[[:alpha:]]" as letters, Python as a set of ":alph" and "]"; such rules stay in Python.
_POSIX_CLASS = re.compile(r"\[:\^?[a-z]+:\]")
_REPEAT = re.compile(r"\{(\d*),(\d+)\}")
#: Bounded repeats with a larger upper bound are left unbounded in the Hyperscan expression.
RELAX_ABOVE = 32


def _rewrite_repeats(expression: str) -> str:
    """Repeats rewritten for Hyperscan: ``{,n}`` (Python: 0 to n; PCRE reads it literally) as ``{0,n}``,
    and ``{m,n}`` with n above :data:`RELAX_ABOVE` as ``{m,}``. The second widens what Hyperscan matches
    (a hit is still confirmed by the Python regex) and keeps compile time and database size down: a large
    bounded repeat is what makes Hyperscan slow to compile. Escapes and character classes are left alone."""
    if "{" not in expression:
        return expression
    out: list[str] = []
    i = 0
    in_class = False
    while i < len(expression):
        c = expression[i]
        if c == "\\":
            out.append(expression[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
        elif c == "[":
            in_class = True
            out.append(c)
            i += 1
            if expression.startswith("^", i):
                out.append("^")
                i += 1
            if expression.startswith("]", i):
                out.append("]")
                i += 1
            continue
        elif c == "{":
            m = _REPEAT.match(expression, i)
            if m:
                low, high = m.group(1) or "0", m.group(2)
                out.append(f"{{{low},}}" if int(high) > RELAX_ABOVE else f"{{{low},{high}}}")
                i = m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


def hs_expression(regex: str) -> tuple[bytes, int]:
    """A rule regex (Python ``re`` syntax) as a Hyperscan expression and its flags: a leading ``(?i)``,
    ``(?s)`` or ``(?m)`` becomes the flag (``(?x)`` stays inline, ``a``/``u``/``L`` mean nothing on bytes)."""
    flags = hyperscan.HS_FLAG_SINGLEMATCH
    m = _LEADING_FLAGS.match(regex)
    prefix = ""
    if m:
        letters = m.group(1)
        flags |= hyperscan.HS_FLAG_CASELESS if "i" in letters else 0
        flags |= hyperscan.HS_FLAG_DOTALL if "s" in letters else 0
        flags |= hyperscan.HS_FLAG_MULTILINE if "m" in letters else 0
        prefix = "(?x)" if "x" in letters else ""
        regex = regex[m.end() :]
    return (prefix + _rewrite_repeats(regex)).encode("ascii"), flags


def _literal(keyword: str) -> bytes:
    return b"".join(bytes([b]) if chr(b).isalnum() else b"\\x%02x" % b for b in keyword.encode("utf-8"))


def database_key(regexes: Sequence[str], keywords: Sequence[str], rule_keywords: Sequence[Sequence[str]]) -> str:
    """SHA-256 (hex) of what a database is built from, with the Hyperscan binding version and our format."""
    version = getattr(hyperscan, "__version__", "")
    text = json.dumps([FORMAT, version, list(regexes), list(keywords), [list(k) for k in rule_keywords]],
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _collect(pattern_id: int, start: int, end: int, flags: int, found: object) -> None:
    cast(set[int], found).add(pattern_id)


def _compile(entries: Sequence[tuple[int, bytes, int]]) -> hyperscan.Database:
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=[e for _, e, _ in entries], ids=[i for i, _, _ in entries], elements=len(entries),
               flags=[f for _, _, f in entries])
    return db


def _failing(entries: Sequence[tuple[int, bytes, int]]) -> int | None:
    """The id of one entry Hyperscan rejects (found by halving), or None when only the whole set fails."""
    if len(entries) == 1:
        try:
            _compile(entries)
        except hyperscan.error:
            return entries[0][0]
        return None
    half = len(entries) // 2
    for part in (entries[:half], entries[half:]):
        try:
            _compile(part)
        except hyperscan.error:
            return _failing(part)
    return None


def _longest_literal(items: Any) -> int:
    """Length of the longest run of literal characters every match of a parsed pattern contains."""
    best = run = 0
    for op, av in items:
        if op is _sre.LITERAL:
            run += 1
            continue
        if op is _sre.AT:  # anchors and \b take no characters
            continue
        best, run = max(best, run), 0
        if op is _sre.SUBPATTERN:
            best = max(best, _longest_literal(av[-1]))
        elif op is _sre.ATOMIC_GROUP:
            best = max(best, _longest_literal(av))
        elif op is _sre.BRANCH:
            best = max(best, min(_longest_literal(alt) for alt in av[1]))
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT) and av[0] >= 1:
            best = max(best, _longest_literal(av[2]))
    return max(best, run)


def required_literal_length(regex: str) -> int:
    """Length of the longest literal every match of ``regex`` contains (0 when the parser cannot say)."""
    try:
        return _longest_literal(_sre.parse(regex))
    except (re.error, RecursionError, TypeError, ValueError, IndexError):
        return 0


def _build_stage(regexes: Sequence[str | None], keywords: Sequence[str]) -> tuple[hyperscan.Database | None,
                                                                                   list[str]]:
    expressions = [hs_expression(r) if r is not None else (b"", 0) for r in regexes]
    modes = [ABSENT if r is None else PYTHON if _POSIX_CLASS.search(r) else PREFILTER if _UNSUPPORTED.search(r)
             else EXACT for r in regexes]
    literals = [(len(regexes) + j, _literal(k), hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_CASELESS)
                for j, k in enumerate(keywords)]
    while True:
        entries = [(i, expr, flags | (hyperscan.HS_FLAG_PREFILTER if modes[i] == PREFILTER else 0))
                   for i, (expr, flags) in enumerate(expressions) if modes[i] in (EXACT, PREFILTER)] + literals
        if not entries:
            return None, modes
        try:
            return _compile(entries), modes
        except hyperscan.error as exc:
            bad = _failing(entries)
            if bad is None or bad >= len(regexes):
                raise ValueError(f"Hyperscan cannot compile the rule set: {exc}") from None
            modes[bad] = PREFILTER if modes[bad] == EXACT else PYTHON


def _dump(database: hyperscan.Database | None) -> bytes:
    return hyperscan.dumpb(database) if database is not None else b""


def _load(blob: bytes) -> hyperscan.Database | None:
    if not blob:
        return None
    try:
        database = hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK)
        database.scratch = hyperscan.Scratch(database)  # a loaded database comes without one
    except hyperscan.error as exc:
        raise ValueError(f"database does not load: {exc}") from None
    return database


@dataclass
class PatternDatabase:
    """The compiled stages, each rule's mode and the keywords. ``gated`` holds, per gated rule, its index,
    its keywords and its own database, scanned only when one of those keywords occurred. ``build_seconds``
    is 0.0 when loaded."""

    primary: hyperscan.Database | None
    modes: tuple[str, ...]
    keywords: tuple[str, ...]
    gated: tuple[tuple[int, tuple[str, ...], hyperscan.Database | None], ...] = ()
    build_seconds: float = 0.0

    def __post_init__(self) -> None:
        index = {k: len(self.modes) + j for j, k in enumerate(self.keywords)}
        self._gates = [(frozenset(index[k] for k in words if k in index), db)
                       for _, words, db in self.gated if db is not None]

    @property
    def gated_rules(self) -> tuple[int, ...]:
        """Indexes of the gated rules."""
        return tuple(i for i, _, _ in self.gated)

    @classmethod
    def build(cls, regexes: Sequence[str], keywords: Sequence[str],
              rule_keywords: Sequence[Sequence[str]] | None = None) -> PatternDatabase:
        """Compiles the rule regexes (exact, else prefilter, else left to Python) and the keywords
        (``rule_keywords``: each rule's); a rule with keywords whose regex holds no literal of
        :data:`MIN_ANCHOR` characters gets a database of its own, gated by its keywords."""
        started = time.perf_counter()
        per_rule = [tuple(k) for k in rule_keywords] if rule_keywords is not None else [()] * len(regexes)
        gated = [i for i, (r, kws) in enumerate(zip(regexes, per_rule, strict=True))
                 if kws and required_literal_length(r) < MIN_ANCHOR]
        skip = set(gated)
        primary, modes = _build_stage([None if i in skip else r for i, r in enumerate(regexes)], keywords)
        stages = []
        for i in gated:
            db, own_modes = _build_stage([r if j == i else None for j, r in enumerate(regexes)], ())
            modes[i] = own_modes[i]
            stages.append((i, per_rule[i], db))
        return cls(primary, tuple(modes), tuple(keywords), tuple(stages), time.perf_counter() - started)

    def hits(self, data: bytes) -> set[int]:
        """Ids of the rules that may match ``data`` and of the keywords that occur in it; a gated rule's
        database scans only a buffer holding one of its keywords."""
        found: set[int] = set()
        if self.primary is not None:
            self.primary.scan(data, match_event_handler=_collect, context=found)
        for ids, db in self._gates:
            if not ids.isdisjoint(found):
                db.scan(data, match_event_handler=_collect, context=found)
        return found

    def dump(self) -> tuple[dict[str, object], bytes]:
        """A JSON-ready header and the serialized databases, one after the other."""
        blobs = [_dump(self.primary)] + [_dump(db) for _, _, db in self.gated]
        header = {"format": FORMAT, "modes": list(self.modes), "keywords": list(self.keywords),
                  "gated": [[i, list(words)] for i, words, _ in self.gated], "sizes": [len(b) for b in blobs],
                  "sha256": hashlib.sha256(b"".join(blobs)).hexdigest()}
        return header, b"".join(blobs)

    @classmethod
    def load(cls, header: dict[str, object], blob: bytes) -> PatternDatabase:
        """The database :meth:`dump` wrote; ValueError when it is damaged or built for another platform."""
        if header.get("format") != FORMAT or header.get("sha256") != hashlib.sha256(blob).hexdigest():
            raise ValueError("database header does not match its content")
        modes, keywords, gated, sizes = (header.get(k) for k in ("modes", "keywords", "gated", "sizes"))
        if not (isinstance(modes, list) and isinstance(keywords, list) and isinstance(gated, list)
                and isinstance(sizes, list) and len(sizes) == len(gated) + 1 and sum(sizes) == len(blob)):
            raise ValueError("database header lacks modes, keywords or sizes")
        databases, offset = [], 0
        for size in sizes:
            databases.append(_load(blob[offset : offset + size]))
            offset += size
        stages = tuple((int(i), tuple(str(w) for w in words), db) for (i, words), db in zip(gated, databases[1:],
                                                                                          strict=True))
        return cls(databases[0], tuple(str(m) for m in modes), tuple(str(k) for k in keywords), stages)
