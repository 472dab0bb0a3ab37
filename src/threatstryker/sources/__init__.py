"""Sources: open a target (directory, root filesystem, image, container, SBOM) as a read-only FileTree."""

from threatstryker.sources.filetree import FileInfo, FileTooLarge, FileTree, FileTreeError
from threatstryker.sources.target import OpenedTarget, TargetError, open_target, split_target

__all__ = [
    "FileInfo",
    "FileTooLarge",
    "FileTree",
    "FileTreeError",
    "OpenedTarget",
    "TargetError",
    "open_target",
    "split_target",
]
