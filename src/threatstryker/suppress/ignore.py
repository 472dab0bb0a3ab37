"""The ignore file (``.threatstryker-ignore.yaml``): loading, validating, and matching its entries.

Format::

    ignore:
      - id: CVE-2023-1234                 # a finding id or any of its aliases (exact, case-insensitive),
                                          # or a finding fingerprint
        package: pkg:deb/debian/openssl   # optional: a purl (without a version: every version; qualifiers
                                          # only compared when given) or a plain package name
        path: "/usr/lib/**"               # optional: glob on the finding's location paths
        reason: accepted risk, not reachable   # required
        expires: 2027-01-31               # optional ISO date: from that day on the entry no longer
                                          # suppresses, and it is reported

An entry needs a ``reason`` and at least one of ``id``, ``package`` and ``path``; every field it
gives must match (an entry with only ``path`` suppresses every finding under that path). ``package``
as a plain name is compared with the package name as the SBOM gives it (``openssl``,
``org.apache.logging.log4j:log4j-core``, ``@scope/name``; PEP 503 for Python packages). In ``path``
``*`` and ``?`` stay within one directory, ``**`` crosses directories; a glob that does not start
with ``/`` matches at any depth (``node_modules/**``), as ``--exclude`` does. ``ignore:`` left empty
is an empty list. Unknown keys, a missing reason, a bad date, a bad purl or a wrong shape are errors
naming the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import yaml
from packaging.utils import canonicalize_name

from threatstryker.sources.filetree import glob_to_regex

from ._files import SuppressionError
from .purls import PurlPattern
from .subject import Subject

KEYS: tuple[str, ...] = ("id", "package", "path", "reason", "expires")
_NULL = "tag:yaml.org,2002:null"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _compile_glob(pattern: str) -> re.Pattern[str]:
    if not pattern.startswith("/") and not pattern.startswith("**"):
        pattern = "**/" + pattern
    return re.compile(glob_to_regex(pattern.lstrip("/")) + r"\Z", re.DOTALL)


@dataclass(frozen=True, slots=True)
class IgnoreEntry:
    """One entry of an ignore file, with the file and line it starts on."""

    file: str
    line: int
    reason: str
    id: str | None = None
    package: str | None = None
    path: str | None = None
    expires: date | None = None

    @property
    def purl(self) -> PurlPattern | None:
        """``package`` as a purl pattern, when it is a purl."""
        return PurlPattern.parse(self.package) if self.package and self.package.startswith("pkg:") else None

    def describe(self) -> str:
        """The fields that select findings, e.g. ``id CVE-2023-1234, path /usr/lib/**``."""
        return ", ".join(f"{key} {value}" for key, value in (("id", self.id), ("package", self.package),
                                                              ("path", self.path)) if value)

    def expired(self, today: date) -> bool:
        """Whether the entry no longer suppresses on ``today`` (its expiry day included)."""
        return self.expires is not None and today >= self.expires


class EntryMatcher:
    """An entry prepared for matching many findings (purl parsed, glob compiled once)."""

    def __init__(self, entry: IgnoreEntry) -> None:
        self.entry = entry
        self._id = entry.id.casefold() if entry.id else None
        self._purl = entry.purl
        self._glob = _compile_glob(entry.path) if entry.path else None

    def matches(self, subject: Subject) -> bool:
        """Whether every field the entry gives matches ``subject``."""
        if self._id is not None and self._id not in subject.ids and self._id != subject.fingerprint:
            return False
        if self.entry.package is not None and not self._package_matches(subject):
            return False
        if self._glob is not None:
            glob = self._glob
            return any(glob.match(path.lstrip("/")) for path in subject.paths)
        return True

    def _package_matches(self, subject: Subject) -> bool:
        if self._purl is not None:
            return self._purl.covers(subject.purl)
        wanted = self.entry.package or ""
        if subject.ecosystem == "pypi":
            return canonicalize_name(wanted) == canonicalize_name(subject.name)
        return wanted == subject.name


class EntryIndex:
    """Entries prepared for matching many findings, indexed by case-folded id (entries without an id are
    tried on every finding)."""

    def __init__(self, entries: list[IgnoreEntry]) -> None:
        self.entries = entries
        self._matchers = [EntryMatcher(e) for e in entries]
        self._by_id: dict[str, list[int]] = {}
        self._without_id: list[int] = []
        for i, entry in enumerate(entries):
            if entry.id:
                self._by_id.setdefault(entry.id.casefold(), []).append(i)
            else:
                self._without_id.append(i)

    def matching(self, subject: Subject) -> list[int]:
        """Positions (in ``entries``, in order) of the entries that match ``subject``."""
        candidates = set(self._without_id)
        for key in (*subject.ids, subject.fingerprint):
            candidates.update(self._by_id.get(key, ()))
        return sorted(i for i in candidates if self._matchers[i].matches(subject))


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _scalar(node: yaml.Node, key: str, file: str) -> str | None:
    """The text of a scalar value (None for an explicit null); an error for a list or mapping."""
    if not isinstance(node, yaml.ScalarNode):
        raise SuppressionError(f"'{key}' must be a single value, not a list or mapping", file=file, line=_line(node))
    if node.tag == _NULL:
        return None
    return str(node.value).strip()


def _date(value: str, file: str, line: int) -> date:
    try:
        if _ISO_DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError as exc:
        raise SuppressionError(f"expires '{value}' is not a date ({exc})", file=file, line=line) from None
    raise SuppressionError(f"expires '{value}' is not a date (YYYY-MM-DD)", file=file, line=line)


def _entry(node: yaml.Node, file: str) -> IgnoreEntry:
    line = _line(node)
    if not isinstance(node, yaml.MappingNode):
        raise SuppressionError(f"an entry must be a mapping with keys {', '.join(KEYS)}", file=file, line=line)
    fields: dict[str, str] = {}
    expires: date | None = None
    for key_node, value_node in node.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else ""
        if key not in KEYS:
            raise SuppressionError(f"unknown key '{key}' (allowed: {', '.join(KEYS)})", file=file,
                                   line=_line(key_node))
        if key in fields:
            raise SuppressionError(f"'{key}' given twice in one entry", file=file, line=_line(key_node))
        value = _scalar(value_node, key, file)
        if not value:
            raise SuppressionError(f"'{key}' is empty", file=file, line=_line(value_node))
        fields[key] = value
        if key == "expires":
            expires = _date(value, file, _line(value_node))
        if key == "package" and value.startswith("pkg:"):
            try:
                PurlPattern.parse(value)
            except ValueError as exc:
                raise SuppressionError(f"package '{value}' is not a valid purl ({exc})", file=file,
                                       line=_line(value_node)) from None
    if "reason" not in fields:
        raise SuppressionError("entry has no 'reason'", file=file, line=line)
    if not any(key in fields for key in ("id", "package", "path")):
        raise SuppressionError("entry selects nothing: give at least one of id, package, path", file=file, line=line)
    return IgnoreEntry(file=file, line=line, reason=fields["reason"], id=fields.get("id"),
                       package=fields.get("package"), path=fields.get("path"), expires=expires)


def parse_ignore(text: str, file: str) -> list[IgnoreEntry]:
    """The entries of an ignore file's text; SuppressionError (``FILE:LINE: ...``) when it is malformed."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SuppressionError(f"invalid YAML: {problem}", file=file,
                               line=mark.line + 1 if mark is not None else None) from None
    if root is None:
        raise SuppressionError("empty; expected a mapping with an 'ignore' list", file=file)
    if not isinstance(root, yaml.MappingNode):
        raise SuppressionError("expected a mapping with an 'ignore' list", file=file, line=_line(root))
    entries: list[IgnoreEntry] = []
    seen = False
    for key_node, value_node in root.value:
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else ""
        if key != "ignore":
            raise SuppressionError(f"unknown key '{key}' (the file holds one key, 'ignore')", file=file,
                                   line=_line(key_node))
        if seen:
            raise SuppressionError("'ignore' given twice", file=file, line=_line(key_node))
        seen = True
        if isinstance(value_node, yaml.ScalarNode) and value_node.tag == _NULL:
            continue
        if not isinstance(value_node, yaml.SequenceNode):
            raise SuppressionError("'ignore' must be a list of entries", file=file, line=_line(value_node))
        entries.extend(_entry(item, file) for item in value_node.value)
    if not seen:
        raise SuppressionError("expected a mapping with an 'ignore' list", file=file, line=_line(root))
    return entries
