"""Reading a suppression file (regular files only, size-capped, UTF-8) and the one-line error that names it."""

from __future__ import annotations

import os
import stat

#: Ignore files and VEX documents larger than this are refused (they are parsed in memory).
MAX_BYTES = 64 * 1024 * 1024


class SuppressionError(ValueError):
    """A suppression file that cannot be used; the message is one line: ``FILE[:LINE]: what is wrong``."""

    def __init__(self, message: str, *, file: str, line: int | None = None) -> None:
        self.file = file
        self.line = line
        where = f"{file}:{line}" if line is not None else file
        super().__init__(" ".join(f"{where}: {message}".split()))


def read_text(path: str | os.PathLike[str]) -> str:
    """The text of a suppression file; SuppressionError for a missing, unreadable, non-regular, oversized or
    non-UTF-8 file."""
    name = os.fspath(path)
    try:
        info = os.stat(name)
        if not stat.S_ISREG(info.st_mode):
            raise SuppressionError("not a regular file", file=name)
        if info.st_size > MAX_BYTES:
            raise SuppressionError(f"file is {info.st_size} bytes, over the {MAX_BYTES}-byte cap", file=name)
        with open(name, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SuppressionError(f"cannot read: {exc.strerror or exc}", file=name) from None
    if len(raw) > MAX_BYTES:
        raise SuppressionError(f"file grew over the {MAX_BYTES}-byte cap", file=name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SuppressionError(f"not UTF-8 text (byte {exc.start})", file=name, line=line) from None
