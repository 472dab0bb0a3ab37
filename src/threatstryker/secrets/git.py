"""Scans the history of a git repository for secrets: the lines every commit added, streamed from
``git log -p`` through a pipe (never the whole log in memory), each finding carrying its commit, the file's
path and the line number in that commit's version of the file.

Only added lines are scanned, so a secret is reported once, at the commit that introduced it (renames are
detected, so moving a file reports nothing new). Binary files are skipped; paths and content need not be
UTF-8; the added lines of one file in one commit are scanned up to the size cap (the rest is reported in a
warning). Merge commits are not diffed (their changes come from the commits they merge). Afterwards each
finding's ``present`` says whether the same secret is still in that file at HEAD.

git runs with argument lists only, without pager, external diff or textconv drivers, so a repository's own
configuration runs no command of its choosing here.
"""

from __future__ import annotations

import os
import posixpath
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from threatstryker.filescan.walk import Walker
from threatstryker.model import ScanWarning
from threatstryker.model.finding import SecretFinding
from threatstryker.secrets.scanner import (
    ContentScan,
    Origin,
    Progress,
    ScanProgress,
    SecretEngineLike,
    SecretScanOptions,
    SecretScanResult,
    SecretScanStats,
    SerialRunner,
    Task,
    merge_findings,
    scan_task,
    scan_task_revealed,
)
from threatstryker.sources.filetree import display_path

#: The options of ``git log`` that make its output this module's to parse, whatever the user's config says.
LOG_OPTIONS = (
    "log", "--all", "-p", "-U0", "-M", "--no-color", "--no-ext-diff", "--no-textconv", "--no-relative",
    "--no-show-signature", "--src-prefix=a/", "--dst-prefix=b/", "--format=%x00%H",
)
#: Seconds git may take for a quick question (is this a repository, how large is it).
QUICK_TIMEOUT = 60.0

_HUNK = re.compile(rb"^@@+ (?:-\d+(?:,\d+)? )+\+(\d+)(?:,(\d+))? @@")
_C_ESCAPES = {b"a": 7, b"b": 8, b"t": 9, b"n": 10, b"v": 11, b"f": 12, b"r": 13, b'"': 34, b"\\": 92}


class GitScanError(Exception):
    """The repository cannot be scanned at all; the message is one line."""


def _git(repo: Path) -> list[str]:
    return ["git", "--no-pager", "-C", str(repo), "-c", "core.quotePath=false"]


def _quick(repo: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run([*_git(repo), *args], capture_output=True, timeout=QUICK_TIMEOUT, check=False)
    except FileNotFoundError:
        raise GitScanError("git is not installed (needed to scan a repository's history)") from None
    except subprocess.TimeoutExpired:
        raise GitScanError(f"{repo}: git did not answer within {QUICK_TIMEOUT:g}s") from None


def check_repository(repo: Path) -> None:
    """GitScanError (one line) unless ``repo`` is a git repository git agrees to read."""
    if not repo.exists():
        raise GitScanError(f"{repo}: no such file or directory")
    if not repo.is_dir():
        raise GitScanError(f"{repo}: not a git repository (not a directory)")
    done = _quick(repo, "rev-parse", "--git-dir")
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = message[0].removeprefix("fatal: ") if message else "git rev-parse failed"
        if "not a git repository" in reason:
            reason = "not a git repository"
        raise GitScanError(f"{repo}: {reason}")


def unquote_path(raw: bytes) -> bytes:
    """A path as git prints it in a diff header: C-quoted ('"a/we\\"ird"', octal escapes) or plain."""
    if not (len(raw) >= 2 and raw.startswith(b'"') and raw.endswith(b'"')):
        return raw
    body = raw[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i : i + 1]
        if c == b"\\" and i + 1 < len(body):
            nxt = body[i + 1 : i + 2]
            if nxt in _C_ESCAPES:
                out.append(_C_ESCAPES[nxt])
                i += 2
                continue
            octal = body[i + 1 : i + 4]
            if len(octal) == 3 and all(48 <= b <= 55 for b in octal):
                out.append(int(octal, 8) & 0xFF)
                i += 4
                continue
        out += c
        i += 1
    return bytes(out)


def _new_path(line: bytes) -> str | None:
    """The file a '+++ b/PATH' header names (None for /dev/null), decoded as the file system does."""
    raw = line[4:].rstrip(b"\n")
    if raw.endswith(b"\t"):
        raw = raw[:-1]  # git ends the name with a tab when it holds a space
    raw = unquote_path(raw)
    if raw == b"/dev/null":
        return None
    if raw.startswith(b"b/"):
        raw = raw[2:]
    return os.fsdecode(raw)


@dataclass(slots=True)
class _FileDiff:
    """The added lines of one file in one commit, as they come."""

    commit: str
    path: str | None = None
    new_file: bool = False
    renamed_from: str | None = None
    binary: bool = False
    skipped: bool = False
    truncated: bool = False
    lines: list[bytes] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    size: int = 0
    next_line: int = 0


class _HistoryScan:
    """One scan of a repository's history."""

    def __init__(self, repo: Path, engine: SecretEngineLike, options: SecretScanOptions,
                 progress: Progress | None) -> None:
        self.repo = repo
        self.engine = engine
        self.options = options
        self.progress = progress
        self.started = time.monotonic()
        self.deadline = self.started + options.timeout if options.timeout else None
        self.warnings: list[ScanWarning] = []
        self._warned: set[tuple[str, str]] = set()
        self.stats = SecretScanStats()
        self.walker = Walker(self.warn, tuple(options.exclude), options.lockfiles, options.max_file_size)
        self.content = ContentScan(engine, options, self.stats, self.warn, self.timed_out)
        self.commits = 0
        self.commits_total = 0
        self.bytes_read = 0
        self._last_progress = 0.0
        #: paths a commit renamed, and what to (to follow a secret to where HEAD keeps it)
        self.renames: dict[str, set[str]] = {}
        #: the path as git gave it (undecodable bytes as surrogates) of each path shown in findings
        self.raw_paths: dict[str, str] = {}

    def warn(self, path: str, reason: str) -> None:
        key = (display_path(path), reason)
        if key not in self._warned:
            self._warned.add(key)
            self.warnings.append(ScanWarning(*key))

    def timed_out(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def run(self) -> SecretScanResult:
        check_repository(self.repo)
        self.commits_total = self._count_commits()
        with tempfile.TemporaryFile() as errors:
            try:
                proc = subprocess.Popen([*_git(self.repo), *LOG_OPTIONS], stdout=subprocess.PIPE, stderr=errors)
            except OSError as exc:
                raise GitScanError(f"{self.repo}: cannot run git ({exc.strerror or exc})") from None
            assert proc.stdout is not None
            try:
                self.content.run(self._tasks(proc.stdout), self.options.workers,
                                 lambda: self.commits / self.commits_total if self.commits_total else None)
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.stdout.close()
                code = proc.wait()
            errors.seek(0)
            message = errors.read(4096).decode("utf-8", "replace").strip().splitlines()
        partial = self.stats.timeouts > 0
        if self.timed_out():
            self.warn(str(self.repo), f"scan timed out after {self.options.timeout:g}s; results are partial")
            partial = True
        elif code != 0:
            self.warn(str(self.repo), f"git log failed ({message[0] if message else f'exit status {code}'}); "
                                      "results are partial")
            partial = True
        findings = merge_findings(self.content.findings)
        self._mark_present(findings)
        self.stats.files = self.commits
        self.stats.duration_s = round(time.monotonic() - self.started, 3)
        return SecretScanResult(findings, self.warnings, partial, self.stats)

    def _count_commits(self) -> int:
        done = _quick(self.repo, "rev-list", "--all", "--count")
        try:
            return int(done.stdout.strip() or 0)
        except ValueError:
            return 0

    # -- the log, line by line -------------------------------------------------------------------------------
    def _tasks(self, out: IO[bytes]) -> Iterator[Task]:
        limit = self.options.max_file_size + 2
        current: _FileDiff | None = None
        commit = ""
        in_hunk = False
        continued = False  # the previous read stopped inside a line longer than the read limit
        while True:
            if self.timed_out():
                return
            line = out.readline(limit)
            if not line:
                break
            self.bytes_read += len(line)
            was_continued, continued = continued, not line.endswith(b"\n")
            if was_continued:
                if current is not None and in_hunk and current.lines and not current.skipped:
                    self._extend_last(current, line)
                continue
            if line.startswith(b"\x00"):
                yield from self._flush(current)
                current, in_hunk = None, False
                commit = line[1:].strip().decode("ascii", "replace")
                self.commits += 1
                self._progress(commit)
                continue
            if line.startswith(b"diff --git "):
                yield from self._flush(current)
                current, in_hunk = _FileDiff(commit), False
                continue
            if current is None:
                continue
            if in_hunk:
                if line.startswith(b"+"):
                    self._add(current, line[1:])
                    continue
                if line.startswith((b"-", b"\\")):
                    continue
                if line.startswith(b" "):
                    current.next_line += 1
                    continue
            if line.startswith(b"@@"):
                m = _HUNK.match(line)
                if m is not None:
                    in_hunk = True
                    current.next_line = int(m.group(1))
                continue
            if line.startswith(b"+++ "):
                current.path = _new_path(line)
                if current.path is not None and self.walker.skip_name("/" + current.path,
                                                                     posixpath.basename(current.path)):
                    current.skipped = True
            elif line.startswith(b"new file mode"):
                current.new_file = True
            elif line.startswith(b"rename from "):
                current.renamed_from = os.fsdecode(unquote_path(line[12:].rstrip(b"\n")))
            elif line.startswith(b"rename to ") and current.renamed_from is not None:
                new = os.fsdecode(unquote_path(line[10:].rstrip(b"\n")))
                self.renames.setdefault(current.renamed_from, set()).add(new)
            elif line.startswith(b"Binary files ") or line.startswith(b"GIT binary patch"):
                current.binary = True
                current.path = current.path or _binary_path(line)
        yield from self._flush(current)
        self._progress("", force=True)

    def _add(self, diff: _FileDiff, text: bytes) -> None:
        number = diff.next_line
        diff.next_line += 1
        if diff.skipped or diff.truncated:
            return
        text = text[:-1] if text.endswith(b"\n") else text
        if diff.size + len(text) + 1 > self.options.max_file_size:
            diff.truncated = True
            return
        diff.lines.append(text)
        diff.numbers.append(number)
        diff.size += len(text) + 1

    def _extend_last(self, diff: _FileDiff, chunk: bytes) -> None:
        chunk = chunk[:-1] if chunk.endswith(b"\n") else chunk
        if diff.truncated or diff.size + len(chunk) > self.options.max_file_size:
            diff.truncated = True
            return
        diff.lines[-1] += chunk
        diff.size += len(chunk)

    def _flush(self, diff: _FileDiff | None) -> Iterator[Task]:
        if diff is None or diff.path is None or diff.skipped:
            return
        short = diff.commit[:12]
        origin = Origin(display_path(diff.path), commit=diff.commit, lines=tuple(diff.numbers))
        self.raw_paths[origin.path] = diff.path
        data = b"\n".join(diff.lines)
        if diff.new_file:
            self.content.sensitive(origin, data)
        if diff.binary:
            self.stats.binary_skipped += 1
            return
        if diff.truncated:
            self.stats.too_large += 1
            self.warn(origin.path, f"lines added by commit {short} exceed the {self.options.max_file_size}-byte "
                                   "cap; only the first ones are scanned")
        task = self.content.task(origin, data)
        if task is not None:
            yield task

    def _progress(self, commit: str, force: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_progress >= 0.1:
            self._last_progress = now
            self.progress(ScanProgress(self.commits, self.commits_total, self.bytes_read, 0, commit))

    # -- is the secret still there? ------------------------------------------------------------------------------
    def _mark_present(self, findings: list[SecretFinding]) -> None:
        """Set ``present`` of each finding: whether the same rule still finds the same secret at HEAD, in that
        file or in what later commits renamed it to (left True when HEAD's version cannot be read or is over
        the cap)."""
        places = {f.path: self._renamed(self.raw_paths.get(f.path, f.path)) for f in findings if f.secret_sha256}
        paths = sorted({p for names in places.values() for p in names if "\n" not in p})
        if not paths:
            return
        at_head = self._scan_head(paths)
        for f in findings:
            if not f.secret_sha256:
                continue
            seen = [at_head.get(p, None) for p in places[f.path]]
            f.present = any(s is None or (f.id, f.secret_sha256) in s for s in seen)

    def _renamed(self, path: str) -> list[str]:
        """``path`` and the paths renames took it to (a bounded walk: histories may rename in circles)."""
        out = [path]
        for name in out:
            if len(out) >= 32:
                break
            out += sorted(n for n in self.renames.get(name, ()) if n not in out)
        return out[:32]

    def _scan_head(self, paths: list[str]) -> dict[str, set[tuple[str, str]] | None]:
        """For each path: the (rule, secret hash) pairs found in HEAD's version, an empty set when HEAD has no
        such file, None when it could not be read (or is over the cap). Blobs are read one at a time."""
        out: dict[str, set[tuple[str, str]] | None] = {}
        tasks: list[Task] = []
        try:
            proc = subprocess.Popen([*_git(self.repo), "cat-file", "--batch"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError:
            return out
        assert proc.stdin is not None and proc.stdout is not None
        try:
            for i, path in enumerate(paths):
                if self.timed_out():
                    break
                proc.stdin.write(b"HEAD:" + os.fsencode(path) + b"\n")
                proc.stdin.flush()
                kind, data = _read_blob(proc.stdout, self.options.max_file_size)
                if kind == "missing":
                    out[path] = set()
                elif kind == "blob" and data is not None:
                    tasks.append(Task(i, Origin(path), data))
                else:
                    out[path] = None
        except OSError:
            pass
        finally:
            proc.kill()
            proc.wait()
            proc.stdin.close()
            proc.stdout.close()
        scan = scan_task_revealed if self.options.reveal else scan_task
        for outcome in SerialRunner(self.engine, scan, self.options.file_timeout).run(tasks, self.timed_out):
            path = outcome.task.origin.path
            out[path] = None if outcome.timeout or outcome.error else \
                {(h.rule_id, h.secret_sha256) for h in outcome.hits}
        return out


def _read_blob(out: IO[bytes], cap: int) -> tuple[str, bytes | None]:
    """One answer of ``git cat-file --batch``: ("missing", None), ("blob", content), or (type, None) for another
    object type or a blob larger than ``cap`` (its bytes are read past in chunks, never held)."""
    header = out.readline(1024).split()
    if len(header) != 3 or not header[2].isdigit():
        return "missing", None
    kind, size = header[1].decode("ascii", "replace"), int(header[2])
    data: bytes | None = None
    if kind == "blob" and size <= cap:
        data = out.read(size)
    else:
        left = size
        while left > 0:
            chunk = out.read(min(left, 1024 * 1024))
            if not chunk:
                break
            left -= len(chunk)
        kind = kind if kind != "blob" else "too-large"
    out.read(1)  # the newline after the content
    return kind, data


def _binary_path(line: bytes) -> str | None:
    """The new path of a 'Binary files a/X and b/Y differ' line."""
    m = re.match(rb"Binary files (?:.*) and (.*) differ$", line.rstrip(b"\n"))
    if m is None:
        return None
    return _new_path(b"+++ " + m.group(1))


def scan_git(repo: Path, engine: SecretEngineLike, options: SecretScanOptions | None = None,
             progress: Progress | None = None) -> SecretScanResult:
    """Scan the lines every commit of ``repo`` (all refs) added; GitScanError when it is not a repository."""
    return _HistoryScan(Path(repo), engine, options or SecretScanOptions(), progress).run()


__all__ = ["LOG_OPTIONS", "GitScanError", "check_repository", "scan_git", "unquote_path"]
