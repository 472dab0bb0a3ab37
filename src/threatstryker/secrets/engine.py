"""The secret engine: one Hyperscan pass picks candidate rules, their Python regexes extract exact matches,
and entropy, allowlists, ``requires`` proximity and inline ``threatstryker:allow`` decide what is reported.

Per buffer: Hyperscan reports which rule regexes may match and which keywords occur (one callback per
pattern at most); a rule is a candidate when its regex hit (or it is Python-only) and one of its keywords
occurs (or it has none), and its ``path`` and path allowlists let the file through. Only candidates run
their Python regex, on bytes; text is decoded (UTF-8, ``surrogateescape``) only around matches. With
``decode_depth`` > 0, base64/hex runs that decode to printable text are scanned again, down to that
depth and within ``max_decoded_bytes`` per file; their matches are placed at the encoded run.

The clear secret leaves the engine only inside :class:`SecretMatch` (``secret`` is left out of its
``repr``); nothing here logs or prints it.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..sources.filetree import glob_to_regex
from .allowlist import TEST_FIXTURE_PATH, CompiledAllowlist, is_placeholder
from .decode import DEFAULT_MAX_DECODED_BYTES, DecodeBudget, encoded_runs
from .entropy import shannon_entropy
from .multipattern import PREFILTER, PYTHON, PatternDatabase, database_key
from .ruleset import Rule, RuleSet, SensitiveFileRule

#: Confidence words, higher is surer (to choose among overlapping matches).
_CONFIDENCE = {"low": 1, "medium": 2, "high": 3}

__all__ = ["INLINE_ALLOW", "SecretEngine", "SecretMatch", "SensitiveMatch", "default_cache_dir"]

#: A line holding this text (in any comment syntax) reports no secret.
INLINE_ALLOW = b"threatstryker:allow"
#: The family of every sensitive-file match.
SENSITIVE_FAMILY = "sensitive-file"
#: Bytes of a file a sensitive-file ``content`` regex looks at.
HEAD_BYTES = 64 * 1024
#: Matches kept per rule and buffer; past this a file is a data dump, not a place a secret was pasted.
MAX_MATCHES_PER_RULE = 1000
#: Compiles faster than this are not worth a disk cache entry.
CACHE_THRESHOLD_SECONDS = 0.2
#: Compiled databases kept in the cache directory (the most recently written).
CACHE_KEEP = 8
_MAGIC = b"TSSECRETS1\n"
_CACHE_MAGIC = b"TSHSDB1\n"


@dataclass(frozen=True, slots=True)
class SecretMatch:
    """A secret found by a rule: 1-based ``line`` and ``column`` (characters of the line), byte offsets
    ``start``/``end`` of the secret, and for a secret found inside encoded text the chain of encodings
    (``base64``, ``hex``, ``base64/hex``) with line, column and offsets of the outermost encoded run."""

    rule_id: str
    family: str
    severity: str
    confidence: str
    description: str
    secret: str = field(repr=False)
    line: int
    column: int
    start: int
    end: int
    decoded_from: str | None = None


@dataclass(frozen=True, slots=True)
class SensitiveMatch:
    """A file that is sensitive by name (and content): ``line`` is where ``content`` matched, 0 for the name."""

    rule_id: str
    family: str
    severity: str
    confidence: str
    description: str
    path: str
    line: int = 0


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/threatstryker`` or ``~/.cache/threatstryker``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "threatstryker"


class _Lines:
    """Line numbers, line bounds and columns of offsets in one buffer: counted for a few offsets, indexed
    for many; the last line's bounds and the last column are kept, so matches along one long line (minified
    code) cost what lies between them, not the whole line each time."""

    __slots__ = ("_asked", "_bounds", "_column", "_newlines", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._newlines: list[int] | None = None
        self._asked = 0
        self._bounds = (0, -1)
        self._column = (-1, 0, 1)  # line start, offset, column there

    def number(self, pos: int) -> int:
        if self._newlines is None:
            self._asked += 1
            if self._asked <= 16:
                return self.data.count(b"\n", 0, pos) + 1
            self._newlines = [m.start() for m in re.finditer(b"\n", self.data)]
        return bisect.bisect_left(self._newlines, pos) + 1

    def bounds(self, pos: int) -> tuple[int, int]:
        start, end = self._bounds
        if start <= pos <= end:
            return start, end
        start = self.data.rfind(b"\n", 0, pos) + 1
        end = self.data.find(b"\n", pos)
        self._bounds = (start, len(self.data) if end < 0 else end)
        return self._bounds

    def column(self, pos: int) -> int:
        start, _ = self.bounds(pos)
        line, last, column = self._column
        # continue from the last offset when it is on this line, before pos, and not inside a UTF-8 sequence
        if not (line == start and last <= pos and self.data[last : last + 1] < b"\x80"):
            last, column = start, 1
        column += len(self.data[last:pos].decode("utf-8", "surrogateescape"))
        self._column = (start, pos, column)
        return column


@dataclass(slots=True)
class _Found:
    start: int
    end: int
    secret: str
    inline_allowed: bool
    line: int = 0
    column: int = 0


class _CompiledRule:
    __slots__ = ("allowlists", "group", "index", "keyword_ids", "mode", "path", "pattern", "rule")

    def __init__(self, rule: Rule, index: int, keyword_ids: frozenset[int], mode: str) -> None:
        self.rule = rule
        self.index = index
        self.pattern = re.compile(rule.regex.encode("ascii"))
        self.group = rule.secret_group
        self.keyword_ids = keyword_ids
        self.mode = mode
        self.path = re.compile(rule.path) if rule.path else None
        self.allowlists = tuple(CompiledAllowlist(a) for a in rule.allowlists)

    def span(self, m: re.Match[bytes]) -> tuple[int, int]:
        if self.group is not None:
            return m.span(self.group)
        for g in range(1, (self.pattern.groups or 0) + 1):
            start, end = m.span(g)
            if start < end:
                return start, end
        return m.span()


class _CompiledFileRule:
    __slots__ = ("content", "exclude", "include", "path_regexes", "rule")

    def __init__(self, rule: SensitiveFileRule) -> None:
        self.rule = rule
        self.include = re.compile("|".join(_glob(g) for g in rule.paths)) if rule.paths else None
        self.exclude = re.compile("|".join(_glob(g) for g in rule.exclude)) if rule.exclude else None
        self.path_regexes = tuple(re.compile(r) for r in rule.path_regexes)
        self.content = re.compile(rule.content.encode("ascii")) if rule.content else None

    def matches_path(self, path: str) -> bool:
        if not ((self.include is not None and self.include.fullmatch(path))
                or any(r.search(path) for r in self.path_regexes)):
            return False
        return self.exclude is None or not self.exclude.fullmatch(path)


def _glob(pattern: str) -> str:
    """A path glob as a regex for ``fullmatch`` on a path without its leading ``/``: a glob without a
    leading ``/`` matches at any depth."""
    if not pattern.startswith("/") and not pattern.startswith("**"):
        pattern = "**/" + pattern
    return f"(?:{glob_to_regex(pattern.lstrip('/'))})"


def _normal_path(path: str) -> str:
    path = path.replace("\\", "/")
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def _order(rules: Sequence[Rule]) -> list[int]:
    """Rule positions with every rule after the rules it requires (the rule set has no cycles)."""
    index = {r.id: i for i, r in enumerate(rules)}
    done: set[int] = set()
    order: list[int] = []

    def visit(i: int) -> None:
        if i in done:
            return
        done.add(i)
        for need in rules[i].requires:
            if need.rule in index:
                visit(index[need.rule])
        order.append(i)

    for i in range(len(rules)):
        visit(i)
    return order


class SecretEngine:
    """Compiled rules ready to scan buffers; build once, :meth:`serialize` for worker processes.

    ``decode_depth`` levels of base64/hex decoding (0: none) within ``max_decoded_bytes`` per file;
    ``skip_fixture_paths`` reports nothing under test-fixture directories (``fixtures/``, ``testdata/``...);
    the compiled Hyperscan database is cached under ``cache_dir`` (default :func:`default_cache_dir`)
    when compiling took more than 0.2 s, unless ``cache`` is False. Not thread-safe: one per thread or process.
    """

    def __init__(self, ruleset: RuleSet, *, decode_depth: int = 0,
                 max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES, skip_fixture_paths: bool = True,
                 cache: bool = True, cache_dir: str | os.PathLike[str] | None = None,
                 _database: PatternDatabase | None = None) -> None:
        if decode_depth < 0 or max_decoded_bytes < 0:
            raise ValueError("decode_depth and max_decoded_bytes must not be negative")
        self.ruleset = ruleset
        self.decode_depth = decode_depth
        self.max_decoded_bytes = max_decoded_bytes
        self.skip_fixture_paths = skip_fixture_paths
        rules = ruleset.rules
        keywords = sorted({k for r in rules for k in r.keywords})
        regexes = [r.regex for r in rules]
        self.cache_path: Path | None = None
        if _database is None:
            key = database_key(regexes, keywords, [r.keywords for r in rules])
            self.cache_path = Path(cache_dir) / f"secrets-{key[:32]}.hsdb" if cache_dir is not None \
                else default_cache_dir() / f"secrets-{key[:32]}.hsdb"
            _database = _read_cache(self.cache_path) if cache else None
            if _database is None:
                _database = PatternDatabase.build(regexes, keywords, [r.keywords for r in rules])
                if cache and _database.build_seconds >= CACHE_THRESHOLD_SECONDS:
                    _write_cache(self.cache_path, _database)
        if len(_database.modes) != len(rules) or list(_database.keywords) != keywords:
            raise ValueError("the compiled database does not belong to this rule set")
        self.database = _database
        keyword_id = {k: len(rules) + j for j, k in enumerate(keywords)}
        self._rules = [_CompiledRule(r, i, frozenset(keyword_id[k] for k in r.keywords), _database.modes[i])
                       for i, r in enumerate(rules)]
        self._rank = {i: rank for rank, i in enumerate(_order(rules))}
        self._python_only = [cr for cr in self._rules if cr.mode == PYTHON]
        self._by_id = {r.id: r for r in rules}
        self._global = tuple(CompiledAllowlist(a) for a in ruleset.allowlists)
        self._files = [_CompiledFileRule(f) for f in ruleset.files]
        globs = [_glob(g) for f in ruleset.files for g in f.paths]
        self._any_file = re.compile("|".join(globs)) if globs else None
        self._files_by_regex = [f for f in self._files if f.path_regexes]

    # ------------------------------------------------------------ introspection

    @property
    def fallback_rules(self) -> tuple[str, ...]:
        """Rules Hyperscan rejected even as a prefilter: run in Python on every buffer with their keywords."""
        return tuple(cr.rule.id for cr in self._rules if cr.mode == PYTHON)

    @property
    def gated_rules(self) -> tuple[str, ...]:
        """Rules in the second Hyperscan stage, which runs only on buffers holding one of their keywords."""
        return tuple(self._rules[i].rule.id for i in self.database.gated_rules)

    @property
    def prefilter_rules(self) -> tuple[str, ...]:
        """Rules Hyperscan matches only approximately (a hit is confirmed by the Python regex)."""
        return tuple(cr.rule.id for cr in self._rules if cr.mode == PREFILTER)

    # ------------------------------------------------------------ scanning

    def skips_path(self, path: str) -> bool:
        """Whether nothing in the file at ``path`` is reported (fixture directory or a global path allowlist)."""
        if not path:
            return False
        if self.skip_fixture_paths and TEST_FIXTURE_PATH.search(path):
            return True
        return any(a.allows_path(path) for a in self._global)

    def scan(self, data: bytes, path: str = "") -> list[SecretMatch]:
        """The secrets in ``data`` (the content of the file at ``path``, which path rules and allowlists
        look at), in order of position."""
        if not data or self.skips_path(path):
            return []
        return self._scan(data, path, self.decode_depth, DecodeBudget(self.max_decoded_bytes))

    def _candidates(self, hits: set[int], path: str) -> list[_CompiledRule]:
        rules = self._rules
        n = len(rules)
        picked = [rules[i] for i in hits if i < n]
        picked.extend(self._python_only)
        out = []
        for cr in picked:
            if cr.keyword_ids and cr.keyword_ids.isdisjoint(hits):
                continue
            if cr.path is not None and not cr.path.search(path):  # no path: a path-restricted rule does not apply
                continue
            if path and any(a.allows_path(path) for a in cr.allowlists):
                continue
            out.append(cr)
        out.sort(key=lambda cr: self._rank[cr.index])
        return out

    def _scan(self, data: bytes, path: str, depth: int, budget: DecodeBudget) -> list[SecretMatch]:
        hits = self.database.hits(data)
        results: list[SecretMatch] = []
        candidates = self._candidates(hits, path) if hits or self._python_only else []
        lines = _Lines(data)
        if candidates:
            inline = INLINE_ALLOW in data
            found: dict[str, list[_Found]] = {}
            for cr in candidates:
                items = self._extract(cr, data, path, lines, inline)
                if cr.rule.requires:
                    items = [f for f in items if _near(f, cr.rule, found)]
                found[cr.rule.id] = items
                if cr.rule.report:
                    rule = cr.rule
                    results.extend(
                        SecretMatch(rule.id, rule.family, rule.severity, rule.confidence, rule.description, f.secret,
                                    f.line, f.column, f.start, f.end) for f in items if not f.inline_allowed)
        if depth > 0:
            results.extend(self._scan_decoded(data, path, depth, budget, lines))
        results = self._most_specific(results)
        results.sort(key=lambda m: (m.start, m.rule_id))
        return results

    def _specificity(self, m: SecretMatch) -> tuple[int, int, int, int]:
        """How much a match says about what the secret is: a provider rule over a generic one, a rule whose own
        keyword is part of the secret (``ghp_...``) over one that matched the context around it
        (``_authToken=``), higher confidence, then the longer secret."""
        rule = self._by_id[m.rule_id]
        lowered = m.secret.lower()
        own_keyword = any(k in lowered for k in rule.keywords)
        return (rule.family != "generic", own_keyword, _CONFIDENCE.get(rule.confidence, 0), m.end - m.start)

    def _most_specific(self, matches: list[SecretMatch]) -> list[SecretMatch]:
        """One secret, one finding: of matches whose secrets overlap in the file, only the most specific is kept
        (a generic assignment rule and a provider rule both seeing ``TWILIO_AUTH_TOKEN=...``; a private-key rule
        inside a service-account JSON key). Decoded matches (no overlap in the encoded text) are kept as they are."""
        if len(matches) < 2:
            return matches
        ordered = sorted(matches, key=lambda m: (m.start, -m.end))
        kept: list[SecretMatch] = []
        group: list[SecretMatch] = []
        group_end = -1
        for m in ordered:
            if group and m.start < group_end and m.decoded_from is None and group[0].decoded_from is None:
                group.append(m)
                group_end = max(group_end, m.end)
                continue
            if group:
                kept.append(max(group, key=self._specificity))
            group, group_end = [m], m.end
        if group:
            kept.append(max(group, key=self._specificity))
        return kept

    def _extract(self, cr: _CompiledRule, data: bytes, path: str, lines: _Lines, inline: bool) -> list[_Found]:
        out: list[_Found] = []
        rule = cr.rule
        allowlists = (*cr.allowlists, *self._global)
        for m in self._matches(cr, data):
            start, end = cr.span(m)
            if start >= end:
                continue
            secret = data[start:end].decode("utf-8", "surrogateescape")
            if rule.entropy is not None and shannon_entropy(secret) < rule.entropy:
                continue
            if is_placeholder(secret):
                continue
            if allowlists and _allowed(allowlists, path, secret, m, lines):
                continue
            line_start, line_end = lines.bounds(start)
            allowed = inline and INLINE_ALLOW in data[line_start:line_end]
            out.append(_Found(start, end, secret, allowed, lines.number(start), lines.column(start)))
            if len(out) >= MAX_MATCHES_PER_RULE:
                break
        return out

    @staticmethod
    def _matches(cr: _CompiledRule, data: bytes) -> Iterator[re.Match[bytes]]:
        """The rule's regex over the whole content, or for a ``scope: line`` rule over each run of lines holding
        one of its keywords (from the newline before the run, so ``(?:^|\n)`` anchors still match)."""
        rule = cr.rule
        if rule.scope != "line" or not rule.keywords:
            yield from cr.pattern.finditer(data)
            return
        lowered = data.lower()
        spans: list[tuple[int, int]] = []
        for keyword in rule.keywords:
            needle = keyword.encode("ascii")
            at = lowered.find(needle)
            while at != -1:
                start = data.rfind(b"\n", 0, at)
                end = data.find(b"\n", at)
                spans.append((max(start, 0), len(data) if end == -1 else end + 1))
                at = lowered.find(needle, (len(data) if end == -1 else end + 1))
        spans.sort()
        merged: list[list[int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for start, end in merged:
            yield from cr.pattern.finditer(data, start, end)

    def _scan_decoded(self, data: bytes, path: str, depth: int, budget: DecodeBudget,
                      lines: _Lines) -> list[SecretMatch]:
        out: list[SecretMatch] = []
        inline = INLINE_ALLOW in data
        for run in encoded_runs(data, budget):
            if inline:
                line_start, line_end = lines.bounds(run.start)
                if INLINE_ALLOW in data[line_start:line_end]:
                    continue
            inner = self._scan(run.decoded, path, depth - 1, budget)
            if not inner:
                continue
            line, column = lines.number(run.start), lines.column(run.start)
            for m in inner:
                chain = run.kind if m.decoded_from is None else f"{run.kind}/{m.decoded_from}"
                out.append(SecretMatch(m.rule_id, m.family, m.severity, m.confidence, m.description, m.secret,
                                       line, column, run.start, run.end, chain))
        return out

    # ------------------------------------------------------------ sensitive files

    def match_sensitive_file(self, path: str, head: bytes = b"") -> list[SensitiveMatch]:
        """The sensitive-file rules ``path`` matches; a rule with ``content`` also needs its regex in the
        first 64 KiB of ``head``."""
        norm = _normal_path(path)
        if not norm or self.skips_path(norm):
            return []
        if (self._any_file is None or not self._any_file.fullmatch(norm)) and not self._files_by_regex:
            return []
        out = []
        for fr in self._files:
            if not fr.matches_path(norm):
                continue
            line = 0
            if fr.content is not None:
                window = head[:HEAD_BYTES]
                m = fr.content.search(window)
                if m is None:
                    continue
                line = window.count(b"\n", 0, m.start()) + 1
            rule = fr.rule
            out.append(SensitiveMatch(rule.id, SENSITIVE_FAMILY, rule.severity, rule.confidence, rule.description, path,
                                      line))
        return out

    # ------------------------------------------------------------ serialization

    def serialize(self) -> bytes:
        """The engine as bytes (rules, options and compiled database) for :meth:`from_serialized`."""
        db_header, blob = self.database.dump()
        header = json.dumps({
            "ruleset": self.ruleset.to_dict(), "database": db_header, "decode_depth": self.decode_depth,
            "max_decoded_bytes": self.max_decoded_bytes, "skip_fixture_paths": self.skip_fixture_paths,
        }, separators=(",", ":")).encode()
        return _MAGIC + len(header).to_bytes(8, "big") + header + blob

    @classmethod
    def from_serialized(cls, data: bytes) -> SecretEngine:
        """The engine :meth:`serialize` wrote, without compiling again (recompiled only when the database
        was built for another CPU); ValueError for anything else."""
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 8:
            raise ValueError("not a serialized secret engine")
        size = int.from_bytes(data[len(_MAGIC) : len(_MAGIC) + 8], "big")
        body = len(_MAGIC) + 8
        try:
            header = json.loads(data[body : body + size])
            ruleset = RuleSet.from_dict(header["ruleset"])
            decode_depth = int(header["decode_depth"])
            max_decoded_bytes = int(header["max_decoded_bytes"])
            skip_fixture_paths = bool(header["skip_fixture_paths"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"damaged serialized secret engine: {exc}") from None
        try:
            database: PatternDatabase | None = PatternDatabase.load(header["database"], data[body + size :])
        except ValueError:
            database = None
        return cls(ruleset, decode_depth=decode_depth, max_decoded_bytes=max_decoded_bytes,
                   skip_fixture_paths=skip_fixture_paths, cache=False, _database=database)


def _allowed(allowlists: Sequence[CompiledAllowlist], path: str, secret: str, m: re.Match[bytes],
             lines: _Lines) -> bool:
    def text(target: str) -> str:
        if target == "match":
            return m.group().decode("utf-8", "surrogateescape")
        start, end = lines.bounds(m.start())
        return lines.data[start:end].decode("utf-8", "surrogateescape")

    return any(a.allows(path, secret, text) for a in allowlists)


def _near(found: _Found, rule: Rule, earlier: dict[str, list[_Found]]) -> bool:
    """Whether every rule ``rule`` requires matched close enough to ``found`` (inline-allowed ones count)."""
    for need in rule.requires:
        if not any(abs(f.line - found.line) <= need.within_lines
                   and (need.within_columns is None or abs(f.column - found.column) <= need.within_columns)
                   for f in earlier.get(need.rule, ())):
            return False
    return True


def _read_cache(path: Path) -> PatternDatabase | None:
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    if not raw.startswith(_CACHE_MAGIC):
        return None
    header_end = raw.find(b"\n", len(_CACHE_MAGIC))
    try:
        header = json.loads(raw[len(_CACHE_MAGIC) : header_end])
        return PatternDatabase.load(header, raw[header_end + 1 :])
    except ValueError:
        return None


def _write_cache(path: Path, database: PatternDatabase) -> None:
    """Writes the database atomically; a cache that cannot be written is skipped."""
    header, blob = database.dump()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".secrets-", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(_CACHE_MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n" + blob)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return
    with contextlib.suppress(OSError):  # keep the newest few: every rule change leaves a database behind
        others = sorted((p for p in path.parent.glob("secrets-*.hsdb") if p != path), key=lambda p: p.stat().st_mtime,
                        reverse=True)
        for old in others[CACHE_KEEP - 1 :]:
            old.unlink()
