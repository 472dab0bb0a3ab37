"""Archive expansion for the secret scan, on real archives written with zipfile, tarfile, gzip, bz2 and lzma."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from threatstryker.filescan.archives import (
    BZIP2,
    GZIP,
    TAR,
    XZ,
    ZIP,
    ArchiveExpander,
    Member,
    archive_kind,
)
from threatstryker.filescan.walk import Walker


def zip_bytes(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in files.items():
            if name.endswith("/"):
                zf.writestr(zipfile.ZipInfo(name), b"")
            else:
                zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(files: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:  # type: ignore[call-overload]
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
        link = tarfile.TarInfo("link-to-passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    return buf.getvalue()


class Expansion:
    """An expander with its walker, recording warnings."""

    def __init__(self, **walker: object) -> None:
        self.warnings: list[str] = []
        self.walker = Walker(lambda p, r: self.warnings.append(f"{p}: {r}"), **walker)  # type: ignore[arg-type]

    def members(self, data: bytes, path: str = "/x/outer", **kw: int) -> list[Member]:
        kind = archive_kind(data[:512])
        assert kind is not None
        expander = ArchiveExpander(self.walker, **kw)
        return list(expander.expand(io.BytesIO(data), path, kind))


def contents(members: list[Member]) -> dict[str, bytes]:
    return {m.path: m.data for m in members}


def test_archive_kinds_by_content() -> None:
    assert archive_kind(zip_bytes({"a": b"1"})) == ZIP
    assert archive_kind(gzip.compress(b"x")) == GZIP
    assert archive_kind(bz2.compress(b"x")) == BZIP2
    assert archive_kind(lzma.compress(b"x")) == XZ
    assert archive_kind(tar_bytes({"a": b"1"})[:512]) == TAR
    assert archive_kind(b"BZh but text\n" + b" " * 600) is None
    assert archive_kind(b"plain text" * 100) is None
    assert archive_kind(b"\x00" * 1024) is None  # the end of a tar is not a tar header


def test_zip_members_and_a_jar_inside_a_zip() -> None:
    jar = zip_bytes({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n", "app.properties": b"token=inner\n"})
    outer = zip_bytes({"docs/": b"", "docs/readme.txt": b"hello\n", "lib/inner.jar": jar})
    ex = Expansion()
    got = contents(ex.members(outer, "/srv/outer.zip"))
    assert got == {
        "/srv/outer.zip:docs/readme.txt": b"hello\n",
        "/srv/outer.zip:lib/inner.jar:META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n",
        "/srv/outer.zip:lib/inner.jar:app.properties": b"token=inner\n",
    }
    assert ex.warnings == []


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_and_compressed_tar(mode: str) -> None:
    data = tar_bytes({"etc/app.conf": b"password=1\n", "../../escape.txt": b"harmless\n"}, mode)
    ex = Expansion()
    got = contents(ex.members(data, "/img.tar"))
    assert got == {"/img.tar:etc/app.conf": b"password=1\n", "/img.tar:../../escape.txt": b"harmless\n"}
    assert ex.warnings == []


@pytest.mark.parametrize(("compress", "name", "inner"), [
    (gzip.compress, "notes.txt.gz", "notes.txt"),
    (bz2.compress, "dump.sql.bz2", "dump.sql"),
    (lzma.compress, "key.pem.xz", "key.pem"),
])
def test_single_compressed_files(compress, name: str, inner: str) -> None:  # type: ignore[no-untyped-def]
    got = contents(Expansion().members(compress(b"secret text\n"), f"/d/{name}"))
    assert got == {f"/d/{name}:{inner}": b"secret text\n"}


def test_depth_bound_warns_and_keeps_the_shallow_members() -> None:
    level3 = zip_bytes({"deep.txt": b"deep\n"})
    level2 = zip_bytes({"l3.zip": level3, "mid.txt": b"mid\n"})
    level1 = zip_bytes({"l2.jar": level2, "top.txt": b"top\n"})
    ex = Expansion()
    got = contents(ex.members(level1, "/a.zip", max_depth=2))
    assert got == {"/a.zip:top.txt": b"top\n", "/a.zip:l2.jar:mid.txt": b"mid\n"}
    assert ex.warnings == ["/a.zip:l2.jar:l3.zip: archive nested more than 2 levels deep; not opened"]
    assert "/a.zip:l2.jar:l3.zip:deep.txt" in contents(Expansion().members(level1, "/a.zip", max_depth=3))


def test_corrupt_zip_is_a_warning() -> None:
    ex = Expansion()
    assert ex.members(b"PK\x03\x04" + b"garbage" * 100, "/bad.zip") == []
    assert len(ex.warnings) == 1 and ex.warnings[0].startswith("/bad.zip: not a readable zip archive (")


def test_truncated_tar_gz_keeps_what_was_read() -> None:
    noise = random.Random(0).randbytes(200_000)  # incompressible: the cut falls inside this member
    data = tar_bytes({"first.txt": b"one\n", "second.bin": noise}, "w:gz")
    ex = Expansion()
    got = contents(ex.members(data[: len(data) // 2], "/cut.tgz"))
    assert got == {"/cut.tgz:first.txt": b"one\n"}
    assert len(ex.warnings) == 1 and ex.warnings[0].startswith("/cut.tgz: corrupt or truncated after ")


def test_member_over_the_size_cap_is_skipped_with_a_warning() -> None:
    data = zip_bytes({"big.log": b"x" * 5000, "small.txt": b"ok\n"})
    ex = Expansion(max_file_size=1000)
    assert contents(ex.members(data, "/z.zip")) == {"/z.zip:small.txt": b"ok\n"}
    assert ex.warnings == ["/z.zip:big.log: 5000 bytes, larger than the 1000-byte cap; not scanned"]


def test_zip_bomb_stops_at_the_byte_budget() -> None:
    chunk = b"\x00" * (1024 * 1024)
    data = zip_bytes({f"part{i}.bin": chunk for i in range(20)})
    assert len(data) < 200_000
    ex = Expansion(max_file_size=2 * 1024 * 1024)
    members = ex.members(data, "/bomb.zip", max_total=5 * 1024 * 1024)
    assert len(members) == 5
    assert ex.warnings == ["/bomb.zip: archive expands to more than 5242880 bytes; stopped there "
                           "(byte budget, possibly a decompression bomb)"]


def test_gzip_bomb_is_read_no_further_than_the_cap() -> None:
    data = gzip.compress(b"\x00" * (64 * 1024 * 1024), compresslevel=9)
    ex = Expansion(max_file_size=1024 * 1024)
    assert ex.members(data, "/bomb.gz") == []
    assert ex.warnings == ["/bomb.gz:bomb: 1048577 bytes, larger than the 1048576-byte cap; not scanned"]


def test_tar_gz_bomb_stops_at_the_byte_budget() -> None:
    data = tar_bytes({"zeros": b"\x00" * (16 * 1024 * 1024), "after.txt": b"x\n"}, "w:gz")
    ex = Expansion(max_file_size=1024 * 1024)
    assert ex.members(data, "/b.tgz", max_total=4 * 1024 * 1024) == []
    assert ex.warnings[0] == "/b.tgz:zeros: 16777216 bytes, larger than the 1048576-byte cap; not scanned"
    assert ex.warnings[1].startswith("/b.tgz: archive expands to more than 4194304 bytes")


def test_a_zip_entry_lying_about_its_size_gives_no_more_than_declared() -> None:
    data = bytearray(zip_bytes({"lie.txt": b"A" * 100_000}))
    # declare 10 bytes in the local header and the central directory: only those are read, and the CRC fails
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, 10)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 10)
    ex = Expansion()
    assert ex.members(bytes(data), "/lie.zip") == []
    assert len(ex.warnings) == 1 and "/lie.zip:lie.txt: cannot read this archive member (BadZipFile" in ex.warnings[0]


def test_traversal_names_are_only_read_into_memory(tmp_path: Path) -> None:
    data = zip_bytes({"../../../../../../tmp/evil-from-zip.txt": b"x\n", "/abs/evil.txt": b"y\n"})
    got = contents(Expansion().members(data, "/t.zip"))
    assert set(got) == {"/t.zip:../../../../../../tmp/evil-from-zip.txt", "/t.zip:/abs/evil.txt"}
    assert not Path("/tmp/evil-from-zip.txt").exists() and not Path("/abs/evil.txt").exists()


def test_encrypted_members_are_counted_in_one_warning() -> None:
    data = bytearray(zip_bytes({"secret.txt": b"x" * 50, "open.txt": b"ok\n"}, zipfile.ZIP_STORED))
    # set the "encrypted" flag of the first entry, as zip encryption tools do
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<H", data, local + 6, 1)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 8, 1)
    ex = Expansion()
    assert contents(ex.members(bytes(data), "/e.zip")) == {"/e.zip:open.txt": b"ok\n"}
    assert ex.warnings == ["/e.zip: 1 encrypted member(s) not read"]


def test_lockfiles_and_excluded_members_are_skipped() -> None:
    data = zip_bytes({"app/package-lock.json": b"{}", "vendor/x.txt": b"v", "app/main.js": b"m"})
    ex = Expansion(exclude=("**/vendor/**",))
    assert contents(ex.members(data, "/a.zip")) == {"/a.zip:app/main.js": b"m"}
    assert ex.walker.counts.lockfiles == 1 and ex.walker.counts.excluded == 1


def test_stop_ends_the_expansion() -> None:
    data = zip_bytes({f"f{i}.txt": b"x" for i in range(10)})
    ex = Expansion()
    expander = ArchiveExpander(ex.walker, stop=lambda: True)
    assert list(expander.expand(io.BytesIO(data), "/s.zip", ZIP)) == []
