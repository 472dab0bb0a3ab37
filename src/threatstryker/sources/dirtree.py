"""DirTree: a FileTree over a directory of the host (a project, a root filesystem, /proc/PID/root)."""

from __future__ import annotations

import os
import re
import stat as statmod
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

from threatstryker.sources.filetree import (
    FILE,
    OTHER,
    SYMLINK,
    FileInfo,
    FileTree,
    FileTreeError,
    PathMatcher,
    display_path,
    is_shared_library,
    kind_of_mode,
    maybe_binary,
)

#: Top-level directories of a system root that hold no files worth reading (kernel and device views).
PSEUDO_ROOT_DIRS = ("/proc", "/sys", "/dev")


class DirTree(FileTree):
    """Files under ``root`` on the host, with every path and symlink confined to ``root``.

    ``skip`` lists absolute in-tree directories never entered; ``cross_mounts`` allows walking into other
    file systems mounted below the root (off by default); ``exclude`` holds globs of paths to leave out.
    """

    def __init__(
        self,
        root: str,
        skip: Iterable[str] = (),
        cross_mounts: bool = False,
        exclude: Iterable[str] = (),
    ) -> None:
        super().__init__()
        # abspath, not realpath: /proc/PID/root is a magic link whose readlink() is the process's own "/",
        # so realpath() would turn a container's root into the host's root.
        real = os.path.abspath(root)
        st = os.stat(real)
        if not statmod.S_ISDIR(st.st_mode):
            raise FileTreeError(f"{root}: not a directory")
        self.root = real
        self._root_dev = st.st_dev
        #: mount points below the root: a bind mount of the same file system has the same st_dev
        self._mounts = mount_points_below(real)
        self.skip = {s.rstrip("/") or "/" for s in skip}
        self.cross_mounts = cross_mounts
        excl: list[str] = []
        for pattern in exclude:
            # "/a/b/**" and "/a/b" leave out a whole directory: pruned by the walk, no per-file matching
            prefix = pattern.removesuffix("/**").rstrip("/")
            if prefix.startswith("/") and not any(ch in prefix for ch in "*?["):
                self.skip.add(prefix or "/")
            else:
                excl.append(pattern)
        self._exclude = PathMatcher((p, p) for p in excl) if excl else None
        #: directories the walk listed; their files are opened without re-resolving each component
        self._walked: set[str] = set()

    def host_path(self, path: str) -> str:
        """The host path of an in-tree path whose components were already resolved."""
        return self.root.rstrip("/") + path if path != "/" else self.root

    def lookup(self, path: str) -> FileInfo | None:
        try:
            st = os.lstat(self.host_path(path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            self.warn(path, f"cannot stat: {exc.strerror}")
            return None
        return self._info(path, st)

    def _info(self, path: str, st: os.stat_result) -> FileInfo:
        kind = kind_of_mode(st.st_mode)
        link = None
        if kind == SYMLINK:
            try:
                link = os.readlink(self.host_path(path))
            except OSError:
                link = ""
        return FileInfo(path, kind, st.st_size, statmod.S_IMODE(st.st_mode), st.st_uid, st.st_gid, link)

    def entries(self) -> Iterator[FileInfo]:
        yield from self._walk("/", self.root)

    def _scandir(self, dpath: str, dhost: str) -> os._ScandirIterator[str] | None:
        """The entries of a directory, or None (with a warning) when it cannot be listed."""
        try:
            return os.scandir(dhost)
        except PermissionError:
            self.warn(dpath, "permission denied (directory skipped)")
        except OSError as exc:
            self.warn(dpath, f"cannot list directory: {exc.strerror}")
        return None

    def _walk(self, path: str, host: str) -> Iterator[FileInfo]:
        stack = [(path, host)]
        while stack:
            dpath, dhost = stack.pop()
            it = self._scandir(dpath, dhost)
            if it is None:
                continue
            with it:
                subdirs: list[tuple[str, str]] = []
                for entry in it:
                    cpath = (dpath.rstrip("/") + "/" + entry.name) if dpath != "/" else "/" + entry.name
                    if cpath in self.skip or (self._exclude is not None and self._exclude.match(cpath)):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError as exc:
                        self.warn(cpath, f"cannot stat: {exc.strerror}")
                        continue
                    if statmod.S_ISDIR(st.st_mode):
                        if cpath in self.skip:
                            continue
                        if not self.cross_mounts and (st.st_dev != self._root_dev or cpath in self._mounts):
                            continue
                        subdirs.append((cpath, entry.path))
                    info = self._info(cpath, st) if statmod.S_ISLNK(st.st_mode) else FileInfo(
                        cpath,
                        kind_of_mode(st.st_mode),
                        st.st_size,
                        statmod.S_IMODE(st.st_mode),
                        st.st_uid,
                        st.st_gid,
                    )
                    if isinstance(entry.name, str) and _has_surrogates(entry.name):
                        self.warn(display_path(cpath), "file name is not valid UTF-8")
                    yield info
                stack.extend(reversed(subdirs))

    def select(
        self, matcher: PathMatcher, executables: bool = False, stop: Callable[[], bool] | None = None
    ) -> Iterator[tuple[FileInfo, list[object]]]:
        """The fast path of the catalog walk: only claimed files and binary candidates are stat'ed."""
        stack: list[tuple[str, str, str]] = [("/", self.root, "")]
        quick = matcher.quick
        exclude = self._exclude
        skip = self.skip
        walked = self._walked
        while stack:
            if stop is not None and stop():
                return
            dpath, dhost, dname = stack.pop()
            it = self._scandir(dpath, dhost)
            if it is None:
                continue
            walked.add(dpath)
            prefix = dpath if dpath.endswith("/") else dpath + "/"
            subdirs: list[tuple[str, str, str]] = []
            with it:
                for entry in it:
                    name = entry.name
                    cpath = prefix + name
                    if cpath in skip or (exclude is not None and exclude.match(cpath)):
                        continue
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if exclude is not None and exclude.match(cpath + "/"):
                                continue
                            if cpath in self.skip:
                                continue
                            if not self.cross_mounts and (
                                cpath in self._mounts or entry.stat(follow_symlinks=False).st_dev != self._root_dev
                            ):
                                continue
                            subdirs.append((cpath, entry.path, name))
                            continue
                        if not entry.is_file(follow_symlinks=False):
                            if not entry.is_symlink() and quick(name, dname) and matcher.match(cpath):
                                what = _special_kind(entry.stat(follow_symlinks=False).st_mode)
                                self.warn(cpath, f"not a regular file ({what}); not read")
                            continue
                        claimed = quick(name, dname)
                        if not claimed and not (executables and maybe_binary(name)):
                            continue
                        st = entry.stat(follow_symlinks=False)
                    except OSError as exc:
                        self.warn(cpath, f"cannot stat: {exc.strerror}")
                        continue
                    info = FileInfo(cpath, FILE, st.st_size, statmod.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
                    hits = matcher.match(cpath) if claimed else []
                    if hits or (executables and (st.st_mode & 0o111 or is_shared_library(name))):
                        if _has_surrogates(name):
                            self.warn(cpath, "file name is not valid UTF-8")
                        yield info, hits
            stack.extend(reversed(subdirs))

    def open_info(self, info: FileInfo) -> BinaryIO:
        """A file the walk yielded: its directory was entered as a real directory (never through a symlink),
        so only the last component needs guarding (O_NOFOLLOW); anything else is resolved first."""
        parent = info.path.rsplit("/", 1)[0] or "/"
        if info.kind == FILE and parent in self._walked:
            try:
                return self._open_entry(info)
            except OSError as exc:
                raise FileTreeError(f"{display_path(info.path)}: {exc.strerror or exc}") from exc
        return self.open(info.path)

    def _open_entry(self, info: FileInfo) -> BinaryIO:
        if info.kind != FILE:
            raise FileTreeError(f"{display_path(info.path)}: not a regular file")
        host = self.host_path(info.path)
        # O_NOFOLLOW: the last component must not have become a symlink since it was resolved;
        # O_NONBLOCK: never block on a FIFO swapped in meanwhile.
        fd = os.open(host, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            st = os.fstat(fd)
            if not statmod.S_ISREG(st.st_mode):
                raise FileTreeError(f"{display_path(info.path)}: not a regular file ({kind_of_mode(st.st_mode)})")
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb", buffering=256 * 1024)
        except BaseException:
            os.close(fd)
            raise

    def list_names(self, path: str) -> list[str]:
        try:
            return os.listdir(self.host_path(self.resolve(path)))
        except (OSError, FileTreeError):
            return []

    def listdir(self, path: str) -> list[FileInfo]:
        real = self.resolve(path)
        try:
            names = os.listdir(self.host_path(real))
        except OSError:
            return []
        out = []
        for name in names:
            child = (real.rstrip("/") + "/" + name) if real != "/" else "/" + name
            info = self.lookup(child)
            if info is not None:
                out.append(info)
        return out


def _special_kind(mode: int) -> str:
    if statmod.S_ISFIFO(mode):
        return "FIFO"
    if statmod.S_ISCHR(mode):
        return "character device"
    if statmod.S_ISBLK(mode):
        return "block device"
    if statmod.S_ISSOCK(mode):
        return "socket"
    return "special file"


def mount_points_below(root: str) -> frozenset[str]:
    """In-tree paths of every file system mounted below ``root`` (bind mounts included), from mountinfo.

    For a process root (/proc/PID/root) the process's own mountinfo is read: its mount points are relative to
    that root. Without a readable mountinfo the device check of the walk still stops at other file systems.
    """
    m = re.fullmatch(r"/proc/(\d+)/root/?", root)
    source, base = (f"/proc/{m.group(1)}/mountinfo", "/") if m else ("/proc/self/mountinfo", os.path.realpath(root))
    try:
        with open(source, encoding="utf-8", errors="surrogateescape") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return frozenset()
    prefix = base.rstrip("/") + "/"
    found = set()
    for line in lines:
        fields = line.split()
        if len(fields) < 5:
            continue
        point = re.sub(r"\\([0-7]{3})", lambda g: chr(int(g.group(1), 8)), fields[4])
        if point.startswith(prefix) and point.rstrip("/") != base.rstrip("/"):
            found.add("/" + point[len(prefix):].strip("/"))
    return frozenset(found)


def _has_surrogates(name: str) -> bool:
    try:
        name.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


__all__ = ["OTHER", "PSEUDO_ROOT_DIRS", "DirTree"]
