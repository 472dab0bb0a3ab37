"""A FileTree with nothing in it but its root: the files of a target that has none of its own (a Kubernetes
cluster read through its API)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from threatstryker.sources.filetree import DIR, FileInfo, FileTree, FileTreeError


class EmptyTree(FileTree):
    """Only ``/``, an empty directory."""

    def lookup(self, path: str) -> FileInfo | None:
        return FileInfo("/", DIR, mode=0o755) if path == "/" else None

    def entries(self) -> Iterator[FileInfo]:
        yield FileInfo("/", DIR, mode=0o755)

    def _open_entry(self, info: FileInfo) -> BinaryIO:
        raise FileTreeError(f"{info.path}: not a file")


__all__ = ["EmptyTree"]
