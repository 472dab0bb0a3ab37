"""Finding and reading the files of a local feed copy: sorted walk, symlinks confined, size-capped reads."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from ..advisory import AdvisoryError


def feed_files(root: Path, accept: Callable[[str], bool]) -> list[Path]:
    """Files under a directory whose name ``accept`` takes, in sorted order (symlinked directories not entered)."""
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        files.extend(Path(dirpath, f) for f in sorted(filenames) if accept(f))
    return files


def read_feed_file(file: Path, root: Path, max_bytes: int) -> bytes:
    """A feed file's bytes; AdvisoryError (one line, naming the file) for a symlink leading outside ``root``,
    a non-regular file, a file over ``max_bytes`` (refused before reading, and again if it grew) or a read error."""
    source = str(file)
    real_root = os.path.realpath(root)
    real = os.path.realpath(file)
    if file.is_symlink() and os.path.commonpath([real_root, real]) != real_root:
        raise AdvisoryError("symlink leads outside the directory; not followed", source=source)
    try:
        info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            raise AdvisoryError("not a regular file", source=source)
        if info.st_size > max_bytes:
            raise AdvisoryError(f"file is {info.st_size} bytes, over the {max_bytes}-byte cap", source=source)
        with open(real, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise AdvisoryError(f"cannot read: {exc.strerror or exc}", source=source) from None
    if len(raw) > max_bytes:
        raise AdvisoryError(f"file grew over the {max_bytes}-byte cap", source=source)
    return raw
