"""Runs a scan engine over file contents: in this process, or in worker processes, and decides as it goes
which pays off.

Files are read by the parent because a tree over image layers holds open handles and cannot be sent to
another process; only tasks cross to a worker, in batches: ``(path, bytes)``, or the host path of a file a
worker may open itself (a directory or root filesystem on this host). Workers rebuild the engine from its
serialised form and call the scanner's ``scan`` function (a module-level function, sent by reference) on each
task; what it returns goes back to the parent, so it must be small and free of anything that must not leave
the worker (the secret scanner returns previews and hashes, never values).

A worker that spends longer than the per-file timeout on one task is killed and replaced, and the task is
reported as timed out; in-process, the same timeout interrupts the engine with SIGALRM (main thread only).
:func:`run_tasks` starts in this process and moves the rest of the work to worker processes only when it
measures that the engine, not the reading, takes most of the time (:func:`worth_processes`).
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

#: How often (seconds) an automatic scan checks whether worker processes would pay off.
PROBE_SECONDS = 1.0
#: The share of the time the engine must take (the rest is reading, sniffing, archives) for workers to help.
MIN_ENGINE_SHARE = 0.6
#: Seconds worker processes must be expected to save, their start included, for a scan to switch to them.
MIN_GAIN_SECONDS = 2.0
#: Seconds starting a pool of workers costs (forkserver with the engine's modules preloaded: ~0.2 s the first
#: time in a process, ~0.05 s after).
WORKER_START_SECONDS = 0.3
#: Seconds a worker process may take to start and rebuild the engine.
WORKER_START_TIMEOUT = 120.0
#: Tasks sent to a worker at once, at most; and bytes, at most (a bigger task goes alone).
BATCH_TASKS = 64
BATCH_BYTES = 1024 * 1024
#: How workers are started: not "fork", which would copy the parent's threads' locks (a progress bar's).
START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


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
    """Content to scan: ``data``, or (when ``host_path`` is set) the file at that path of this host, which the
    scan function opens itself. ``strings`` is the secret scanner's flag for a binary whose printable strings
    are scanned; ``context`` is anything else the scan function needs (picklable, small); ``size`` is the
    content's size in bytes (for counts and batching)."""

    id: int
    origin: Origin
    data: bytes
    strings: bool = False
    host_path: str | None = None
    context: tuple[Any, ...] = ()
    size: int = -1

    def __post_init__(self) -> None:
        if self.size < 0:
            self.size = len(self.data)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the scan function returned for a task, or why nothing: ``timeout`` or an ``error`` message."""

    task: Task
    hits: tuple[Any, ...] = ()
    timeout: bool = False
    error: str = ""


#: A scanner's function: the engine and a task in, small picklable results out. It runs in workers, so it
#: must be a module-level function (pickled by reference).
ScanFn = Callable[[Any, Task], "list[Any] | tuple[Any, ...]"]


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
class RunInfo:
    """How :func:`run_tasks` ran: ``serial`` or ``processes``, with how many, and when it switched."""

    mode: str = "serial"
    workers: int = 1
    switched_after_s: float | None = None


class PoolUnavailable(Exception):
    """No worker process could be started (the caller goes on in-process)."""


class _FileTimeout(BaseException):
    """Raised by SIGALRM in the engine when one file takes too long (BaseException: no engine swallows it)."""


class SerialRunner:
    """Runs the engine in this process; the per-file timeout interrupts it through SIGALRM, which only the
    main thread can receive (elsewhere, or when the caller has a timer running, it is not enforced)."""

    def __init__(self, engine: Any, scan: ScanFn, file_timeout: float | None) -> None:
        self.engine = engine
        self.scan = scan
        self.file_timeout = file_timeout
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
            hits = self.scan(self.engine, task)
            self._armed = False
            return Outcome(task, tuple(hits))
        except _FileTimeout:
            return Outcome(task, timeout=True)
        except Exception as exc:  # an engine bug on one file: reported, the scan goes on
            return Outcome(task, error=why(exc))
        finally:
            self._armed = False
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
            self.engine_seconds += time.perf_counter() - started


def engine_payload(engine: Any) -> bytes:
    """What a worker rebuilds the engine from: its ``serialize()`` form when it has one, else the engine
    itself, pickled."""
    serialize = getattr(engine, "serialize", None)
    if callable(serialize):
        return pickle.dumps(("serialized", type(engine), serialize()))
    return pickle.dumps(("pickled", engine, None))


def rebuild_engine(payload: bytes) -> Any:
    how, obj, data = pickle.loads(payload)  # noqa: S301 - our own payload, sent through our own pipe
    if how == "serialized":
        return obj.from_serialized(data)
    return obj


def _worker_main(conn: Connection, payload: bytes, scan: ScanFn, clock: Any) -> None:
    """A worker process: rebuild the engine, then scan batches of tasks ``(id, path, data, strings, host_path,
    context)`` with ``scan`` until told
    to stop, answering each batch with its results. ``clock`` (shared memory) holds the index in the batch of
    the task being scanned (-1 between batches) and when its scan started, for the parent's per-file timeout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and kills its workers
    try:
        engine = rebuild_engine(payload)
    except BaseException as exc:
        conn.send(("failed", why(exc)))
        return
    conn.send(("ready", ""))
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        results: list[tuple[int, list[Any] | tuple[Any, ...] | None, str]] = []
        for index, (task_id, path, data, strings, host_path, context) in enumerate(batch):
            clock[1] = time.monotonic()
            clock[0] = index
            try:
                task = Task(task_id, Origin(path), data, strings, host_path, context)
                results.append((task_id, scan(engine, task), ""))
            except Exception as exc:
                results.append((task_id, None, why(exc)))
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
    is reported, the others of its batch are scanned again. A worker that dies is replaced too. With ``local``
    (a :class:`SerialRunner`), this process scans tasks itself while no worker has started yet (rebuilding a
    large engine in a worker takes a second or more)."""

    def __init__(self, engine: Any, scan: ScanFn, size: int, file_timeout: float | None,
                 name: str = "threatstryker-scan", local: SerialRunner | None = None) -> None:
        self.local = local
        #: tasks this process scanned itself while the workers started, and workers that became ready
        self.local_tasks = 0
        self.ready_workers = 0
        self.size = max(1, size)
        self.scan = scan
        self.file_timeout = file_timeout
        self.name = name
        self._payload = engine_payload(engine)
        self._ctx: Any = multiprocessing.get_context(START_METHOD)
        if START_METHOD == "forkserver":
            # workers forked from a server that has these imported start in ~15 ms instead of ~200 ms (no
            # effect once the server runs: it is started once per process, by the first pool)
            self._ctx.set_forkserver_preload([__name__, type(engine).__module__, scan.__module__])
        self._starting: dict[Connection, _Worker] = {}
        self._idle: list[_Worker] = []
        self._busy: dict[Connection, _Worker] = {}
        self._again: deque[Task] = deque()
        self.failures: list[str] = []

    def _spawn(self) -> None:
        parent, child = self._ctx.Pipe()
        clock = self._ctx.RawArray("d", 2)
        clock[0] = -1
        process = self._ctx.Process(target=_worker_main, args=(child, self._payload, self.scan, clock),
                                    daemon=True, name=self.name)
        try:
            process.start()
        except (OSError, RuntimeError, ValueError) as exc:  # no process could be made: the caller goes serial
            self.failures.append(f"cannot start a worker process ({why(exc)})")
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
            size += task.size
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
                        worker.conn.send([(t.id, t.origin.path, t.data, t.strings, t.host_path, t.context)
                                          for t in batch])
                    except (OSError, ValueError):
                        self._kill(worker)
                        self._spawn()
                        self._again.extend(batch)
                        continue
                    worker.batch, worker.started = batch, time.monotonic()
                    self._busy[worker.conn] = worker
                scanning_here = self.local is not None and not exhausted and not self._idle \
                    and not self._busy and bool(self._starting)
                if scanning_here:
                    task = self._again.popleft() if self._again else next(source, None)
                    if task is None:
                        exhausted = True
                    else:
                        assert self.local is not None
                        self.local_tasks += 1
                        yield from self.local.run((task,), stop)
                if exhausted and not self._busy and not self._again:
                    return
                exhausted = exhausted and not self._again
                if not self._busy and not self._idle and not self._starting:
                    raise PoolUnavailable("; ".join(dict.fromkeys(self.failures)) or "no worker process started")
                yield from self._collect(0.0 if scanning_here else None)
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

    def _collect(self, timeout: float | None = None) -> Iterator[Outcome]:
        if timeout is None:
            timeout = 0.05 if self.file_timeout else 0.25
        for conn in wait([*self._busy, *self._starting], timeout):
            assert isinstance(conn, Connection)
            if conn in self._starting:
                worker = self._starting.pop(conn)
                try:
                    state, reason = conn.recv()
                except (EOFError, OSError):
                    state, reason = "failed", "worker process exited while starting"
                if state == "ready":
                    self.ready_workers += 1
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


def idle_cpus(window: float = 0.1) -> int:
    """CPUs other programs leave idle, measured over ``window`` seconds of this process sleeping (at least 1;
    the CPU count where /proc/stat cannot be read)."""
    cpus = cpu_count()
    before = idle_seconds()
    time.sleep(window)
    after = idle_seconds()
    if before is None or after is None:
        return cpus
    return max(1, min(cpus, round((after - before) / window)))


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1




def run_tasks(engine: Any, scan: ScanFn, tasks: Iterable[Task], record: Callable[[Outcome], None], *,
              workers: int = 0, file_timeout: float | None, stop: Callable[[], bool],
              warn: Callable[[str, str], None], done: Callable[[], float | None] | None = None,
              serial_scan: ScanFn | None = None, name: str = "threatstryker-scan",
              scan_while_starting: bool = False) -> RunInfo:
    """Scan every task and hand each outcome to ``record``: in ``workers`` processes (1: in this process;
    0: in this process, moving to one worker per usable CPU when :func:`worth_processes` says so, judging by
    ``done``, the fraction of the work done so far). ``serial_scan`` (default ``scan``) is used in this
    process; a pool that cannot start is reported through ``warn`` and the scan goes on in this process.
    ``scan_while_starting``: when the automatic mode moves to workers, this process goes on scanning until the
    first worker is ready (for engines that take long to rebuild); an explicit ``workers`` count is kept to."""
    source = iter(tasks)
    info = RunInfo()
    if workers > 1:
        _pool(engine, scan, serial_scan or scan, source, workers, record, file_timeout, stop, warn, name, info,
              local=False)
        return info
    serial = SerialRunner(engine, serial_scan or scan, file_timeout)
    cpus = cpu_count()
    adaptive = workers == 0 and cpus > 1
    switch = False
    started = window = time.monotonic()
    idle_at_window = idle_seconds()
    usable = cpus

    def stop_serial() -> bool:
        return switch or stop()

    for outcome in serial.run(source, stop_serial):
        record(outcome)
        now = time.monotonic()
        if adaptive and now >= window + PROBE_SECONDS:
            # CPUs other programs leave idle, measured over the last window (this process keeps one busy)
            idle_now = idle_seconds()
            if idle_now is not None and idle_at_window is not None and now > window:
                usable = min(cpus, 1 + round((idle_now - idle_at_window) / (now - window)))
            window, idle_at_window = now, idle_now
            switch = worth_processes(serial.engine_seconds, now - started, done() if done else None, usable)
    if switch and not stop():
        info.switched_after_s = round(time.monotonic() - started, 3)
        _pool(engine, scan, serial_scan or scan, source, usable, record, file_timeout, stop, warn, name, info,
              local=scan_while_starting)
    return info


def _pool(engine: Any, scan: ScanFn, serial_scan: ScanFn, source: Iterator[Task], workers: int,
          record: Callable[[Outcome], None], file_timeout: float | None, stop: Callable[[], bool],
          warn: Callable[[str, str], None], name: str, info: RunInfo, local: bool) -> None:
    info.mode, info.workers = "processes", workers
    here = SerialRunner(engine, serial_scan, file_timeout) if local else None
    pool = ProcessRunner(engine, scan, workers, file_timeout, name, local=here)
    try:
        for outcome in pool.run(source, stop):
            record(outcome)
        if pool.ready_workers == 0:  # every task was scanned here while the workers were (not) starting
            info.mode, info.workers = "serial", 1
            if pool.failures:
                warn(f"({name})", f"worker processes unavailable ({'; '.join(dict.fromkeys(pool.failures))}); "
                                  "scanning in this process")
    except PoolUnavailable as exc:
        warn(f"({name})", f"worker processes unavailable ({exc}); scanning in this process")
        info.mode, info.workers = "serial", 1
        rest = itertools.chain(pool.leftover(), source)
        for outcome in SerialRunner(engine, serial_scan, file_timeout).run(rest, stop):
            record(outcome)


def why(exc: BaseException) -> str:
    """An exception in one line, at most 200 characters (engine messages are not trusted to be short)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line[:200]


__all__ = [
    "PROBE_SECONDS",
    "Origin",
    "Outcome",
    "PoolUnavailable",
    "ProcessRunner",
    "Progress",
    "RunInfo",
    "ScanFn",
    "ScanProgress",
    "SerialRunner",
    "Task",
    "cpu_count",
    "engine_payload",
    "idle_cpus",
    "idle_seconds",
    "rebuild_engine",
    "run_tasks",
    "why",
    "worth_processes",
]
