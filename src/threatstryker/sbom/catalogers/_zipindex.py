"""A zip reader for callers that want a few entries of archives holding many (the Java cataloger).

``zipfile.ZipFile`` builds a ``ZipInfo`` (name, date, extra fields decoded) for every entry of the central
directory as soon as an archive is opened; a jar of 10,000 classes costs 10,000 objects for the one
MANIFEST.MF and pom.properties a scanner reads. :class:`ZipReader` reads the central directory in one read
and walks it with ``struct.unpack_from``, decoding only names and building a :class:`ZipEntry` only for the
names the caller's predicate accepts. Names are decoded as ``zipfile`` decodes them (UTF-8 when flag bit 11
is set, else cp437; cut at the first NUL), and archives are located the way ``zipfile`` and Java locate them:
the end-of-central-directory record (EOCD) may be followed by a comment or other trailing bytes, preceded by
the zip64 EOCD locator and record, and the whole archive may be preceded by a stub (self-extracting prefix),
whose length shifts every offset.

Entry content is stored (method 0) or deflate (8), inflated in chunks, never more than the entry's declared
size nor the caller's cap, and checked against its CRC-32 once read to the end. Encrypted entries and other
methods raise :class:`UnsupportedZipError`. Damage raises :class:`BadZipError`; no size field is trusted for
an allocation (the central directory is capped, content is read in bounded chunks), and no loop runs longer
than the bytes actually present. A file object given to :class:`ZipReader` must be seekable; one entry is
read at a time (each read seeks to its own position, so readers may be interleaved but not shared across
threads).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

#: Central directories larger than this are refused (real ones: a few MiB for 50,000-entry jars).
MAX_DIRECTORY = 256 * 1024 * 1024
#: Compressed bytes read from the archive at a time.
CHUNK = 256 * 1024

STORED, DEFLATED = 0, 8
_FLAG_ENCRYPTED, _FLAG_PATCHED, _FLAG_STRONG_ENCRYPTION, _FLAG_UTF8 = 0x1, 0x20, 0x40, 0x800

# PKWARE APPNOTE 4.3.16 (EOCD), 4.3.15 (zip64 locator), 4.3.14 (zip64 EOCD), 4.3.12 (central directory
# header), 4.3.7 (local file header).
_EOCD = struct.Struct("<IHHHHIIH")  # sig, disk, cd disk, entries here, entries, cd size, cd offset, comment len
_EOCD_SIG = 0x06054B50
_LOCATOR = struct.Struct("<IIQI")  # sig, disk of zip64 EOCD, its offset, total disks
_LOCATOR_SIG = 0x07064B50
_EOCD64 = struct.Struct("<IQHHIIQQQQ")  # sig, record size, made by, needed, disk, cd disk, n here, n, size, offset
_EOCD64_SIG = 0x06064B50
_CENTRAL_WALK = struct.Struct("<I4xH18xHHH")  # sig, flags, name len, extra len, comment len
_CENTRAL = struct.Struct("<I4xHHHHIIIHHH8xI")  # sig, flags, method, time, date, crc, csize, usize, n/x/c lens, offset
_CENTRAL_SIG = 0x02014B50
_LOCAL = struct.Struct("<I22xHH")  # sig, name len, extra len
_LOCAL_SIG = 0x04034B50
_ZIP64_EXTRA = 0x0001
_U32 = 0xFFFF_FFFF
#: Bytes at the end of a file that can hold the EOCD, its comment and the zip64 locator and record.
_TAIL = _EOCD.size + 0xFFFF + _LOCATOR.size + _EOCD64.size
#: An EOCD signature in the tail whose record would not fit is skipped; this many are tried at most.
_MAX_EOCD_CANDIDATES = 32


class ZipIndexError(Exception):
    """An archive or one of its entries cannot be read."""


class BadZipError(ZipIndexError):
    """The archive is damaged, truncated or inconsistent (or is no zip archive)."""


class UnsupportedZipError(ZipIndexError):
    """A valid feature this reader does not implement: encryption, a compression method other than
    stored and deflate, an archive spanning several disks."""


class EntryTooLargeError(ZipIndexError):
    """An entry's declared uncompressed size exceeds the caller's cap."""


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """One central directory entry. ``header_offset`` is where its local header is in the file (a prepended
    stub's length included); the zip64 extra field has been applied to the sizes and the offset."""

    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    compress_size: int
    file_size: int
    header_offset: int

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & _FLAG_ENCRYPTED)


def decode_name(raw: bytes, flags: int) -> str:
    """An entry name as zipfile decodes it: UTF-8 with flag bit 11, cp437 otherwise; cut at a NUL."""
    if flags & _FLAG_UTF8:
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadZipError(f"entry name {raw!r} is flagged UTF-8 but is not") from exc
    elif raw.isascii():
        name = raw.decode("ascii")  # cp437 is ASCII below 0x80, and 10 times slower to decode
    else:
        name = raw.decode("cp437")
    if "\x00" in name:
        name = name[: name.index("\x00")]
    return name


class ZipReader:
    """The central directory of a zip archive open in ``fh`` (seekable; not closed by the reader)."""

    def __init__(self, fh: BinaryIO, max_directory: int = MAX_DIRECTORY) -> None:
        self._fh = fh
        self.size = fh.seek(0, 2)
        tail_start = max(0, self.size - _TAIL)
        tail = self._read_at(tail_start, self.size - tail_start, "end of the archive")
        eocd = self._find_eocd(tail)
        if eocd is None:
            raise BadZipError("no end of central directory record: not a zip archive, or truncated")
        _, _, _, _, _, cd_size, cd_offset, comment_len = _EOCD.unpack_from(tail, eocd)
        self.comment = tail[eocd + _EOCD.size : eocd + _EOCD.size + comment_len]
        cd_end = tail_start + eocd  # where the central directory ends, once zip64 records are accounted for
        zip64 = self._zip64(tail, tail_start, eocd)
        if zip64 is not None:
            cd_end, cd_size, cd_offset = zip64
        # A stub before the archive shifts everything: the offsets recorded are relative to the archive start.
        self.prefix = cd_end - cd_size - cd_offset
        start = cd_offset + self.prefix  # = cd_end - cd_size: the directory ends where the end records begin
        if start < 0:
            raise BadZipError(f"central directory of {cd_size} bytes at offset {cd_offset} does not fit in the file")
        if cd_size > max_directory:
            raise BadZipError(f"central directory of {cd_size} bytes exceeds the {max_directory}-byte cap")
        if start >= tail_start:
            self._directory = tail[start - tail_start : start - tail_start + cd_size]
        else:
            self._directory = self._read_at(start, cd_size, "central directory")

    def _read_at(self, offset: int, n: int, what: str) -> bytes:
        if offset < 0 or offset + n > self.size:
            raise BadZipError(f"truncated {what}: {n} bytes at offset {offset} of a {self.size}-byte file")
        self._fh.seek(offset)
        data = self._fh.read(n)
        if len(data) != n:
            raise BadZipError(f"truncated {what}: {len(data)} of {n} bytes at offset {offset}")
        return data

    @staticmethod
    def _find_eocd(tail: bytes) -> int | None:
        """The offset in ``tail`` of the last EOCD record whose comment fits in the bytes after it."""
        end = len(tail) - _EOCD.size
        for _ in range(_MAX_EOCD_CANDIDATES):
            at = tail.rfind(b"PK\x05\x06", 0, end + 4) if end >= 0 else -1
            if at < 0:
                return None
            comment_len = _EOCD.unpack_from(tail, at)[7]
            if at + _EOCD.size + comment_len <= len(tail):
                return at
            end = at - 1
        return None

    def _zip64(self, tail: bytes, tail_start: int, eocd: int) -> tuple[int, int, int] | None:
        """(where the zip64 EOCD record starts, central directory size, its offset) when the archive has a
        zip64 EOCD locator; None otherwise (like zipfile, a locator without its record is ignored)."""
        loc = eocd - _LOCATOR.size
        if loc < 0 or _LOCATOR.unpack_from(tail, loc)[0] != _LOCATOR_SIG:
            return None
        _, disk, record_offset, disks = _LOCATOR.unpack_from(tail, loc)
        if disk != 0 or disks > 1:
            raise UnsupportedZipError(f"archive spans {disks} disks (zip64 end record on disk {disk})")
        # The record is normally right before the locator (zipfile and Java assume so, which also works
        # behind a stub); with "extensible data" it is longer: then trust the offset the locator gives.
        for at in (tail_start + loc - _EOCD64.size, record_offset):
            if 0 <= at <= tail_start + loc - _EOCD64.size:
                if at >= tail_start:
                    raw = tail[at - tail_start : at - tail_start + _EOCD64.size]
                else:
                    raw = self._read_at(at, _EOCD64.size, "zip64 end of central directory record")
                record = _EOCD64.unpack(raw)
                if record[0] == _EOCD64_SIG:
                    return at, record[8], record[9]
        return None

    def entries(self, wanted: Callable[[str], bool] | None = None,
                suffixes: tuple[bytes, ...] | None = None) -> Iterator[ZipEntry]:
        """The entries, in central directory order, whose name ``wanted`` accepts (all without a predicate).
        The directory is checked as it is walked: damage raises BadZipError when reached.

        ``suffixes`` (lower-case ASCII) is a pre-filter for directories of many entries: a name made of ASCII
        bytes other than NUL whose lower-cased form ends with none of them is skipped undecoded, without
        calling ``wanted``, which must therefore reject every such name. Other names (non-ASCII, or cut at a
        NUL) are decoded and given to ``wanted`` whatever their ending."""
        data = self._directory
        end = len(data)
        walk = _CENTRAL_WALK.unpack_from
        ends_with = data.lower().endswith if suffixes else None  # lower() changes ASCII letters only
        tails = suffixes or ()
        pos = 0
        while pos < end:
            if pos + _CENTRAL.size > end:
                raise BadZipError(f"central directory truncated at byte {pos} of {end}")
            sig, flags, name_len, extra_len, comment_len = walk(data, pos)
            if sig != _CENTRAL_SIG:
                raise BadZipError(f"bad central directory header signature at byte {pos} of {end}")
            name_at = pos + _CENTRAL.size
            name_end = name_at + name_len
            nxt = name_end + extra_len + comment_len
            if nxt > end:
                raise BadZipError(f"central directory entry at byte {pos} runs past the directory's {end} bytes")
            raw = data[name_at:name_end]
            if ends_with is None or ends_with(tails, name_at, name_end) or not raw.isascii() or 0 in raw:
                name = decode_name(raw, flags)
                if wanted is None or wanted(name):
                    yield self._entry(data, pos, name, raw)
            pos = nxt

    def _entry(self, data: bytes, pos: int, name: str, raw: bytes) -> ZipEntry:
        _, flags, method, _, _, crc, csize, usize, name_len, extra_len, _, offset = _CENTRAL.unpack_from(data, pos)
        if _U32 in (csize, usize, offset):
            extra_at = pos + _CENTRAL.size + name_len
            usize, csize, offset = _apply_zip64(name, data[extra_at : extra_at + extra_len], usize, csize, offset)
        return ZipEntry(name, raw, flags, method, crc, csize, usize, offset + self.prefix)

    def open(self, entry: ZipEntry, max_size: int) -> ZipEntryReader:
        """A reader of an entry's content; EntryTooLargeError when it declares more than ``max_size`` bytes."""
        if entry.flags & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION):
            raise UnsupportedZipError(f"{entry.name} is encrypted")
        if entry.flags & _FLAG_PATCHED:
            raise UnsupportedZipError(f"{entry.name} is compressed patched data")
        if entry.method not in (STORED, DEFLATED):
            raise UnsupportedZipError(f"{entry.name} uses compression method {entry.method} (not stored or deflate)")
        if entry.file_size > max_size:
            raise EntryTooLargeError(f"{entry.name} is {entry.file_size} bytes uncompressed (cap {max_size})")
        if entry.method == STORED and entry.compress_size != entry.file_size:
            raise BadZipError(f"{entry.name} is stored but its sizes differ ({entry.compress_size} and "
                              f"{entry.file_size})")
        if entry.header_offset < 0:
            raise BadZipError(f"{entry.name}: local header offset {entry.header_offset} is before the file start")
        header = self._read_at(entry.header_offset, _LOCAL.size, f"local header of {entry.name}")
        sig, name_len, extra_len = _LOCAL.unpack(header)
        if sig != _LOCAL_SIG:
            raise BadZipError(f"bad local header signature for {entry.name} at offset {entry.header_offset}")
        local_name = self._read_at(entry.header_offset + _LOCAL.size, name_len, f"local header of {entry.name}")
        if local_name != entry.raw_name:
            raise BadZipError(f"name in central directory {entry.raw_name!r} and local header {local_name!r} differ")
        return ZipEntryReader(self._fh, entry, entry.header_offset + _LOCAL.size + name_len + extra_len)

    def read(self, entry: ZipEntry, max_size: int) -> bytes:
        """An entry's whole content (at most ``max_size`` bytes, else EntryTooLargeError), CRC-32 checked."""
        with self.open(entry, max_size) as reader:
            return reader.read()


def _apply_zip64(name: str, extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    """Sizes and offset completed from the zip64 extended information extra field (APPNOTE 4.5.3): it holds,
    in this order, the uncompressed size, compressed size and offset that the header set to 0xFFFFFFFF."""
    pos = 0
    while pos + 4 <= len(extra):
        kind, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if len(body) != length:
            raise BadZipError(f"{name}: extra field {kind:#06x} runs past the extra data")
        if kind == _ZIP64_EXTRA:
            values = [usize, csize, offset]
            at = 0
            for i in range(3):
                if values[i] == _U32:
                    if at + 8 > length:
                        raise BadZipError(f"{name}: zip64 extra field lacks a 64-bit value")
                    values[i] = struct.unpack_from("<Q", body, at)[0]
                    at += 8
            return values[0], values[1], values[2]
        pos += 4 + length
    return usize, csize, offset  # no zip64 field: 0xFFFFFFFF is then a genuine 32-bit value (as zipfile)


class ZipEntryReader:
    """An entry's uncompressed content, read in chunks; its CRC-32 is checked when the last byte is read.
    Never produces more than the entry's declared size; ends early (BadZipError) when the data does."""

    def __init__(self, fh: BinaryIO, entry: ZipEntry, data_offset: int) -> None:
        self._fh = fh
        self._entry = entry
        self._pos = data_offset
        self._compressed_left = entry.compress_size
        self._left = entry.file_size
        self._crc = 0
        self._inflater = zlib.decompressobj(-15) if entry.method == DEFLATED else None

    def __enter__(self) -> ZipEntryReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._inflater = None
        self._left = 0

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that is left when ``n`` < 0); b"" at the end."""
        if n < 0:
            n = self._left
        parts: list[bytes] = []
        while n > 0 and self._left > 0:
            chunk = self._produce(min(n, self._left))
            self._crc = zlib.crc32(chunk, self._crc)
            self._left -= len(chunk)
            n -= len(chunk)
            parts.append(chunk)
            if self._left == 0 and self._crc != self._entry.crc:
                raise BadZipError(f"bad CRC-32 for {self._entry.name}: {self._crc:08x}, "
                                  f"expected {self._entry.crc:08x}")
        if self._left == 0 and self._entry.file_size == 0 and self._entry.crc != 0:
            raise BadZipError(f"bad CRC-32 for {self._entry.name}: empty, expected {self._entry.crc:08x}")
        return b"".join(parts)

    def _raw(self, n: int) -> bytes:
        self._fh.seek(self._pos)
        data = self._fh.read(n)
        if len(data) != n:
            raise BadZipError(f"data of {self._entry.name} truncated at offset {self._pos + len(data)}")
        self._pos += n
        self._compressed_left -= n
        return data

    def _produce(self, want: int) -> bytes:
        """Between 1 and ``want`` bytes of content (``want`` >= 1 and no more than what is left)."""
        inflater = self._inflater
        if inflater is None:
            return self._raw(min(want, CHUNK))
        while not inflater.eof:
            # Input left over from the last call first; with none, output zlib may still hold (a previous
            # call stopped at ``want``) comes out of a call with no input.
            data = inflater.unconsumed_tail
            if not data and self._compressed_left > 0:
                data = self._raw(min(CHUNK, self._compressed_left))
            try:
                out = inflater.decompress(data, want)
            except zlib.error as exc:
                raise BadZipError(f"invalid deflate data in {self._entry.name}: {exc}") from exc
            if out:
                return out
            if not data:
                break  # no input left, nothing held back: the stream is cut short
            if len(inflater.unconsumed_tail) >= len(data):  # never expected from zlib; guards against a spin
                raise BadZipError(f"deflate data of {self._entry.name} makes no progress")
        done = self._entry.file_size - self._left
        raise BadZipError(f"deflate data of {self._entry.name} ends after {done} of {self._entry.file_size} bytes")
