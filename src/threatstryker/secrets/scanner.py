"""Scans a FileTree for secrets: walks it, reads each file (and archive member) in this process, has the
engine scan the content here or in worker processes (:mod:`threatstryker.filescan.pool`), and turns what it
finds into redacted findings.

Workers send back :class:`Hit` records, which hold the rule, the place, a preview (first characters then
``***``) and the SHA-256 of the value, never the value itself. A content the engine spends longer than the
per-file timeout on is reported in a warning; an overall ``timeout`` stops the scan where it is and marks the
result partial.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, BinaryIO, Protocol

from threatstryker.filescan.archives import DEFAULT_MAX_DEPTH, DEFAULT_MAX_TOTAL, ArchiveExpander, archive_kind
from threatstryker.filescan.pool import (
    PROBE_SECONDS,
    Origin,
    Outcome,
    PoolUnavailable,
    ProcessRunner,
    Progress,
    ScanProgress,
    SerialRunner,
    Task,
    engine_payload,
    rebuild_engine,
    run_tasks,
    why,
    worth_processes,
)
from threatstryker.filescan.treescan import TreeScan
from threatstryker.filescan.walk import (
    DEFAULT_MAX_FILE_SIZE,
    SNIFF_BYTES,
    Walker,
    WalkItem,
    as_text,
    printable_strings,
    sniff_binary,
)
from threatstryker.model import ScanWarning
from threatstryker.model.finding import SecretFinding, redact, secret_hash
from threatstryker.sources.filetree import FileTree, display_path, read_capped

#: Per-file timeout (seconds) of the engine on one file or archive member.
DEFAULT_FILE_TIMEOUT = 60.0
#: Bytes of a file the sensitive-file rules are given (their content regexes look at the first 64 KiB).
SENSITIVE_HEAD = 64 * 1024


# -- what the engine looks like to this module ------------------------------------------------------------
class SecretMatchLike(Protocol):
    rule_id: str
    family: str
    severity: str
    confidence: str
    description: str
    secret: str
    line: int
    column: int
    start: int
    end: int
    decoded_from: str | None


class SensitiveMatchLike(Protocol):
    rule_id: str
    severity: str
    confidence: str
    description: str
    line: int


class SecretEngineLike(Protocol):
    def scan(self, data: bytes, path: str = "") -> list[Any]: ...

    def match_sensitive_file(self, path: str, head: bytes) -> list[Any]: ...


# -- options, progress, result ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SecretScanOptions:
    """How a secret scan reads its target.

    ``max_file_size``: larger files (and archive members) are skipped with a warning. ``binaries``: scan the
    printable strings of binaries instead of skipping them. ``exclude``: path globs left out. ``lockfiles``:
    scan dependency lockfiles too. ``layers``: scan file versions that later image layers replaced or deleted.
    ``archive_depth``: archive nesting levels opened (0: archives are not opened); ``archive_bytes``: bytes
    decompressed per archive. ``workers``: 0 decides as it goes (see :func:`worth_processes`), 1 scans in
    this process, N uses N worker processes. ``file_timeout``: seconds the engine may spend on one file;
    ``timeout``: seconds for the whole scan (then the result is partial).
    """

    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    binaries: bool = False
    exclude: tuple[str, ...] = ()
    lockfiles: bool = False
    layers: bool = True
    archive_depth: int = DEFAULT_MAX_DEPTH
    archive_bytes: int = DEFAULT_MAX_TOTAL
    workers: int = 0
    file_timeout: float | None = DEFAULT_FILE_TIMEOUT
    timeout: float | None = None
    reveal: bool = False




@dataclass(slots=True)
class SecretScanStats:
    """What a scan did: how it ran, what it read, what it skipped and why."""

    mode: str = "serial"
    workers: int = 1
    switched_after_s: float | None = None
    files: int = 0
    hidden_versions: int = 0
    scanned: int = 0
    bytes_scanned: int = 0
    strings_scanned: int = 0
    binary_skipped: int = 0
    lockfiles: int = 0
    excluded: int = 0
    too_large: int = 0
    archives: int = 0
    archive_members: int = 0
    timeouts: int = 0
    errors: int = 0
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class SecretScanResult:
    """Findings (deduplicated, sorted), warnings, whether results may be incomplete, and the counts."""

    findings: list[SecretFinding] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)
    partial: bool = False
    stats: SecretScanStats = field(default_factory=SecretScanStats)


# -- what crosses between processes -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Hit:
    """One match of the engine, without the secret: preview and SHA-256 only. ``offset`` is the byte offset
    in the file of a match found in a binary's printable strings (None for text)."""

    rule_id: str
    family: str
    severity: str
    confidence: str
    description: str
    line: int
    column: int
    preview: str
    secret_sha256: str
    decoded_from: str | None = None
    offset: int | None = None
    #: the clear value, only with ``SecretScanOptions.reveal`` (never crosses to or from a worker process)
    value: str | None = field(default=None, repr=False)


def scan_content(engine: SecretEngineLike, path: str, data: bytes, strings: bool = False,
                 reveal: bool = False) -> list[Hit]:
    """The engine's matches in ``data``, each reduced to a :class:`Hit` at once (the value is dropped, unless
    ``reveal``: the CLI's explicit ``--show-secrets``, which scans in this process only)."""
    if not strings:
        return [_hit(m, reveal=reveal) for m in engine.scan(data, path)]
    extracted = printable_strings(data)
    if not extracted.text:
        return []
    return [_hit(m, extracted.file_offset(m.start), reveal) for m in engine.scan(extracted.text, path)]


def scan_task(engine: SecretEngineLike, task: Task) -> list[Hit]:
    """The pool's scan function: the hits of one task, values dropped."""
    return scan_content(engine, task.origin.path, task.data, task.strings)


def scan_task_revealed(engine: SecretEngineLike, task: Task) -> list[Hit]:
    """The hits of one task with their values (``--show-secrets``: in this process only)."""
    return scan_content(engine, task.origin.path, task.data, task.strings, reveal=True)


def _hit(m: SecretMatchLike, offset: int | None = None, reveal: bool = False) -> Hit:
    secret = m.secret
    return Hit(m.rule_id, m.family, m.severity, m.confidence, m.description,
               0 if offset is not None else m.line, offset + 1 if offset is not None else m.column,
               redact(secret), secret_hash(secret), m.decoded_from or None, offset, secret if reveal else None)


def finding_of(hit: Hit, origin: Origin) -> SecretFinding:
    """The finding for a hit in content from ``origin`` (diff lines mapped back to the file's lines)."""
    line = hit.line
    if origin.lines is not None and 1 <= line <= len(origin.lines):
        line = origin.lines[line - 1]
    metadata: dict[str, Any] = {}
    if hit.decoded_from:
        metadata["decoded_from"] = hit.decoded_from
    if hit.offset is not None:
        metadata["offset"] = hit.offset
        metadata["binary_strings"] = True
    return SecretFinding(
        id=hit.rule_id, path=origin.path, severity=hit.severity, confidence=hit.confidence,
        description=hit.description, line=line, column=hit.column, layer=origin.layer, present=origin.present,
        preview=hit.preview, secret_sha256=hit.secret_sha256, family=hit.family, commit=origin.commit,
        metadata=metadata, revealed=hit.value,
    )


def sensitive_findings(engine: SecretEngineLike, origin: Origin, head: bytes) -> list[SecretFinding]:
    """Findings of the sensitive-file rules for a file (line 0: the file itself, by its name; else the line
    where the rule's content regex matched)."""
    matches: list[SensitiveMatchLike] = engine.match_sensitive_file(origin.path, head)
    return [
        SecretFinding(id=m.rule_id, path=origin.path, severity=m.severity, confidence=m.confidence,
                      description=m.description, line=m.line, layer=origin.layer, present=origin.present,
                      family=getattr(m, "family", "") or "sensitive-file", commit=origin.commit,
                      metadata={"sensitive_file": True})
        for m in matches
    ]


# -- one scan: content in, findings out ------------------------------------------------------------------------
class ContentScan:
    """Feeds content to the engine (through a runner) and collects findings, warnings and counts; shared by
    the tree scan and the git history scan."""

    def __init__(self, engine: SecretEngineLike, options: SecretScanOptions, stats: SecretScanStats,
                 warn: Callable[[str, str], None], stop: Callable[[], bool]) -> None:
        self.engine = engine
        self.options = options
        self.stats = stats
        self.warn = warn
        self.stop = stop
        #: every finding with the position of its image layer (-1 outside images), for merge_findings
        self.findings: list[tuple[int, SecretFinding]] = []
        self._next_id = 0

    def task(self, origin: Origin, data: bytes) -> Task | None:
        """The task for content (text, or a binary's strings with ``binaries``), or None when skipped."""
        if not data:
            return None
        if sniff_binary(data[:SNIFF_BYTES]) is not None:
            if not self.options.binaries:
                self.stats.binary_skipped += 1
                return None
            self.stats.strings_scanned += 1
            strings = True
        else:
            data = as_text(data)
            strings = False
        self._next_id += 1
        return Task(self._next_id, origin, data, strings)

    def sensitive(self, origin: Origin, head: bytes) -> None:
        try:
            found = sensitive_findings(self.engine, origin, head[:SENSITIVE_HEAD])
            self.findings.extend((origin.layer_index, f) for f in found)
        except Exception as exc:  # an engine bug: reported, the scan goes on
            self.warn(origin.path, f"sensitive-file rules failed: {why(exc)}")

    def run(self, tasks: Iterable[Task], workers: int = 0, done: Callable[[], float | None] | None = None) -> None:
        """Scan every task: in ``workers`` processes (1: in this process; 0: in this process, moving to one
        worker per CPU when :func:`worth_processes` says so, judging by ``done``, the fraction of the work
        done so far). With ``reveal``, clear values stay in this process."""
        reveal = self.options.reveal
        info = run_tasks(self.engine, scan_task, tasks, self._record, workers=1 if reveal else workers,
                         file_timeout=self.options.file_timeout, stop=self.stop, warn=self.warn, done=done,
                         serial_scan=scan_task_revealed if reveal else scan_task, name="secret scan")
        self.stats.mode, self.stats.workers, self.stats.switched_after_s = info.mode, info.workers, \
            info.switched_after_s

    def _record(self, outcome: Outcome) -> None:
        task = outcome.task
        if outcome.timeout:
            self.stats.timeouts += 1
            self.warn(task.origin.path, f"scanning took longer than {self.options.file_timeout:g}s; "
                                        "abandoned (per-file timeout)")
            return
        if outcome.error:
            self.stats.errors += 1
            self.warn(task.origin.path, f"not scanned: {outcome.error}")
            return
        self.stats.scanned += 1
        self.stats.bytes_scanned += len(task.data)
        self.findings.extend((task.origin.layer_index, finding_of(hit, task.origin)) for hit in outcome.hits)


class _TreeScan(TreeScan):
    """One scan of a tree for secrets: the walk, the reads (archives expanded), the content scan."""

    label = "secret scan"

    def __init__(self, tree: FileTree, engine: SecretEngineLike, options: SecretScanOptions,
                 progress: Progress | None) -> None:
        super().__init__(tree, options.timeout, progress)
        self.options = options
        self.stats = SecretScanStats()
        self.walker = Walker(self.warn, tuple(options.exclude), options.lockfiles, options.max_file_size,
                             options.layers)
        self.expander = ArchiveExpander(self.walker, options.archive_depth, options.archive_bytes, self.timed_out)
        self.content = ContentScan(engine, options, self.stats, self.warn, self.timed_out)

    def run(self) -> SecretScanResult:
        items = self.walk()
        self.content.run(self.tasks(items), self.options.workers, self.done)
        stats, c = self.stats, self.counts()
        stats.files, stats.hidden_versions = c.files, c.hidden_versions
        stats.lockfiles, stats.excluded, stats.too_large = c.lockfiles, c.excluded, c.too_large
        stats.archives, stats.archive_members = c.archives, c.archive_members
        warnings, partial, stats.duration_s = self.finish(stats.timeouts)
        return SecretScanResult(merge_findings(self.content.findings), warnings, partial, stats)

    def item_tasks(self, item: WalkItem) -> Iterator[Task]:
        origin = Origin(item.path, item.layer, item.present, item.layer_index)
        info = item.info
        cap = self.options.max_file_size
        if info.size <= cap:
            data = read_capped(lambda: self.tree.open_info(info), info.path, info.size, cap)
            yield from self._content_tasks(origin, io.BytesIO(data), data, info.name)
            return
        with self.tree.open_info(info) as stream:
            head = stream.read(SENSITIVE_HEAD)
            stream.seek(0)
            self.content.sensitive(origin, head)
            kind = archive_kind(head) if self.options.archive_depth > 0 else None
            if kind is None:
                self.walker.too_large(item.path, info.size)
                return
            yield from self._archive_tasks(origin, stream, kind, info.name)

    def _content_tasks(self, origin: Origin, stream: BinaryIO, data: bytes, name: str) -> Iterator[Task]:
        self.content.sensitive(origin, data)
        kind = archive_kind(data[:512]) if self.options.archive_depth > 0 else None
        if kind is not None:
            yield from self._archive_tasks(origin, stream, kind, name)
            return
        task = self.content.task(origin, data)
        if task is not None:
            yield task

    def _archive_tasks(self, origin: Origin, stream: BinaryIO, kind: str, name: str) -> Iterator[Task]:
        for member in self.expander.expand(stream, origin.path, kind, name):
            inner = Origin(display_path(member.path), origin.layer, origin.present, origin.layer_index)
            self.content.sensitive(inner, member.data)
            task = self.content.task(inner, member.data)
            if task is not None:
                yield task


def scan_tree(tree: FileTree, engine: SecretEngineLike, options: SecretScanOptions | None = None,
              progress: Progress | None = None) -> SecretScanResult:
    """Scan every file of ``tree`` (and, for images, every layer's older versions) for secrets."""
    return _TreeScan(tree, engine, options or SecretScanOptions(), progress).run()


# -- findings ---------------------------------------------------------------------------------------------------
def merge_findings(found: Iterable[tuple[int, SecretFinding]]) -> list[SecretFinding]:
    """Findings deduplicated and sorted (path, commit, line, column, rule); each comes with the position of
    its image layer (-1 outside images), which orders the layers.

    Identical findings (rule, path, secret, line, column, commit) are one. Across image layers, a secret the
    final view still shows at a path is reported once, as present, and older versions of the file that held
    the same secret add their layers to ``metadata["layers"]`` (oldest first); a secret found only in
    replaced or deleted versions is reported at the earliest layer that held it, with ``present`` False.
    The outcome does not depend on the order findings come in (serial and parallel scans agree).
    """
    ordered = sorted(found, key=lambda pf: (not pf[1].present, pf[0], pf[1].layer or ""))
    kept: dict[tuple[Any, ...], SecretFinding] = {}
    holders: dict[tuple[str, str, str, str | None], SecretFinding] = {}
    layers: dict[int, dict[str, int]] = {}
    for position, f in ordered:
        exact = (f.id, f.path, f.secret_sha256, f.line, f.column, f.commit)
        loose = (f.id, f.path, f.secret_sha256, f.commit)
        have = kept.get(exact)
        if have is None and not f.present and f.secret_sha256:
            have = holders.get(loose)
        if have is None:
            kept[exact] = have = f
            if f.present:
                holders.setdefault(loose, f)
        if f.layer:
            layers.setdefault(id(have), {}).setdefault(f.layer, position)
    out = list(kept.values())
    for f in out:
        seen = layers.get(id(f), {})
        if len(seen) > 1:
            f.metadata["layers"] = sorted(seen, key=lambda layer: (seen[layer], layer))
    out.sort(key=lambda f: (f.path, f.commit or "", f.line, f.column, f.id, not f.present, f.layer or ""))
    return out


__all__ = [
    "DEFAULT_FILE_TIMEOUT",
    "PROBE_SECONDS",
    "ContentScan",
    "Hit",
    "Origin",
    "Outcome",
    "PoolUnavailable",
    "ProcessRunner",
    "Progress",
    "ScanProgress",
    "SecretEngineLike",
    "SecretScanOptions",
    "SecretScanResult",
    "SecretScanStats",
    "SerialRunner",
    "Task",
    "engine_payload",
    "finding_of",
    "merge_findings",
    "rebuild_engine",
    "scan_content",
    "scan_task",
    "scan_task_revealed",
    "scan_tree",
    "sensitive_findings",
    "worth_processes",
]
