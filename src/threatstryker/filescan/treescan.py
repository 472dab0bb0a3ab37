"""What a file scanner's pass over one tree shares, whatever its engine: each warning once, the overall
deadline, the walk's counts, the progress callback, and the loop that turns walked files into tasks with
read errors reported as warnings (a file that cannot be read never stops the scan)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from threatstryker.filescan.archives import ArchiveExpander
from threatstryker.filescan.pool import Progress, ScanProgress, Task
from threatstryker.filescan.walk import Walker, WalkItem
from threatstryker.model import ScanWarning
from threatstryker.sources.filetree import FileTree, FileTreeError, display_path

#: How often (seconds) the progress callback is called at most.
PROGRESS_INTERVAL = 0.1


@dataclass(slots=True)
class TreeCounts:
    """What the walk and the archive expander saw, for a scanner's stats."""

    files: int = 0
    hidden_versions: int = 0
    lockfiles: int = 0
    excluded: int = 0
    too_large: int = 0
    archives: int = 0
    archive_members: int = 0


class TreeScan:
    """The shared part of one scan of a tree; a scanner subclasses it, sets ``walker`` and ``expander`` and
    implements :meth:`item_tasks` (the tasks of one walked file)."""

    #: Shown in the warning of a scan that ran out of time: ``(secret scan): scan timed out...``.
    label = "scan"
    walker: Walker
    expander: ArchiveExpander

    def __init__(self, tree: FileTree, timeout: float | None, progress: Progress | None) -> None:
        self.tree = tree
        self.timeout = timeout
        self.progress = progress
        self.started = time.monotonic()
        self.deadline = self.started + timeout if timeout else None
        self.warnings: list[ScanWarning] = []
        self._warned: set[tuple[str, str]] = set()
        self._last_progress = 0.0
        self.bytes_done = 0
        self.bytes_total = 0

    def warn(self, path: str, reason: str) -> None:
        key = (path, reason)
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(ScanWarning(display_path(path), reason))

    def timed_out(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def done(self) -> float | None:
        """The fraction of the bytes to read that were read (None: nothing to read)."""
        return self.bytes_done / self.bytes_total if self.bytes_total else None

    def walk(self) -> list[WalkItem]:
        items = [item for item in self.walker.walk(self.tree, stop=self.timed_out) if self.selected(item)]
        self.bytes_total = sum(item.info.size for item in items)
        return items

    def selected(self, item: WalkItem) -> bool:
        """Whether a walked file is scanned (every one, unless a scanner filters)."""
        return True

    def tasks(self, items: list[WalkItem]) -> Iterator[Task]:
        """Every task of every item, until the deadline; read errors become warnings."""
        for done, item in enumerate(items):
            if self.timed_out():
                return
            self._progress(done, len(items), item.path)
            try:
                yield from self.item_tasks(item)
            except FileTreeError as exc:
                self.warn(item.path, _tree_error(exc, item.path))
            except PermissionError:
                self.warn(item.path, "permission denied; not scanned")
            except OSError as exc:
                self.warn(item.path, f"cannot read ({exc.strerror or exc}); not scanned")
            self.bytes_done += item.info.size
        self._progress(len(items), len(items), "", force=True)

    def item_tasks(self, item: WalkItem) -> Iterator[Task]:
        raise NotImplementedError

    def counts(self) -> TreeCounts:
        c = self.walker.counts
        return TreeCounts(c.files, c.hidden_versions, c.lockfiles, c.excluded, c.too_large, self.expander.archives,
                          self.expander.members)

    def finish(self, timeouts: int) -> tuple[list[ScanWarning], bool, float]:
        """The warnings (the tree's first, each once), whether the result is partial (the tree was, a file or
        the whole scan timed out), and the seconds the scan took."""
        partial = bool(getattr(self.tree, "partial", False)) or timeouts > 0
        if self.timed_out():
            self.warn(f"({self.label})", f"scan timed out after {self.timeout:g}s; results are partial")
            partial = True
        return unique_warnings([*self.tree.warnings, *self.warnings]), partial, \
            round(time.monotonic() - self.started, 3)

    def _progress(self, done: int, files: int, path: str, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self.progress(ScanProgress(done, files, self.bytes_done, self.bytes_total, path))


def unique_warnings(warnings: list[ScanWarning]) -> list[ScanWarning]:
    """``warnings`` with repeats (same path and reason) left out, in order."""
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


__all__ = ["PROGRESS_INTERVAL", "TreeCounts", "TreeScan", "unique_warnings"]
