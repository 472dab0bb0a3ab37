"""The zip central-directory reader behind the Java cataloger: the same names, sizes and content as zipfile on
the real archives Debian installs (/usr/share/java, /usr/share/maven-repo) and any in the venv, on archives
zipfile writes here (stored, deflated, zip64, UTF-8 and cp437 names, a comment, a stub in front, trailing
bytes), and clear errors, quickly and in bounded memory, on damaged and hostile ones."""

from __future__ import annotations

import io
import random
import re
import struct
import sys
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest

from threatstryker.sbom.catalogers import java
from threatstryker.sbom.catalogers._zipindex import (
    BadZipError,
    EntryTooLargeError,
    UnsupportedZipError,
    ZipEntry,
    ZipIndexError,
    ZipReader,
)

REAL_ROOTS = (Path("/usr/share/java"), Path("/usr/share/maven-repo"), Path(sys.prefix))
BIG = 1 << 40  # a cap that never binds

# Offsets of fields in a central directory header and a local file header (APPNOTE 4.3.12, 4.3.7).
CD_FLAGS, CD_METHOD, CD_CRC, CD_CSIZE, CD_USIZE, CD_NAME_LEN, CD_OFFSET = 8, 10, 16, 20, 24, 28, 42
LH_CSIZE, LH_USIZE = 18, 22


# -- helpers -----------------------------------------------------------------------------------------------


def make_zip(files: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED, comment: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in files.items():
            z.writestr(name, data)
        z.comment = comment
    return buf.getvalue()


def eocd(data: bytes) -> tuple[int, int, int, int]:
    """(EOCD position, entry count, central directory size, its offset) of an archive without a comment."""
    at = len(data) - 22
    sig, _, _, _, count, size, offset, _ = struct.unpack_from("<IHHHHIIH", data, at)
    assert sig == 0x06054B50
    return at, count, size, offset


def central_headers(data: bytes) -> dict[bytes, int]:
    """Raw name -> position of its central directory header, for an archive without a comment."""
    _, count, _, offset = eocd(data)
    out: dict[bytes, int] = {}
    pos = offset
    for _ in range(count):
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + CD_NAME_LEN)
        out[data[pos + 46 : pos + 46 + name_len]] = pos
        pos += 46 + name_len + extra_len + comment_len
    return out


def patch_central(data: bytes, name: str, **fields: int) -> bytes:
    """The archive with fields (flags, method, crc, csize, usize, offset) of one central header replaced."""
    out = bytearray(data)
    at = central_headers(data)[name.encode()]
    where = {"flags": (CD_FLAGS, "<H"), "method": (CD_METHOD, "<H"), "crc": (CD_CRC, "<I"),
             "csize": (CD_CSIZE, "<I"), "usize": (CD_USIZE, "<I"), "offset": (CD_OFFSET, "<I")}
    for key, value in fields.items():
        off, fmt = where[key]
        struct.pack_into(fmt, out, at + off, value)
    return bytes(out)


def to_zip64(data: bytes, extensible: bytes = b"") -> bytes:
    """The archive re-encoded the way archivers write ones over 4 GiB: every central header's sizes and offset
    set to 0xFFFFFFFF and given in a zip64 extra field, then a zip64 EOCD record (with ``extensible`` data
    after it), its locator, and an EOCD whose counts and sizes all say "see zip64"."""
    _, count, _, offset = eocd(data)
    entries = []
    pos = offset
    for _ in range(count):
        fixed = bytearray(data[pos : pos + 46])
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", fixed, CD_NAME_LEN)
        csize, usize = struct.unpack_from("<II", fixed, CD_CSIZE)
        local = struct.unpack_from("<I", fixed, CD_OFFSET)[0]
        rest = data[pos + 46 : pos + 46 + name_len + extra_len + comment_len]
        name, extra, comment = rest[:name_len], rest[name_len : name_len + extra_len], rest[name_len + extra_len :]
        extra = struct.pack("<HHQQQ", 1, 24, usize, csize, local) + extra
        struct.pack_into("<II", fixed, CD_CSIZE, 0xFFFFFFFF, 0xFFFFFFFF)
        struct.pack_into("<H", fixed, CD_NAME_LEN + 2, len(extra))
        struct.pack_into("<I", fixed, CD_OFFSET, 0xFFFFFFFF)
        struct.pack_into("<H", fixed, 6, 45)  # version needed: 4.5 (zip64)
        entries.append(bytes(fixed) + name + extra + comment)
        pos += 46 + name_len + extra_len + comment_len
    directory = b"".join(entries)
    record_at = offset + len(directory)
    record = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44 + len(extensible), 45, 45, 0, 0, count, count,
                         len(directory), offset) + extensible
    locator = struct.pack("<IIQI", 0x07064B50, 0, record_at, 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:offset] + directory + record + locator + end


def one_entry_zip(name: bytes, payload: bytes, method: int, usize: int, crc: int) -> bytes:
    """An archive of one entry written field by field: any payload, sizes and CRC."""
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc, len(payload), usize, len(name), 0)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, crc, len(payload), usize,
                          len(name), 0, 0, 0, 0, 0, 0)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central) + len(name), len(local) + len(name)
                      + len(payload), 0)
    return local + name + payload + central + name + end


def reader(data: bytes) -> ZipReader:
    return ZipReader(io.BytesIO(data))


def entry(zr: ZipReader, name: str) -> ZipEntry:
    return next(e for e in zr.entries() if e.name == name)


def info_tuple(i: zipfile.ZipInfo) -> tuple[object, ...]:
    return i.filename, i.compress_size, i.file_size, i.header_offset, i.CRC, i.flag_bits, i.compress_type


def entry_tuple(e: ZipEntry) -> tuple[object, ...]:
    return e.name, e.compress_size, e.file_size, e.header_offset, e.crc, e.flags, e.method


def assert_like_zipfile(data: bytes, content: bool = True) -> list[ZipEntry]:
    """Every entry's name, sizes, offset, CRC, flags and method as zipfile has them; content too."""
    zr = reader(data)
    entries = list(zr.entries())
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert [entry_tuple(e) for e in entries] == [info_tuple(i) for i in zf.infolist()]
        if content:
            for e, i in zip(entries, zf.infolist(), strict=True):
                assert zr.read(e, BIG) == zf.read(i), e.name
    return entries


def real_archives() -> list[Path]:
    found: dict[Path, Path] = {}
    for root in REAL_ROOTS:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix.lower() in java.ARCHIVE_EXTENSIONS and path.is_file():
                found.setdefault(path.resolve(), path)
    return sorted(found.values())


FILES = {
    "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\nImplementation-Title: demo\r\n\r\n",
    "META-INF/maven/org.example/demo/pom.properties": b"groupId=org.example\nartifactId=demo\nversion=1.0\n",
    "META-INF/maven/org.example/demo/pom.xml": b"<project/>\n",
    "org/example/Demo.class": b"\xca\xfe\xba\xbe" + bytes(range(256)) * 40,
    "org/example/": b"",
    "empty.txt": b"",
}


# -- real archives -----------------------------------------------------------------------------------------


def test_real_archives_read_like_zipfile() -> None:
    """Every jar of /usr/share/java, /usr/share/maven-repo and the venv: all entries as zipfile lists them,
    and the content of those the Java cataloger reads (manifests, poms, nested archives) byte for byte."""
    paths = real_archives()
    if not paths:
        pytest.skip("no jars under /usr/share/java, /usr/share/maven-repo or the venv (install e.g. maven)")
    interesting = 0
    for path in paths:
        with path.open("rb") as fh, zipfile.ZipFile(path) as zf:
            zr = ZipReader(fh)
            entries = list(zr.entries())
            infos = zf.infolist()
            assert [entry_tuple(e) for e in entries] == [info_tuple(i) for i in infos], path
            wanted = [e for e in entries if java._wanted(e.name)]
            assert list(zr.entries(java._wanted, java._WANTED_SUFFIXES)) == wanted, path  # the pre-filter is exact
            for e, info in zip(entries, infos, strict=True):
                if java._wanted(e.name):
                    assert zr.read(e, BIG) == zf.read(info), f"{path}:{e.name}"
                    interesting += 1
    assert interesting >= len(paths)  # each has at least a manifest


# -- archives built here -----------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_stored_and_deflated(compression: int) -> None:
    data = make_zip(FILES, compression)
    entries = assert_like_zipfile(data)
    assert [e.name for e in entries] == list(FILES)
    assert {e.method for e in entries if e.file_size} == {compression}
    dirs = [e.name for e in entries if e.is_dir]
    assert dirs == ["org/example/"]


def test_reading_in_small_pieces() -> None:
    data = make_zip(FILES)
    zr = reader(data)
    e = entry(zr, "org/example/Demo.class")
    with zr.open(e, e.file_size) as fh:
        pieces = []
        while piece := fh.read(7):
            assert len(piece) <= 7
            pieces.append(piece)
        assert fh.read() == b""
    assert b"".join(pieces) == FILES["org/example/Demo.class"]


def test_predicate_and_suffix_prefilter() -> None:
    zr = reader(make_zip(FILES))
    assert [e.name for e in zr.entries(lambda n: n.endswith(".class"))] == ["org/example/Demo.class"]
    assert [e.name for e in zr.entries(lambda n: True, (b"pom.xml", b".mf"))] == \
        ["META-INF/MANIFEST.MF", "META-INF/maven/org.example/demo/pom.xml"]  # upper-case name, lower-case suffix
    assert list(zr.entries(lambda n: False)) == []


def test_zip64_as_zipfile_writes_it() -> None:
    """force_zip64: zip64 sizes in the local header only (the central directory has the real ones)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in FILES.items():
            with z.open(name, "w", force_zip64=True) as fh:
                fh.write(content)
    assert_like_zipfile(buf.getvalue())


def test_zip64_records_and_extra_fields() -> None:
    data = to_zip64(make_zip(FILES))
    assert b"PK\x06\x06" in data and b"PK\x06\x07" in data
    entries = assert_like_zipfile(data)
    assert entries[1].header_offset > 0  # came from the extra field, not 0xFFFFFFFF
    stub = b"#!/bin/sh\nexec java -jar \"$0\" \"$@\"\n"
    assert_like_zipfile(stub + data)  # zip64 behind a stub: offsets shift by the stub's length


def test_zip64_record_with_extensible_data() -> None:
    """The zip64 EOCD record is then not right before its locator: found through the locator's offset
    (zipfile cannot read this one)."""
    data = to_zip64(make_zip(FILES), extensible=b"\x01\x00\x04\x00abcd")
    zr = reader(data)
    assert [e.name for e in zr.entries()] == list(FILES)
    assert zr.read(entry(zr, "org/example/Demo.class"), BIG) == FILES["org/example/Demo.class"]


def test_utf8_cp437_and_nul_names() -> None:
    data = make_zip({"données/café-1.0.jar": b"x", "plain.txt": b"y", "cafX.txt": b"z", "abcXdef.txt": b"w"})
    utf8 = entry(reader(data), "données/café-1.0.jar")
    assert utf8.flags & 0x800 and utf8.raw_name == "données/café-1.0.jar".encode()
    # "cafX" -> b"caf\x82" without the UTF-8 flag is cp437 "café"; "abc\0def.txt" is cut at the NUL (as
    # zipfile does: it keeps "abc"). Patched in both the local and the central header.
    data = data.replace(b"cafX.txt", b"caf\x82.txt").replace(b"abcXdef.txt", b"abc\x00def.txt")
    entries = assert_like_zipfile(data)
    assert [e.name for e in entries] == ["données/café-1.0.jar", "plain.txt", "café.txt", "abc"]
    # the ASCII pre-filter never hides a non-ASCII or NUL-cut name from the predicate
    assert [e.name for e in reader(data).entries(lambda n: n in ("café.txt", "abc"), (b".nothing",))] == \
        ["café.txt", "abc"]


def test_invalid_utf8_name() -> None:
    data = make_zip({"é.txt": b"x"}).replace("é".encode(), b"\xff\xfe")
    with pytest.raises(BadZipError, match="flagged UTF-8"):
        list(reader(data).entries())


def test_comment_stub_and_trailing_bytes() -> None:
    commented = make_zip(FILES, comment=b"built by hand " * 100)
    zr = reader(commented)
    assert zr.comment == b"built by hand " * 100
    assert_like_zipfile(commented)
    stub = b"#!/bin/bash\n# a launch script, as Spring Boot prepends to executable jars\n" * 50
    stubbed = assert_like_zipfile(stub + commented)
    assert stubbed[0].header_offset == len(stub)
    assert_like_zipfile(make_zip(FILES) + b"\x00" * 300)  # bytes after the EOCD (e.g. padding)


def test_fake_end_record_in_comment() -> None:
    """An EOCD signature inside the comment whose comment length cannot fit is not taken for the record."""
    fake = b"PK\x05\x06" + b"\x00" * 16 + b"\xff\xff"
    data = make_zip(FILES, comment=b"note " + fake + b" end")
    zr = reader(data)
    assert [e.name for e in zr.entries()] == list(FILES)


def test_empty_archive() -> None:
    data = make_zip({})
    assert len(data) == 22
    assert list(reader(data).entries()) == []


# -- damaged and hostile archives --------------------------------------------------------------------------


def test_not_a_zip_and_truncated() -> None:
    for junk in (b"", b"PK", b"hello world" * 100, bytes(70_000)):
        with pytest.raises(BadZipError, match="no end of central directory"):
            reader(junk)
    data = make_zip(FILES, comment=b"a comment")
    for cut in range(len(data)):  # every prefix: a clear error, never anything else
        with pytest.raises(ZipIndexError):
            zr = reader(data[:cut])
            for e in zr.entries():
                zr.read(e, BIG)


def test_truncated_real_jar() -> None:
    jars = [p for p in real_archives() if p.stat().st_size > 10_000]
    data = jars[0].read_bytes() if jars else make_zip(FILES)
    with pytest.raises(BadZipError, match="no end of central directory"):
        reader(data[: len(data) // 2])
    # Half the central directory cut out, the end record intact: the directory is looked for at the wrong place.
    data = make_zip(FILES)
    _, _, size, offset = eocd(data)
    with pytest.raises(BadZipError):
        zr = reader(data[:offset] + data[offset + size // 2 :])
        list(zr.entries())


def test_corrupted_central_directory() -> None:
    data = make_zip(FILES)
    second = central_headers(data)[b"META-INF/maven/org.example/demo/pom.properties"]
    bad_sig = data[:second] + b"XX\x01\x02" + data[second + 4 :]
    zr = reader(bad_sig)
    names = []
    with pytest.raises(BadZipError, match="bad central directory header signature"):
        names.extend(e.name for e in zr.entries())
    assert names == ["META-INF/MANIFEST.MF"]  # damage is reported when reached
    long_name = bytearray(data)
    struct.pack_into("<H", long_name, second + CD_NAME_LEN, 0xFFFF)
    with pytest.raises(BadZipError, match="runs past"):
        list(reader(bytes(long_name)).entries())
    wrong_offset = patch_central(data, "org/example/Demo.class", offset=3)
    zr = reader(wrong_offset)
    with pytest.raises(BadZipError, match="bad local header signature"):
        zr.read(entry(zr, "org/example/Demo.class"), BIG)
    other_name = patch_central(data, "org/example/Demo.class", offset=0)  # the manifest's local header
    zr = reader(other_name)
    with pytest.raises(BadZipError, match="differ"):
        zr.read(entry(zr, "org/example/Demo.class"), BIG)


def test_corrupted_zip64_extra_field() -> None:
    data = to_zip64(make_zip({"a.txt": b"a"}))
    short = data.replace(struct.pack("<HH", 1, 24), struct.pack("<HH", 1, 8))  # one value where three are due
    with pytest.raises(BadZipError, match="zip64 extra field lacks"):
        list(reader(short).entries())
    too_long = data.replace(struct.pack("<HH", 1, 24), struct.pack("<HH", 1, 400))
    with pytest.raises(BadZipError, match="runs past"):
        list(reader(too_long).entries())


def test_hostile_sizes_are_never_allocated() -> None:
    """Sizes claiming gigabytes or exabytes: refused or read in chunks up to the bytes really there; the
    peak of memory allocated stays that of the small inputs."""
    plain = make_zip({"a.txt": b"hello"}, zipfile.ZIP_STORED)
    at = eocd(plain)[0]
    huge_dir = plain[:at] + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, 0xFFFFFF00, 0, 0)
    zip64 = to_zip64(make_zip({"a.txt": b"hello"}, zipfile.ZIP_STORED))
    record = zip64.index(b"PK\x06\x06")
    huge_dir64 = bytearray(zip64)
    struct.pack_into("<Q", huge_dir64, record + 40, 1 << 62)  # central directory size
    huge_entry = bytearray(zip64)
    extra = huge_entry.index(struct.pack("<HH", 1, 24))
    struct.pack_into("<QQ", huge_entry, extra + 4, 1 << 60, 1 << 60)  # uncompressed and compressed size
    tracemalloc.start()
    try:
        with pytest.raises(BadZipError, match="does not fit"):
            reader(huge_dir)
        with pytest.raises(BadZipError, match="does not fit"):
            reader(bytes(huge_dir64))
        with pytest.raises(BadZipError, match="exceeds the 100-byte cap"):
            ZipReader(io.BytesIO(make_zip(FILES)), max_directory=100)
        zr = reader(bytes(huge_entry))
        e = entry(zr, "a.txt")
        assert e.file_size == 1 << 60
        with pytest.raises(EntryTooLargeError, match="1152921504606846976 bytes uncompressed"):
            zr.open(e, 1 << 30)
        with pytest.raises(BadZipError, match="truncated"):
            zr.read(e, 1 << 62)  # stored: read in chunks until the file ends
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024


def test_output_never_exceeds_the_declared_size() -> None:
    """A deflate entry inflating to 10 MiB that declares 1,000 bytes yields 1,000 bytes at most: with a CRC
    that fits them it reads as those bytes (as zipfile does), with its own CRC it fails."""
    data = make_zip({"bomb.bin": bytes(10 * 1024 * 1024)})
    lying = patch_central(data, "bomb.bin", usize=1000)
    zr = reader(lying)
    tracemalloc.start()
    try:
        with pytest.raises(BadZipError, match="bad CRC-32"):
            zr.read(entry(zr, "bomb.bin"), BIG)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024
    consistent = patch_central(data, "bomb.bin", usize=1000, crc=zlib.crc32(bytes(1000)))
    zr = reader(consistent)
    assert zr.read(entry(zr, "bomb.bin"), BIG) == bytes(1000)
    with zipfile.ZipFile(io.BytesIO(consistent)) as zf:
        assert zf.read("bomb.bin") == bytes(1000)


def test_deflate_data_shorter_than_declared() -> None:
    data = make_zip({"a.txt": b"abc" * 1000})
    zr = reader(patch_central(data, "a.txt", usize=5000))
    with pytest.raises(BadZipError, match="ends after 3000 of 5000 bytes"):
        zr.read(entry(zr, "a.txt"), BIG)


def test_deflate_stream_without_output_ends() -> None:
    """Compressed data made of empty stored blocks never inflates to anything: an error once it is used up."""
    data = one_entry_zip(b"a.txt", b"\x00\x00\x00\xff\xff" * 20_000, zipfile.ZIP_DEFLATED, 1, zlib.crc32(b"x"))
    zr = reader(data)
    with pytest.raises(BadZipError, match="ends after 0 of 1 bytes"):
        zr.read(entry(zr, "a.txt"), BIG)


def test_crc_mismatch() -> None:
    data = make_zip({"a.txt": b"the original content"}, zipfile.ZIP_STORED)
    changed = data.replace(b"the original content", b"the 0riginal content")
    zr = reader(changed)
    with pytest.raises(BadZipError, match=re.escape("bad CRC-32 for a.txt")):
        zr.read(entry(zr, "a.txt"), BIG)
    zr = reader(patch_central(make_zip({"e.txt": b""}), "e.txt", crc=1234))
    with pytest.raises(BadZipError, match=re.escape("bad CRC-32 for e.txt")):
        zr.read(entry(zr, "e.txt"), BIG)


def test_invalid_deflate_data() -> None:
    data = make_zip({"a.txt": bytes(range(256)) * 64})
    local = data.index(b"PK\x03\x04")
    garbled = bytearray(data)
    garbled[local + 30 + 5 : local + 30 + 5 + 8] = b"\xff" * 8
    zr = reader(bytes(garbled))
    with pytest.raises(BadZipError, match=re.escape("invalid deflate data in a.txt")):
        zr.read(entry(zr, "a.txt"), BIG)


def test_encrypted_and_unsupported_entries() -> None:
    data = make_zip({"secret.txt": b"x" * 100, "plain.txt": b"y"})
    zr = reader(patch_central(data, "secret.txt", flags=0x1))
    secret = entry(zr, "secret.txt")
    assert secret.encrypted
    with pytest.raises(UnsupportedZipError, match=re.escape("secret.txt is encrypted")):
        zr.open(secret, BIG)
    assert zr.read(entry(zr, "plain.txt"), BIG) == b"y"  # the others still read
    zr = reader(patch_central(data, "secret.txt", flags=0x40))
    with pytest.raises(UnsupportedZipError, match="encrypted"):
        zr.open(entry(zr, "secret.txt"), BIG)
    for method in (zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        zr = reader(make_zip({"c.txt": b"z" * 100}, method))
        with pytest.raises(UnsupportedZipError, match=f"compression method {method}"):
            zr.open(entry(zr, "c.txt"), BIG)


def test_multi_disk_archive_is_refused() -> None:
    data = bytearray(to_zip64(make_zip({"a.txt": b"a"})))
    locator = data.index(b"PK\x06\x07")
    struct.pack_into("<I", data, locator + 16, 3)
    with pytest.raises(UnsupportedZipError, match="spans 3 disks"):
        reader(bytes(data))


def test_random_damage_raises_only_zip_errors() -> None:
    """Bytes flipped at random in the directory and end records of a small jar: whatever is damaged, reading
    either works or raises a ZipIndexError (never struct.error, IndexError, a hang or a huge allocation)."""
    inner = make_zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\n\r\n"})
    plain = make_zip({**FILES, "lib/inner-1.0.jar": inner})
    offset = eocd(plain)[3]  # where the central directory starts, in the zip64 form too
    data = to_zip64(plain)
    rng = random.Random(20240601)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(1500):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(offset, len(damaged)) if rng.random() < 0.8 else rng.randrange(len(damaged))
            damaged[at] = rng.randrange(256)
        try:
            zr = reader(bytes(damaged))
            for e in zr.entries():
                zr.read(e, 1 << 20)
            outcomes["ok"] += 1
        except ZipIndexError:
            outcomes["error"] += 1
    assert outcomes["ok"] and outcomes["error"]
