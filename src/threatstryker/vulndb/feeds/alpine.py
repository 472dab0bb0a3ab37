"""Read the Alpine security database ("secdb", ``secfixes``) into :class:`Advisory` objects.

A secdb file covers one release and repository (``v3.11/main.yaml``; the current service
publishes the same structure as JSON, ``https://secdb.alpinelinux.org/v3.20/main.json``)::

    distroversion: v3.11
    reponame: main
    packages:
      - pkg:
          name: openssl
          secfixes:
            1.1.1d-r2:          # the first package version with the fixes below
              - CVE-2019-1551
            "0":                # not affected in this release
              - CVE-2016-0682

:func:`parse_secdb` turns one decoded file into one :class:`Advisory` per advisory id (the
CVE id, or ``XSA-...``/``TALOS-...``/``wnpa-sec-...`` when an entry names no CVE), each with
one :class:`Affected` per package: ecosystem ``Alpine:<distroversion>`` and an ``ECOSYSTEM``
range ``introduced "0"``, ``fixed <version>`` (versions in the ``apk`` scheme). :func:`iter_records`
reads a file or a directory of them and merges what every file says about the same id into one
advisory, so each id is yielded once.

**Not affected** (the ``"0"`` key): the package in that release never shipped the flaw (a
different code base, a whitelisted closed-source issue...). It is kept as an :class:`Affected`
with *no ranges and no versions* and ``database_specific["not_affected"] = True``. Under OSV
rules such an entry matches no version, so a plain matcher reports nothing; a matcher that
also holds the same CVE from another feed (NVD, OSV upstream) should use the marker to
suppress that CVE for this package in this release.

**Entries with extra text**: an entry is searched for ids, so ``"CVE-2019-5060 TALOS-2019-0844"``,
``"CVE-2018-14462 (ICMP)"`` and ``"CVE-2017-5753 CVE-2017-5715 XSA-254 XPTI"`` all work: every
CVE found is an advisory, other ids in the same entry become its aliases (and are advisories
of their own only when the entry has no CVE). Small slips seen in the real data are repaired
(``CVE 2018-16859``, ``CVE_2019-2426``, ``CVE-2017-8073.patch``, ``CVE-2017-17434-1``); when the
entry was not exactly the id, the entry as written is kept in the affected package's
``database_specific["entries"]``. An entry with no id at all is an error.

Malformed input never raises from the iterators: each problem is yielded as a one-line
:class:`AdvisoryError` naming the file (and package/version) and the rest of the file is still
read. Files over :data:`MAX_FILE_BYTES` are skipped and at most :data:`MAX_ENTRIES` entries are
read from one file (a YAML alias bomb cannot make us walk it).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..advisory import Advisory, AdvisoryError, Affected, Event, Range, Reference, normalise_name, split_ecosystem
from ..versions import InvalidVersion, compare, parse
from ._files import feed_files, read_feed_file

__all__ = ["MAX_ENTRIES", "MAX_FILE_BYTES", "SOURCE", "AdvisoryError", "iter_records", "load_secdb", "parse_secdb"]

#: The ``source`` tag of the affected entries this feed produces.
SOURCE = "alpine-secdb"
#: Largest secdb file read (bytes); the biggest real one (v3.11/main) is about 60 kB.
MAX_FILE_BYTES = 16 * 1024 * 1024
#: Most package + version + entry items read from one file.
MAX_ENTRIES = 1_000_000
#: The key meaning "not affected in this release".
NOT_AFFECTED = "0"

_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SUFFIXES = (".yaml", ".yml", ".json")
_CVE = re.compile(r"CVE[-_ ](\d{4})-(\d{4,})(?!\d)", re.IGNORECASE)
_OTHER_ID = re.compile(r"\b(XSA-\d+|TALOS-\d{4}-\d{4}|ZBX-\d+|wnpa-sec-\d{4}-\d+)\b", re.IGNORECASE)
_RELEASE = re.compile(r"v\d+\.\d+|edge")


@dataclass
class _Pending:
    """What is known about one (id, release, package) while reading."""

    fixed: list[str] = field(default_factory=list)
    not_affected: bool = False
    aliases: list[str] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)
    repos: list[str] = field(default_factory=list)


# key: advisory id -> (ecosystem, package) -> _Pending
_Acc = dict[str, dict[tuple[str, str], _Pending]]


def entry_ids(entry: str) -> tuple[list[str], list[str]]:
    """The advisory ids and their aliases named in one secfixes entry.

    ``"CVE-2017-5753 CVE-2017-5715 XSA-254 XPTI"`` -> ``(["CVE-2017-5753", "CVE-2017-5715"], ["XSA-254"])``;
    ``"XSA-254"`` -> ``(["XSA-254"], [])``; text with no id -> ``([], [])``.
    """
    cves = _dedupe(f"CVE-{m.group(1)}-{m.group(2)}" for m in _CVE.finditer(entry))
    others = _dedupe(_canonical_other(m.group(1)) for m in _OTHER_ID.finditer(entry))
    return (cves, others) if cves else (others, [])


def _canonical_other(token: str) -> str:
    return token if token.lower().startswith("wnpa-sec-") else token.upper()


def _dedupe(items: Any) -> list[str]:
    return list(dict.fromkeys(items))


# ---------------------------------------------------------------------------------------------
# one file


def parse_secdb(data: Any, source: str = "") -> Iterator[Advisory | AdvisoryError]:
    """Yield the advisories of one decoded secdb file (or an error for each bad part)."""
    acc: _Acc = {}
    yield from _collect(data, source, acc)
    yield from _build(acc, source)


def load_secdb(raw: bytes, source: str, *, json_format: bool = False) -> Iterator[Advisory | AdvisoryError]:
    """Decode one secdb YAML (or JSON) file and yield its advisories and errors."""
    acc: _Acc = {}
    yield from _load_into(raw, source, acc, json_format=json_format)
    yield from _build(acc, source)


def _load_into(raw: bytes, source: str, acc: _Acc, *, json_format: bool) -> Iterator[AdvisoryError]:
    try:
        data = json.loads(raw) if json_format else yaml.load(raw, Loader=_SafeLoader)  # noqa: S506 - safe loader
    except RecursionError:
        yield AdvisoryError("file is nested too deeply", source=source)
        return
    except (ValueError, yaml.YAMLError) as exc:
        yield AdvisoryError(f"not valid {'JSON' if json_format else 'YAML'}: {_first_line(exc)}", source=source)
        return
    yield from _collect(data, source, acc)


def _collect(data: Any, source: str, acc: _Acc) -> Iterator[AdvisoryError]:
    """Check one decoded file and add what it says to ``acc``; yield its errors."""
    if not isinstance(data, dict):
        yield AdvisoryError(f"file is a {type(data).__name__}, not a secdb object", source=source)
        return
    release = data.get("distroversion")
    if not isinstance(release, str) or not _RELEASE.fullmatch(release.strip()):
        yield AdvisoryError(f"'distroversion' is not a release like v3.11: {_show(release)}", source=source)
        return
    release = release.strip()
    repo = data.get("reponame")
    repo = repo.strip() if isinstance(repo, str) else ""
    packages = data.get("packages")
    if packages is None:  # real data: v3.3/community.yaml has "packages:" and nothing else
        return
    if not isinstance(packages, list):
        yield AdvisoryError(f"'packages' is a {type(packages).__name__}, not a list", source=source)
        return
    ecosystem = f"Alpine:{release}"
    budget = MAX_ENTRIES
    for index, item in enumerate(packages):
        budget -= 1
        pkg = item.get("pkg") if isinstance(item, dict) else None
        name = pkg.get("name") if isinstance(pkg, dict) else None
        if not isinstance(name, str) or not name.strip():
            yield AdvisoryError(f"packages[{index}] has no pkg.name string", source=source)
            continue
        name = name.strip()
        secfixes = pkg.get("secfixes")  # type: ignore[union-attr]
        if secfixes is None:
            continue
        if not isinstance(secfixes, dict):
            yield AdvisoryError(
                f"secfixes is a {type(secfixes).__name__}, not a mapping", source=source, record_id=name
            )
            continue
        for key, entries in secfixes.items():
            budget -= 1 + (len(entries) if isinstance(entries, list) else 0)
            if budget < 0:
                yield AdvisoryError(f"more than {MAX_ENTRIES} entries; rest of file skipped", source=source)
                return
            version = _version_key(key)
            where = f"{name} {_show(key)}"
            if version is None:
                yield AdvisoryError(
                    f"version key is not a valid apk version: {_show(key)}", source=source, record_id=name
                )
                continue
            if not isinstance(entries, list):
                yield AdvisoryError(
                    f"entries are a {type(entries).__name__}, not a list", source=source, record_id=where
                )
                continue
            for entry in entries:
                if not isinstance(entry, str):
                    yield AdvisoryError(f"entry {_show(entry)} is not a string", source=source, record_id=where)
                    continue
                ids, aliases = entry_ids(entry)
                if not ids:
                    yield AdvisoryError(f"entry names no advisory id: {_show(entry)}", source=source, record_id=where)
                    continue
                for advisory_id in ids:
                    pending = acc.setdefault(advisory_id, {}).setdefault((ecosystem, name), _Pending())
                    if version == NOT_AFFECTED:
                        pending.not_affected = True
                    elif version not in pending.fixed:
                        pending.fixed.append(version)
                    pending.aliases.extend(a for a in aliases if a not in pending.aliases)
                    text = entry.strip()
                    if text != advisory_id and text not in pending.entries:
                        pending.entries.append(text)
                    if repo and repo not in pending.repos:
                        pending.repos.append(repo)


def _version_key(key: Any) -> str | None:
    """A secfixes key as an apk version string; ``None`` when it is not one. YAML integers are
    accepted (``0:``); floats are not, since YAML has already lost what was written."""
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str):
        return None
    try:
        return parse("apk", key).text
    except InvalidVersion:
        return None


def _build(acc: _Acc, source: str) -> Iterator[Advisory]:
    for advisory_id, packages in acc.items():
        affected = tuple(_affected(eco, name, p) for (eco, name), p in packages.items())
        aliases = _dedupe(a for p in packages.values() for a in p.aliases if a != advisory_id)
        references: tuple[Reference, ...] = ()
        if advisory_id.startswith("CVE-"):
            references = (Reference("ADVISORY", f"https://security.alpinelinux.org/vuln/{advisory_id}"),)
        yield Advisory(
            id=advisory_id,
            modified=None,
            aliases=tuple(aliases),
            references=references,
            affected=affected,
            database_specific={"source": SOURCE},
            source=source,
        )


def _affected(ecosystem: str, name: str, pending: _Pending) -> Affected:
    base, release = split_ecosystem(ecosystem)
    db: dict[str, Any] = {"source": SOURCE}
    if pending.repos:
        db["repos"] = list(pending.repos)
    if pending.entries:
        db["entries"] = list(pending.entries)
    ranges: tuple[Range, ...] = ()
    if pending.fixed:
        # Listed under several versions means the first fix was incomplete: the highest counts.
        fixed = pending.fixed[0]
        for other in pending.fixed[1:]:
            if compare("apk", other, fixed) > 0:
                fixed = other
        if len(pending.fixed) > 1:
            db["also_listed_under"] = [v for v in pending.fixed if v != fixed]
        ranges = (Range("ECOSYSTEM", (Event("introduced", "0"), Event("fixed", fixed))),)
        if pending.not_affected:
            db["also_listed_not_affected"] = True
    elif pending.not_affected:
        db["not_affected"] = True
    return Affected(
        ecosystem=ecosystem,
        ecosystem_base=base,
        ecosystem_release=release,
        name=normalise_name(base, name),
        raw_name=name,
        purl=f"pkg:apk/alpine/{name}",
        ranges=ranges,
        database_specific=db,
    )


# ---------------------------------------------------------------------------------------------
# files and directories


def iter_records(
    path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES
) -> Iterator[Advisory | AdvisoryError]:
    """Yield one :class:`Advisory` per id found under ``path`` (a secdb file, or a directory of
    ``*.yaml``/``*.yml``/``*.json`` files at any depth, read in sorted order), merged across
    files, and an :class:`AdvisoryError` for each problem (never raises for bad data).

    Errors come first (as files are read), then the advisories; ``source`` of each advisory is
    ``path`` and each affected package names its repository.
    """
    root = Path(path)
    acc: _Acc = {}
    if root.is_dir():
        files = feed_files(root, lambda name: name.lower().endswith(_SUFFIXES))
    elif root.is_file():
        files = [root]
    else:
        yield AdvisoryError("no such file or directory", source=str(root))
        return
    base = root if root.is_dir() else root.parent
    for file in files:
        try:
            raw = read_feed_file(file, base, max_bytes)
        except AdvisoryError as exc:
            yield exc
            continue
        yield from _load_into(raw, str(file), acc, json_format=file.name.lower().endswith(".json"))
    yield from _build(acc, str(root))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
