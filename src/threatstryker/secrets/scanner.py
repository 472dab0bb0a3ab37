"""Scans a FileTree for secrets: walks it, reads each file (and archive member) in this process, has the
engine scan the content here or in worker processes, and turns what it finds into redacted findings.

Files are read by the parent because a tree over image layers holds open handles and cannot be sent to
another process; only ``(path, bytes)`` tasks cross to a worker, in batches. Workers rebuild the engine from
its serialised form and send back :class:`Hit` records, which hold the rule, the place, a preview (first
characters then ``***``) and the SHA-256 of the value, never the value itself.

A worker that spends longer than the per-file timeout on one content is killed and replaced, and the file is
reported in a warning; in-process, the same timeout interrupts the engine with SIGALRM (main thread only).
An overall ``timeout`` stops the scan where it is and marks the result partial. By default the scan starts in
this process and moves the rest of the work to worker processes only when it measures that the engine, not
the reading, takes most of the time (:func:`worth_processes` has the measurements behind this).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, BinaryIO, Protocol

from threatstryker.model import ScanWarning
from threatstryker.model.finding import SecretFinding, redact, secret_hash
from threatstryker.secrets.archives import DEFAULT_MAX_DEPTH, DEFAULT_MAX_TOTAL, ArchiveExpander, archive_kind
from threatstryker.secrets.walk import (
    DEFAULT_MAX_FILE_SIZE,
    SNIFF_BYTES,
    Walker,
    WalkItem,
    as_text,
    printable_strings,
    sniff_binary,
)
from threatstryker.sources.filetree import FileTree, FileTreeError, display_path, read_capped

#: Per-file timeout (seconds) of the engine on one file or archive member.
DEFAULT_FILE_TIMEOUT = 60.0
#: How often (seconds) an automatic scan checks whether worker processes would pay off.
PROBE_SECONDS = 1.0
#: The share of the time the engine must take (the rest is reading, sniffing, archives) for workers to help.
MIN_ENGINE_SHARE = 0.6
#: Seconds worker processes must be expected to save, their start included, for a scan to switch to them.
MIN_GAIN_SECONDS = 2.0
#: Seconds starting a pool of workers costs (forkserver with the engine's modules preloaded: ~0.2 s the first
#: time in a process, ~0.05 s after).
WORKER_START_SECONDS = 0.3
#: Bytes of a file the sensitive-file rules are given (their content regexes look at the first 64 KiB).
SENSITIVE_HEAD = 64 * 1024
#: Seconds a worker process may take to start and rebuild the engine.
WORKER_START_TIMEOUT = 120.0
#: Tasks sent to a worker at once, at most; and bytes, at most (a bigger task goes alone).
BATCH_TASKS = 64
BATCH_BYTES = 1024 * 1024
#: How often (seconds) the progress callback is called at most.
PROGRESS_INTERVAL = 0.1
#: How workers are started: not "fork", which would copy the parent's threads' locks (a progress bar's).
START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


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


@dataclass(frozen=True, slots=True)
class ScanProgress:
    """Where a scan is: files done of the total, bytes done of the total, and the file being read."""

    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    path: str = ""


Progress = Callable[[ScanProgress], None]


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


@dataclass(frozen=True, slots=True)
class Origin:
    """Where scanned content comes from: the path shown, the image layer (and its position) that wrote it and
    whether the final view still shows it, the commit (git history), and for content made of a diff's added
    lines the line number in the file of each of its lines."""

    path: str
    layer: str | None = None
    present: bool = True
    layer_index: int = -1
    commit: str | None = None
    lines: tuple[int, ...] | None = None


@dataclass(slots=True)
class Task:
    """Content to scan: ``strings`` when it is a binary whose printable strings are scanned."""

    id: int
    origin: Origin
    data: bytes
    strings: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """The hits of a task, or why there are none: ``timeout`` or an ``error`` message."""

    task: Task
    hits: tuple[Hit, ...] = ()
    timeout: bool = False
    error: str = ""


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


# -- running the engine: in this process, or in worker processes ---------------------------------------------
class PoolUnavailable(Exception):
    """No worker process could be started (the caller goes on in-process)."""


class _FileTimeout(BaseException):
    """Raised by SIGALRM in the engine when one file takes too long (BaseException: no engine swallows it)."""


class SerialRunner:
    """Runs the engine in this process; the per-file timeout interrupts it through SIGALRM, which only the
    main thread can receive (elsewhere, or when the caller has a timer running, it is not enforced)."""

    def __init__(self, engine: SecretEngineLike, file_timeout: float | None, reveal: bool = False) -> None:
        self.engine = engine
        self.file_timeout = file_timeout
        self.reveal = reveal
        self._armed = False
        #: seconds spent in the engine so far
        self.engine_seconds = 0.0

    def _alarm(self, signum: int, frame: object) -> None:
        if self._armed:
            raise _FileTimeout

    def run(self, tasks: Iterable[Task], stop: Callable[[], bool]) -> Iterator[Outcome]:
        # SIGALRM reaches the main thread only, and must not be taken from a caller who set a timer already
        use_alarm = bool(self.file_timeout) and hasattr(signal, "setitimer") \
            and threading.current_thread() is threading.main_thread() \
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0
        previous = signal.signal(signal.SIGALRM, self._alarm) if use_alarm else None
        try:
            for task in tasks:
                yield self._one(task, use_alarm)
                if stop():
                    return
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)

    def _one(self, task: Task, use_alarm: bool) -> Outcome:
        started = time.perf_counter()
        try:
            if use_alarm:
                self._armed = True
                signal.setitimer(signal.ITIMER_REAL, float(self.file_timeout or 0))
            hits = scan_content(self.engine, task.origin.path, task.data, task.strings, self.reveal)
            self._armed = False
            return Outcome(task, tuple(hits))
        except _FileTimeout:
            return Outcome(task, timeout=True)
        except Exception as exc:  # an engine bug on one file: reported, the scan goes on
            return Outcome(task, error=_why(exc))
        finally:
            self._armed = False
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
            self.engine_seconds += time.perf_counter() - started


def engine_payload(engine: SecretEngineLike) -> bytes:
    """What a worker rebuilds the engine from: its ``serialize()`` form when it has one, else the engine
    itself, pickled."""
    serialize = getattr(engine, "serialize", None)
    if callable(serialize):
        return pickle.dumps(("serialized", type(engine), serialize()))
    return pickle.dumps(("pickled", engine, None))


def rebuild_engine(payload: bytes) -> SecretEngineLike:
    how, obj, data = pickle.loads(payload)  # noqa: S301 - our own payload, sent through our own pipe
    if how == "serialized":
        engine: SecretEngineLike = obj.from_serialized(data)
        return engine
    return obj  # type: ignore[no-any-return]


def _worker_main(conn: Connection, payload: bytes, clock: Any) -> None:
    """A worker process: rebuild the engine, then scan batches of tasks ``(id, path, data, strings)`` until told
    to stop, answering each batch with its results. ``clock`` (shared memory) holds the index in the batch of
    the task being scanned (-1 between batches) and when its scan started, for the parent's per-file timeout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and kills its workers
    try:
        engine = rebuild_engine(payload)
    except BaseException as exc:
        conn.send(("failed", _why(exc)))
        return
    conn.send(("ready", ""))
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        results: list[tuple[int, list[Hit] | None, str]] = []
        for index, (task_id, path, data, strings) in enumerate(batch):
            clock[1] = time.monotonic()
            clock[0] = index
            try:
                results.append((task_id, scan_content(engine, path, data, strings), ""))
            except Exception as exc:
                results.append((task_id, None, _why(exc)))
        clock[0] = -1
        conn.send(results)


@dataclass(slots=True)
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    clock: Any
    batch: list[Task] = field(default_factory=list)
    started: float = 0.0


class ProcessRunner:
    """Runs the engine in ``size`` worker processes. Tasks go in batches (up to :data:`BATCH_TASKS` tasks or
    :data:`BATCH_BYTES` bytes: one round trip through a pipe costs ~150 us here, ten times the engine's time on
    a small file), read from the source only when a worker is free, so at most ``size`` batches are in
    memory. A worker that spends longer than ``file_timeout`` on one task is killed and replaced: that task
    is reported, the others of its batch are scanned again. A worker that dies is replaced too."""

    def __init__(self, engine: SecretEngineLike, size: int, file_timeout: float | None) -> None:
        self.size = max(1, size)
        self.file_timeout = file_timeout
        self._payload = engine_payload(engine)
        self._ctx: Any = multiprocessing.get_context(START_METHOD)
        if START_METHOD == "forkserver":
            # workers forked from a server that has these imported start in ~15 ms instead of ~200 ms (no
            # effect once the server runs: it is started once per process, by the first pool)
            self._ctx.set_forkserver_preload([__name__, type(engine).__module__])
        self._starting: dict[Connection, _Worker] = {}
        self._idle: list[_Worker] = []
        self._busy: dict[Connection, _Worker] = {}
        self._again: deque[Task] = deque()
        self.failures: list[str] = []

    def _spawn(self) -> None:
        parent, child = self._ctx.Pipe()
        clock = self._ctx.RawArray("d", 2)
        clock[0] = -1
        process = self._ctx.Process(target=_worker_main, args=(child, self._payload, clock), daemon=True,
                                    name="threatstryker-secrets")
        try:
            process.start()
        except (OSError, RuntimeError, ValueError) as exc:  # no process could be made: the caller goes serial
            self.failures.append(f"cannot start a worker process ({_why(exc)})")
            parent.close()
            return
        finally:
            child.close()
        self._starting[parent] = _Worker(process, parent, clock, started=time.monotonic())

    @staticmethod
    def _kill(worker: _Worker) -> None:
        with contextlib.suppress(OSError, ValueError):
            worker.process.kill()
        worker.process.join(5)
        worker.conn.close()

    def _batch(self, source: Iterator[Task], stop: Callable[[], bool]) -> list[Task]:
        batch: list[Task] = []
        size = 0
        while len(batch) < BATCH_TASKS and size < BATCH_BYTES and not stop():
            task = self._again.popleft() if self._again else next(source, None)
            if task is None:
                break
            batch.append(task)
            size += len(task.data)
        return batch

    def run(self, tasks: Iterable[Task], stop: Callable[[], bool]) -> Iterator[Outcome]:
        source = iter(tasks)
        exhausted = False
        try:
            for _ in range(self.size):
                self._spawn()
            while True:
                while self._idle and not exhausted:
                    batch = self._batch(source, stop)
                    if not batch:
                        exhausted = True
                        break
                    worker = self._idle.pop()
                    try:
                        worker.conn.send([(t.id, t.origin.path, t.data, t.strings) for t in batch])
                    except (OSError, ValueError):
                        self._kill(worker)
                        self._spawn()
                        self._again.extend(batch)
                        continue
                    worker.batch, worker.started = batch, time.monotonic()
                    self._busy[worker.conn] = worker
                if exhausted and not self._busy and not self._again:
                    return
                exhausted = exhausted and not self._again
                if not self._busy and not self._idle and not self._starting:
                    raise PoolUnavailable("; ".join(dict.fromkeys(self.failures)) or "no worker process started")
                yield from self._collect()
                yield from self._expire()
                if stop():
                    for worker in list(self._busy.values()):
                        del self._busy[worker.conn]
                        self._kill(worker)
                        for task in worker.batch:
                            yield Outcome(task, error="the scan's time ran out")
                    return
        finally:
            self.close()

    def _collect(self) -> Iterator[Outcome]:
        for conn in wait([*self._busy, *self._starting], 0.05 if self.file_timeout else 0.25):
            assert isinstance(conn, Connection)
            if conn in self._starting:
                worker = self._starting.pop(conn)
                try:
                    state, reason = conn.recv()
                except (EOFError, OSError):
                    state, reason = "failed", "worker process exited while starting"
                if state == "ready":
                    self._idle.append(worker)
                else:
                    self.failures.append(reason)
                    self._kill(worker)
                continue
            worker = self._busy.pop(conn)
            batch, worker.batch = worker.batch, []
            try:
                results = conn.recv()
            except (EOFError, OSError):
                self._kill(worker)
                self._spawn()
                yield from self._died(batch, worker)
                continue
            self._idle.append(worker)
            for task, (_, hits, error) in zip(batch, results, strict=True):
                yield Outcome(task, tuple(hits or ()), error=error)

    def _died(self, batch: list[Task], worker: _Worker) -> Iterator[Outcome]:
        """A worker died (killed by the system?) inside a batch: its task then is reported, the rest retried."""
        index = int(worker.clock[0])
        culprit = batch[index] if 0 <= index < len(batch) else None
        self._again.extend(t for t in batch if t is not culprit)
        if culprit is not None:
            yield Outcome(culprit, error="the worker process scanning it died")

    def _expire(self) -> Iterator[Outcome]:
        now = time.monotonic()
        for worker in list(self._starting.values()):
            if now - worker.started > WORKER_START_TIMEOUT:
                del self._starting[worker.conn]
                self._kill(worker)
                self.failures.append(f"a worker process did not start within {WORKER_START_TIMEOUT:g}s")
        if not self.file_timeout:
            return
        for worker in list(self._busy.values()):
            index, started = int(worker.clock[0]), worker.clock[1]
            if index < 0 or index != int(worker.clock[0]) or now - started <= self.file_timeout:
                continue  # between tasks, or moving to the next one while being looked at
            del self._busy[worker.conn]
            self._kill(worker)
            self._spawn()
            batch = worker.batch
            self._again.extend(t for i, t in enumerate(batch) if i != index)
            yield Outcome(batch[index], timeout=True)

    def leftover(self) -> list[Task]:
        """Tasks taken from the source but not scanned yet (to go on without workers)."""
        out = list(self._again)
        self._again.clear()
        return out

    def close(self) -> None:
        """Stop every worker: idle ones are asked to exit, busy or starting ones are killed."""
        for worker in self._idle:
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(None)
        for worker in self._idle:
            worker.process.join(2)
            if worker.process.is_alive():
                self._kill(worker)
            worker.conn.close()
        for worker in [*self._busy.values(), *self._starting.values()]:
            self._kill(worker)
        self._idle.clear()
        self._busy.clear()
        self._starting.clear()


def worth_processes(engine_seconds: float, elapsed: float, done: float | None, cpus: int) -> bool:
    """Whether the rest of a scan that ran ``elapsed`` seconds in this process, ``engine_seconds`` of them in
    the engine, and did the fraction ``done`` of its work (None: unknown), should move to ``cpus`` workers
    (the CPUs other programs leave idle, as measured during the scan, plus the one this process uses).

    Only the engine's part runs in the workers: files are read, sniffed and unpacked here (trees of image
    layers cannot be sent to another process), so the rest can gain at most the engine's share times
    (1 - 1/cpus), minus the workers' start. Measured on this project's 2-core machine (shared with other
    work, so +-30%) with the built-in rules (213, all in Hyperscan), in seconds:

    =======================================  ======  ===========  ==================================
    target                                   serial  2 processes  engine alone: serial / 2 threads
    =======================================  ======  ===========  ==================================
    /usr/lib/python3 (1,496 texts, 17.5 MB)  0.52    0.97         0.05 / 0.16
    /usr/lib/python3.11 (684 texts, 11.5 MB) 0.14    0.42         0.04 / 0.06
    .venv (5,624 texts, 66 MB)               1.59    2.00         0.18 / 0.38
    .venv, binaries' strings (133 MB)        5.57    4.08
    .venv, engine decoding 2 levels deep     2.64    1.74
    =======================================  ======  ===========  ==================================

    The engine scans text at 200-400 MB/s, faster than files are read and sniffed, so on source trees
    workers only add their cost (a pipe round trip is ~65 us here, hence batches) and threads are slower
    still (the engine holds the GIL). Workers pay off when the engine's share is high and CPUs are idle:
    printable strings of binaries, deep decoding, slow rules.
    """
    if cpus < 2 or elapsed <= 0 or engine_seconds / elapsed < MIN_ENGINE_SHARE:
        return False
    if done is None:
        left = elapsed  # unknown: assume as much again
    elif done <= 0 or done >= 1:
        return done <= 0
    else:
        left = elapsed * (1 - done) / done
    gain = left * (engine_seconds / elapsed) * (1 - 1 / cpus) - WORKER_START_SECONDS
    return gain >= MIN_GAIN_SECONDS


def idle_seconds() -> float | None:
    """CPU seconds all CPUs have spent idle since boot (/proc/stat), or None where that cannot be read."""
    try:
        with open("/proc/stat", "rb") as fh:
            fields = fh.readline().split()
        return (int(fields[4]) + int(fields[5])) / os.sysconf("SC_CLK_TCK")  # idle + iowait
    except (OSError, ValueError, IndexError):
        return None


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


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
            self.warn(origin.path, f"sensitive-file rules failed: {_why(exc)}")

    def run(self, tasks: Iterable[Task], workers: int = 0, done: Callable[[], float | None] | None = None) -> None:
        """Scan every task: in ``workers`` processes (1: in this process; 0: in this process, moving to one
        worker per CPU when :func:`worth_processes` says so, judging by ``done``, the fraction of the work
        done so far)."""
        source = iter(tasks)
        if self.options.reveal:  # clear values stay in this process
            workers = 1
        if workers > 1:
            self._pool(source, workers)
            return
        serial = SerialRunner(self.engine, self.options.file_timeout, self.options.reveal)
        self.stats.mode, self.stats.workers = "serial", 1
        cpus = _cpu_count()
        adaptive = workers == 0 and cpus > 1
        switch = False
        started = window = time.monotonic()
        idle_at_window = idle_seconds()
        usable = cpus

        def stop() -> bool:
            return switch or self.stop()

        for outcome in serial.run(source, stop):
            self._record(outcome)
            now = time.monotonic()
            if adaptive and now >= window + PROBE_SECONDS:
                # CPUs other programs leave idle, measured over the last window (this process keeps one busy)
                idle_now = idle_seconds()
                if idle_now is not None and idle_at_window is not None and now > window:
                    usable = min(cpus, 1 + round((idle_now - idle_at_window) / (now - window)))
                window, idle_at_window = now, idle_now
                switch = worth_processes(serial.engine_seconds, now - started, done() if done else None, usable)
        if switch and not self.stop():
            self.stats.switched_after_s = round(time.monotonic() - started, 3)
            self._pool(source, usable)

    def _pool(self, source: Iterator[Task], workers: int) -> None:
        self.stats.mode, self.stats.workers = "processes", workers
        pool = ProcessRunner(self.engine, workers, self.options.file_timeout)
        try:
            for outcome in pool.run(source, self.stop):
                self._record(outcome)
        except PoolUnavailable as exc:
            self.warn("(secret scan)", f"worker processes unavailable ({exc}); scanning in this process")
            self.stats.mode, self.stats.workers = "serial", 1
            rest = itertools.chain(pool.leftover(), source)
            for outcome in SerialRunner(self.engine, self.options.file_timeout).run(rest, self.stop):
                self._record(outcome)

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


class _TreeScan:
    """One scan of a tree: the walk, the reads (archives expanded), the progress, the content scan."""

    def __init__(self, tree: FileTree, engine: SecretEngineLike, options: SecretScanOptions,
                 progress: Progress | None) -> None:
        self.tree = tree
        self.options = options
        self.progress = progress
        self.started = time.monotonic()
        self.deadline = self.started + options.timeout if options.timeout else None
        self.warnings: list[ScanWarning] = []
        self._warned: set[tuple[str, str]] = set()
        self.stats = SecretScanStats()
        self.walker = Walker(self.warn, tuple(options.exclude), options.lockfiles, options.max_file_size,
                             options.layers)
        self.expander = ArchiveExpander(self.walker, options.archive_depth, options.archive_bytes, self.timed_out)
        self.content = ContentScan(engine, options, self.stats, self.warn, self.timed_out)
        self._last_progress = 0.0
        self._bytes_done = 0

    def warn(self, path: str, reason: str) -> None:
        key = (path, reason)
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(ScanWarning(display_path(path), reason))

    def timed_out(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def run(self) -> SecretScanResult:
        items = list(self.walker.walk(self.tree, stop=self.timed_out))
        total = sum(item.info.size for item in items)
        self.content.run(self._tasks(items, total), self.options.workers,
                         lambda: self._bytes_done / total if total else None)
        counts = self.walker.counts
        stats = self.stats
        stats.files, stats.hidden_versions = counts.files, counts.hidden_versions
        stats.lockfiles, stats.excluded, stats.too_large = counts.lockfiles, counts.excluded, counts.too_large
        stats.archives, stats.archive_members = self.expander.archives, self.expander.members
        partial = bool(getattr(self.tree, "partial", False)) or stats.timeouts > 0
        if self.timed_out():
            self.warn("(secret scan)", f"scan timed out after {self.options.timeout:g}s; results are partial")
            partial = True
        stats.duration_s = round(time.monotonic() - self.started, 3)
        warnings = _merge_warnings([*self.tree.warnings, *self.warnings])
        return SecretScanResult(merge_findings(self.content.findings), warnings, partial, stats)

    def _tasks(self, items: list[WalkItem], total: int) -> Iterator[Task]:
        for done, item in enumerate(items):
            if self.timed_out():
                return
            self._progress(done, len(items), self._bytes_done, total, item.path)
            yield from self._item_tasks(item)
            self._bytes_done += item.info.size
        self._progress(len(items), len(items), self._bytes_done, total, "", force=True)

    def _progress(self, done: int, files: int, done_bytes: int, total: int, path: str, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self.progress(ScanProgress(done, files, done_bytes, total, path))

    def _item_tasks(self, item: WalkItem) -> Iterator[Task]:
        origin = Origin(item.path, item.layer, item.present, item.layer_index)
        info = item.info
        cap = self.options.max_file_size
        try:
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
        except FileTreeError as exc:
            self.warn(item.path, _tree_error(exc, item.path))
        except PermissionError:
            self.warn(item.path, "permission denied; not scanned")
        except OSError as exc:
            self.warn(item.path, f"cannot read ({exc.strerror or exc}); not scanned")

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


def _merge_warnings(warnings: list[ScanWarning]) -> list[ScanWarning]:
    seen: set[tuple[str, str]] = set()
    out = []
    for w in warnings:
        if (w.path, w.reason) not in seen:
            seen.add((w.path, w.reason))
            out.append(w)
    return out


def _tree_error(exc: FileTreeError, path: str) -> str:
    text = str(exc)
    prefix = f"{path}: "
    return (text[len(prefix):] if text.startswith(prefix) else text) + "; not scanned"


def _why(exc: BaseException) -> str:
    """An exception in one line, at most 200 characters (engine messages are not trusted to be short)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line[:200]


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
    "scan_tree",
    "sensitive_findings",
    "worth_processes",
]
