"""LayeredTree: a FileTree over image layers (tar streams), squashed with whiteouts, each file's layer kept."""

from __future__ import annotations

import posixpath
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from threatstryker.sources.filetree import (
    DIR,
    FILE,
    OTHER,
    SYMLINK,
    FileInfo,
    FileTree,
    FileTreeError,
    bounded_reader,
    display_path,
    normpath,
)

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


@dataclass(slots=True)
class TarEntry(FileInfo):
    """A FileInfo that also knows where its bytes lie: the index of the layer whose tar holds them (for a hard
    link to a file of a lower layer, that lower layer) and their offset in that tar."""

    layer_index: int = 0
    offset: int = 0


@dataclass(slots=True)
class LayerBlob:
    """One layer as an uncompressed tar: a seekable file and the window of it holding the tar."""

    layer_id: str
    fh: BinaryIO
    start: int
    size: int
    origin: str = ""  # where the layer came from, for messages ("blobs/sha256/ab12..")


@dataclass(slots=True)
class LayerView:
    """What one layer added and deleted, before squashing."""

    layer_id: str
    entries: dict[str, TarEntry] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    opaque_dirs: set[str] = field(default_factory=set)
    complete: bool = True


def tar_end_problem(fh: BinaryIO, offset: int, size: int) -> str:
    """Why a tar whose member walk stopped at ``offset`` did not end cleanly ('' when it did).

    A whole tar ends with zero blocks there (or, tolerated, with nothing at all); a partial block or a
    block that is not zeros means a truncated or corrupt header that tarfile skipped without a word.
    """
    if offset >= size:
        return ""
    fh.seek(offset)
    block = fh.read(512)
    if len(block) < 512:
        return f"cut short inside a header at byte {offset}"
    if block.count(0) != len(block):
        return f"unreadable header at byte {offset}"
    return ""


def _member_kind(m: tarfile.TarInfo) -> str:
    if m.isreg():
        return FILE
    if m.isdir():
        return DIR
    if m.issym():
        return SYMLINK
    return OTHER


class LayeredTree(FileTree):
    """The squashed view of image layers applied in order; ``layers`` keeps each layer's own view.

    A '.wh.NAME' entry deletes NAME (and its subtree) from lower layers; '.wh..wh..opq' in a directory hides
    everything lower layers put in it. Every file records the id of the layer that last wrote it.
    """

    def __init__(self, blobs: list[LayerBlob]) -> None:
        super().__init__()
        self._blobs = blobs
        self._entries: dict[str, TarEntry] = {}
        self._children: dict[str, set[str]] = {}
        self.layers: list[LayerView] = []
        self.partial = False
        for index, blob in enumerate(blobs):
            view = self._index_layer(index, blob)
            self.layers.append(view)
            self._apply(view)

    # -- layer history --------------------------------------------------------------------------------
    def history(self, path: str) -> list[TarEntry]:
        """Every version of ``path`` the layers wrote since it was last deleted, bottom first.

        The last item is the version the squashed view shows; empty when the path is absent. A version
        whose layer deleted ``path`` (or one of its directories) before writing it starts a new history.
        """
        path = normpath(path)
        versions: list[TarEntry] = []
        for view in self.layers:
            if _hides(view, path):
                versions = []
            entry = view.entries.get(path)
            if entry is not None:
                versions.append(entry)
        return versions if path in self._entries else []

    # -- indexing -------------------------------------------------------------------------------------
    def _index_layer(self, index: int, blob: LayerBlob) -> LayerView:
        view = LayerView(blob.layer_id)
        reader = bounded_reader(blob.fh, blob.start, blob.size)
        count = 0
        problem = ""
        try:
            with tarfile.open(fileobj=reader, mode="r:", errorlevel=1) as tar:
                for member in tar:
                    count += 1
                    self._add_member(index, blob, view, member)
                # tarfile ends silently on a cut or garbled header: check what lies where the walk stopped
                problem = tar_end_problem(reader, tar.offset, blob.size)
        except (tarfile.TarError, EOFError, OSError, zlib.error, UnicodeError) as exc:
            problem = str(exc) or type(exc).__name__
        if problem:
            view.complete = False
            self.partial = True
            what = blob.origin or blob.layer_id
            self.warn(what, f"layer is corrupt or truncated after {count} entries ({problem}); kept what was read")
        return view

    def _add_member(self, index: int, blob: LayerBlob, view: LayerView, m: tarfile.TarInfo) -> None:
        raw = m.name
        path = normpath(raw)
        if ".." in raw.split("/"):
            self.warn(raw, "tar member path contains '..'; kept inside the image root")
        if path == "/":
            return
        base = posixpath.basename(path)
        parent = posixpath.dirname(path)
        if base == OPAQUE_MARKER:
            view.opaque_dirs.add(parent)
            return
        if base.startswith(WHITEOUT_PREFIX):
            view.deleted.add(posixpath.join(parent, base[len(WHITEOUT_PREFIX):]))
            return
        if m.islnk():
            # the target is in this layer, or (allowed, if rare) in the layers below it: self._entries holds
            # their squashed view, since this layer is applied only once it is indexed
            link = normpath(m.linkname)
            target = view.entries.get(link) or self._entries.get(link)
            if target is None or target.kind != FILE:
                self.warn(path, f"hard link to {m.linkname!r}, which is not a file of this image")
                return
            # one inode: mode and owner are the target's (writers differ in what they put in a link header)
            entry = TarEntry(path, FILE, target.size, target.mode, target.uid, target.gid, None, blob.layer_id,
                             target.layer_index, target.offset)
        else:
            kind = _member_kind(m)
            entry = TarEntry(path, kind, m.size if kind == FILE else 0, m.mode & 0o7777, m.uid, m.gid,
                             m.linkname if kind == SYMLINK else None, blob.layer_id, index,
                             m.offset_data)
            if kind == FILE and m.offset_data + m.size > blob.size:
                view.complete = False
                self.partial = True
                self.warn(path, "file is cut short by the end of its layer (truncated layer)")
        view.entries[path] = entry

    def _apply(self, view: LayerView) -> None:
        for d in view.opaque_dirs:
            for child in list(self._children.get(d, ())):
                self._remove(child)
        for p in view.deleted:
            self._remove(p)
        for path, entry in view.entries.items():
            old = self._entries.get(path)
            if old is not None and old.kind == DIR and entry.kind != DIR:
                self._remove(path)
            self._entries[path] = entry
            parent = posixpath.dirname(path)
            while True:
                kids = self._children.setdefault(parent, set())
                name = path
                fresh = name not in kids
                kids.add(name)
                if parent == "/" or not fresh:
                    break
                path, parent = parent, posixpath.dirname(parent)

    def _remove(self, path: str) -> None:
        stack = [path]
        while stack:
            p = stack.pop()
            self._entries.pop(p, None)
            kids = self._children.pop(p, None)
            if kids:
                stack.extend(kids)
        parent = posixpath.dirname(path)
        kids = self._children.get(parent)
        if kids is not None:
            kids.discard(path)

    # -- FileTree -------------------------------------------------------------------------------------
    def lookup(self, path: str) -> FileInfo | None:
        entry = self._entries.get(path)
        if entry is None and path in self._children:
            return FileInfo(path, DIR, 0, 0o755)
        return entry

    def entries(self) -> Iterator[FileInfo]:
        yield from self._entries.values()

    def _open_entry(self, info: FileInfo) -> BinaryIO:
        if not isinstance(info, TarEntry):
            raise FileTreeError(f"{display_path(info.path)}: not stored in a layer")
        return self.open_in_layer(info)

    def open_info(self, info: FileInfo) -> BinaryIO:
        if isinstance(info, TarEntry):
            return self.open_in_layer(info)
        return self.open(info.path)

    def open_in_layer(self, entry: TarEntry) -> BinaryIO:
        """The content of an entry of any layer (also files a later layer deleted)."""
        blob = self._blobs[entry.layer_index]
        size = max(0, min(entry.size, blob.size - entry.offset))
        return bounded_reader(blob.fh, blob.start + entry.offset, size)

    def listdir(self, path: str) -> list[FileInfo]:
        real = self.resolve(path)
        out: list[FileInfo] = []
        for child in sorted(self._children.get(real, ())):
            info = self.lookup(child)
            if info is not None:
                out.append(info)
        return out

    def close(self) -> None:
        seen: set[int] = set()
        for blob in self._blobs:
            if id(blob.fh) not in seen:
                seen.add(id(blob.fh))
                blob.fh.close()


def _hides(view: LayerView, path: str) -> bool:
    """True when the layer deletes ``path`` from the layers below it (whiteout or opaque directory)."""
    probe = path
    while probe != "/":
        if probe in view.deleted:
            return True
        parent = posixpath.dirname(probe)
        if parent in view.opaque_dirs:
            return True
        probe = parent
    return False
