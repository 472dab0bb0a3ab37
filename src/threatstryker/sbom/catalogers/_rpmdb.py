"""Readers of the rpm package database: header blobs and the three on-disk stores (SQLite, BDB hash, NDB).

Every store is a set of header blobs keyed by an instance number. A database blob is an rpm header without
the 8-byte magic: ``il`` and ``dl`` (big-endian uint32), ``il`` 16-byte index entries (tag, type, offset,
count), then ``dl`` bytes of data. The readers below yield ``(instance, blob)`` or ``(instance, RecordError)``
so that one damaged record never hides the others; damage to the store's own structure raises RpmDbError.
"""

from __future__ import annotations

import sqlite3
import struct
import zlib
from collections.abc import Callable, Generator, Iterator
from typing import BinaryIO

#: A single header blob larger than this is not read (rpm's own limit is 256 MiB; real ones are < 2 MiB).
MAX_BLOB = 64 * 1024 * 1024

# Header data types (rpm format documentation, "The Header Structure").
_INT16, _INT32, _STRING, _STRING_ARRAY, _I18NSTRING = 3, 4, 6, 8, 9
_STRING_TYPES = (_STRING, _STRING_ARRAY, _I18NSTRING)

# Tags (rpm tags documentation).
NAME, VERSION, RELEASE, EPOCH, SIZE, VENDOR, LICENSE = 1000, 1001, 1002, 1003, 1009, 1011, 1014
ARCH, OLDFILENAMES, SOURCERPM, DIRINDEXES, BASENAMES, DIRNAMES, MODULARITYLABEL = (
    1022, 1027, 1044, 1116, 1117, 1118, 5096)


class RpmDbError(Exception):
    """The database file itself is unreadable (bad magic, truncated structure, unsupported variant)."""


class RecordError(Exception):
    """One package record of the database is damaged; the others can still be read."""


Record = tuple[int, "bytes | RecordError"]


class RpmHeader:
    """Typed access to the tags of one header blob; every offset and count is checked against the blob."""

    def __init__(self, blob: bytes) -> None:
        if len(blob) < 8:
            raise RecordError(f"header of {len(blob)} bytes is too short")
        il, dl = struct.unpack_from(">II", blob, 0)
        start = 8 + 16 * il
        if il == 0 or start + dl > len(blob):
            raise RecordError(f"header claims {il} entries and {dl} data bytes but holds {len(blob)} bytes")
        self._blob = blob
        self._start = start
        self._end = start + dl
        self._index: dict[int, tuple[int, int, int]] = {}
        for tag, typ, off, count in struct.iter_unpack(">IIiI", memoryview(blob)[8:start]):
            if 0 <= off < dl:
                self._index[tag] = (typ, off, count)  # dribbles come last and override the region's entries

    def __contains__(self, tag: int) -> bool:
        return tag in self._index

    def _strings(self, tag: int, limit: int | None = None) -> list[str]:
        entry = self._index.get(tag)
        if entry is None or entry[0] not in _STRING_TYPES:
            return []
        typ, off, count = entry
        if typ != _STRING_ARRAY:
            count = 1
        if limit is not None:
            count = min(count, limit)
        blob, pos, end_all = self._blob, self._start + off, self._end
        out: list[str] = []
        for _ in range(count):
            end = blob.find(b"\0", pos, end_all)
            if end < 0:
                raise RecordError(f"tag {tag}: string runs past the end of the header")
            out.append(blob[pos:end].decode("utf-8", "replace"))
            pos = end + 1
        return out

    def string(self, tag: int) -> str | None:
        """The value of a STRING tag (the first element of an array or i18n string), or None."""
        values = self._strings(tag, limit=1)
        return values[0] if values else None

    def strings(self, tag: int) -> list[str]:
        """The values of a STRING_ARRAY tag (a single-string tag gives one value)."""
        return self._strings(tag)

    def ints(self, tag: int, limit: int | None = None) -> list[int]:
        """The values of an INT32 (or INT16) tag."""
        entry = self._index.get(tag)
        if entry is None or entry[0] not in (_INT16, _INT32):
            return []
        typ, off, count = entry
        if limit is not None:
            count = min(count, limit)
        size = 4 if typ == _INT32 else 2
        if self._start + off + size * count > self._end:
            raise RecordError(f"tag {tag}: {count} integers run past the end of the header")
        code = "I" if size == 4 else "H"
        return list(struct.unpack_from(f">{count}{code}", self._blob, self._start + off))

    def int(self, tag: int) -> int | None:
        """The first value of an integer tag, or None."""
        values = self.ints(tag, limit=1)
        return values[0] if values else None

    def file_paths(self) -> list[str]:
        """Every path the package owns: DIRNAMES[DIRINDEXES[i]] + BASENAMES[i], or the old flat list."""
        basenames = self.strings(BASENAMES)
        if not basenames:
            return self.strings(OLDFILENAMES)
        dirnames = self.strings(DIRNAMES)
        indexes = self.ints(DIRINDEXES)
        if len(indexes) != len(basenames):
            raise RecordError(f"{len(basenames)} file names but {len(indexes)} directory indexes")
        n = len(dirnames)
        return [dirnames[i] + b if i < n else b for i, b in zip(indexes, basenames, strict=True)]


# -- SQLite (rpm >= 4.16: rpmdb.sqlite) -------------------------------------------------------------------

def read_sqlite(path: str, should_stop: Callable[[], bool] | None = None) -> Generator[Record, None, None]:
    """Header blobs of the ``Packages`` table of an rpmdb.sqlite copy on the host, with a copied
    write-ahead log applied (SQLite writes a -shm file beside it: never open a database inside the target)."""
    try:
        con = sqlite3.connect(path, isolation_level=None)
    except (sqlite3.Error, ValueError) as exc:  # ValueError: undecodable message
        raise RpmDbError(f"cannot open: {exc}") from exc
    try:
        con.text_factory = bytes  # names in a damaged schema need not be UTF-8
        if should_stop is not None:
            con.set_progress_handler(lambda: 1 if should_stop() else 0, 10000)
        try:
            con.execute("PRAGMA trusted_schema=OFF")
            con.execute("PRAGMA query_only=ON")
            con.execute("PRAGMA writable_schema=ON")  # a damaged index definition must not hide Packages
            row = con.execute("SELECT type FROM sqlite_master WHERE name = 'Packages'").fetchone()
        except (sqlite3.Error, ValueError) as exc:  # ValueError: undecodable message
            raise RpmDbError(f"not an SQLite rpm database ({exc})") from exc
        if row is None or row[0] != b"table":
            raise RpmDbError("no Packages table")
        try:
            for hnum, blob in con.execute("SELECT hnum, blob FROM Packages"):
                key = hnum if isinstance(hnum, int) else -1
                if isinstance(blob, bytes):
                    yield key, blob
                else:
                    yield key, RecordError(f"blob is {type(blob).__name__}, not bytes")
        except (sqlite3.Error, ValueError) as exc:  # ValueError: undecodable message
            raise RpmDbError(f"reading the Packages table failed: {exc}") from exc
    finally:
        con.close()


# -- NDB (rpm >= 4.15 on SUSE: Packages.db) ---------------------------------------------------------------

_NDB_PAGE = 4096
_NDB_SLOT = 16
_NDB_BLK = 16


def read_ndb(fh: BinaryIO, size: int) -> Iterator[Record]:
    """Header blobs of an NDB ``Packages.db``: a 32-byte file header, slot pages mapping package indexes
    to block ranges, and blobs framed by 'BlbS' (index, timestamp, length) and 'BlbE' (adler32, length)."""
    head = _read_at(fh, 0, 32)
    if len(head) < 32 or head[:4] != b"RpmP":
        raise RpmDbError("not an NDB database (bad magic)")
    version, _generation, slotnpages = struct.unpack_from("<III", head, 4)
    if version != 0:
        raise RpmDbError(f"unsupported NDB version {version}")
    if slotnpages == 0 or slotnpages * _NDB_PAGE > size:
        raise RpmDbError(f"{slotnpages} slot pages do not fit in {size} bytes")
    slots = _read_at(fh, 0, slotnpages * _NDB_PAGE)
    first_blk = slotnpages * _NDB_PAGE // _NDB_BLK
    for slotno in range(2, len(slots) // _NDB_SLOT):  # the first two slots hold the file header
        magic, pkgidx, blkoff, blkcnt = struct.unpack_from("<4sIII", slots, slotno * _NDB_SLOT)
        if magic != b"Slot":
            yield slotno, RecordError(f"slot {slotno}: bad slot magic")
            continue
        if blkoff == 0:
            continue  # free slot
        yield pkgidx, _ndb_blob(fh, size, pkgidx, blkoff, blkcnt, first_blk)


def _ndb_blob(
    fh: BinaryIO, size: int, pkgidx: int, blkoff: int, blkcnt: int, first_blk: int
) -> bytes | RecordError:
    start, length = blkoff * _NDB_BLK, blkcnt * _NDB_BLK
    if pkgidx == 0 or blkoff < first_blk or start + length > size or length < 28:
        return RecordError(f"slot points at blocks {blkoff}+{blkcnt} outside the data area")
    if length > MAX_BLOB + 64:
        return RecordError(f"blob of {length} bytes is over the {MAX_BLOB}-byte limit")
    raw = _read_at(fh, start, length)
    magic, idx, _tstamp, bloblen = struct.unpack_from("<4sIII", raw, 0)
    if magic != b"BlbS" or idx != pkgidx:
        return RecordError("bad blob head")
    if (16 + bloblen + 12 + _NDB_BLK - 1) // _NDB_BLK != blkcnt:
        return RecordError(f"blob length {bloblen} does not match its {blkcnt} blocks")
    adler, taillen, tmagic = struct.unpack_from("<II4s", raw, length - 12)
    if tmagic != b"BlbE" or taillen != bloblen:
        return RecordError("bad blob tail")
    if zlib.adler32(memoryview(raw)[: length - 12]) != adler:
        return RecordError("blob checksum mismatch")
    return raw[16 : 16 + bloblen]


# -- Berkeley DB hash (rpm < 4.16: Packages) --------------------------------------------------------------

_HASH_MAGIC = 0x061561
_P_HASH_UNSORTED, _P_OVERFLOW, _P_HASH = 2, 7, 13
_H_KEYDATA, _H_OFFPAGE = 1, 3


def read_bdb(fh: BinaryIO, size: int) -> Iterator[Record]:
    """Header blobs of a Berkeley DB hash ``Packages`` file, found by visiting every hash page in order
    (key: the instance number in the file's byte order; data: inline or on a chain of overflow pages)."""
    meta = _read_at(fh, 0, 512)
    if len(meta) < 512:
        raise RpmDbError("too short for a Berkeley DB file")
    order = "<" if struct.unpack_from("<I", meta, 12)[0] == _HASH_MAGIC else ">"
    if struct.unpack_from(f"{order}I", meta, 12)[0] != _HASH_MAGIC:
        raise RpmDbError("not a Berkeley DB hash database (bad magic)")
    pagesize, = struct.unpack_from(f"{order}I", meta, 20)
    encrypt_alg, _ptype, metaflags = meta[24], meta[25], meta[26]
    if encrypt_alg:
        raise RpmDbError("encrypted Berkeley DB databases are not supported")
    if pagesize < 512 or pagesize > 65536 or pagesize & (pagesize - 1):
        raise RpmDbError(f"bad page size {pagesize}")
    last_pgno, = struct.unpack_from(f"{order}I", meta, 32)
    npages = min(last_pgno + 1, size // pagesize)
    db = _Bdb(fh, order, pagesize, 32 if metaflags & 0x01 else 26, npages)
    for pgno in range(1, npages):
        page = db.page(pgno)
        if len(page) < pagesize or page[25] not in (_P_HASH, _P_HASH_UNSORTED):
            continue
        yield from db.pairs(pgno, page)


class _Bdb:
    def __init__(self, fh: BinaryIO, order: str, pagesize: int, overhead: int, npages: int) -> None:
        self.fh, self.order, self.pagesize, self.overhead, self.npages = fh, order, pagesize, overhead, npages

    def page(self, pgno: int) -> bytes:
        return _read_at(self.fh, pgno * self.pagesize, self.pagesize)

    def pairs(self, pgno: int, page: bytes) -> Iterator[Record]:
        o = self.order
        entries, = struct.unpack_from(f"{o}H", page, 20)
        if self.overhead + 2 * entries > self.pagesize:
            yield -pgno, RecordError(f"hash page {pgno}: {entries} entries do not fit")
            return
        inp = struct.unpack_from(f"{o}{entries}H", page, self.overhead)
        for i in range(0, entries - 1, 2):
            key = self._item(page, inp, i)
            data = self._item(page, inp, i + 1)
            if key is None or data is None or key[0] != _H_KEYDATA or len(key) != 5:
                yield -pgno, RecordError(f"hash page {pgno}: item {i} is not an rpm record")
                continue
            instance, = struct.unpack_from(f"{o}I", key, 1)
            if instance == 0:
                continue  # rpm's record of the next free instance number, not a package
            if data[0] == _H_KEYDATA:
                yield instance, bytes(data[1:])
            elif data[0] == _H_OFFPAGE and len(data) >= 12:
                first, tlen = struct.unpack_from(f"{o}II", data, 4)
                yield instance, self._overflow(first, tlen)
            else:
                yield instance, RecordError(f"unsupported hash item type {data[0]}")

    def _item(self, page: bytes, inp: tuple[int, ...], i: int) -> bytes | None:
        end = self.pagesize if i == 0 else inp[i - 1]
        start = inp[i]
        if not self.overhead <= start < end <= self.pagesize:
            return None
        return page[start:end]

    def _overflow(self, pgno: int, tlen: int) -> bytes | RecordError:
        if tlen > MAX_BLOB:
            return RecordError(f"blob of {tlen} bytes is over the {MAX_BLOB}-byte limit")
        parts: list[bytes] = []
        got = 0
        seen: set[int] = set()
        while got < tlen:
            if pgno == 0 or pgno >= self.npages or pgno in seen:
                return RecordError(f"overflow chain broken at page {pgno} ({got} of {tlen} bytes)")
            seen.add(pgno)
            page = self.page(pgno)
            if len(page) < self.pagesize or page[25] != _P_OVERFLOW:
                return RecordError(f"page {pgno} is not an overflow page")
            length, = struct.unpack_from(f"{self.order}H", page, 22)
            chunk = page[self.overhead : self.overhead + length]
            parts.append(chunk)
            got += len(chunk)
            pgno, = struct.unpack_from(f"{self.order}I", page, 16)
        return b"".join(parts)[:tlen]


def _read_at(fh: BinaryIO, offset: int, length: int) -> bytes:
    fh.seek(offset)
    return fh.read(length)
