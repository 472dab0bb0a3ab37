"""The rpm cataloger on real rpm databases: SQLite written by rpm, Berkeley DB hash loaded by db_load, NDB.

The fixtures (data/rpm, rebuilt by make_fixtures.sh) hold the packages of data/rpm/specs installed by
Debian's rpm: libfoo and python3-foo (epoch 2, built from source rpm foo-3.0.7-1.el9), hello, bigpkg (150
files, a header larger than a 4 KiB page), zero-epoch (Epoch: 0) and an imported gpg-pubkey.
"""

from __future__ import annotations

import io
import lzma
import sqlite3
import struct
import tarfile
import zlib
from pathlib import Path

import pytest

from tests.conftest import catalog_dir
from threatstryker.model import Package, TargetInfo
from threatstryker.sbom.catalog import catalog_tree
from threatstryker.sbom.cataloger import ParseContext
from threatstryker.sbom.catalogers import rpm, select_catalogers
from threatstryker.sbom.catalogers._rpmdb import RpmHeader
from threatstryker.sources.dirtree import DirTree
from threatstryker.sources.layered import LayerBlob, LayeredTree

DATA = Path(__file__).parent / "data" / "rpm"
RHEL = 'NAME="Red Hat Enterprise Linux"\nID="rhel"\nVERSION_ID="9.3"\nID_LIKE="fedora"\n'

#: (name, version, arch, source_name, source_version, licenses) of every package of the fixtures.
EXPECTED = {
    ("bigpkg", "0.9-2", "noarch", "bigpkg", "0.9-2", ("BSD-3-Clause",)),
    ("hello", "1.0-1", "noarch", "hello", "1.0-1", ("GPL-2.0-or-later",)),
    ("libfoo", "2:3.0.7-1.el9", "x86_64", "foo", "2:3.0.7-1.el9", ("Apache-2.0 AND MIT",)),
    ("python3-foo", "2:3.0.7-1.el9", "noarch", "foo", "2:3.0.7-1.el9", ("MIT",)),
    ("zero-epoch", "5.1-7", "noarch", "zero-epoch", "5.1-7", ("ISC",)),
}


def fixture(name: str) -> bytes:
    return lzma.decompress((DATA / f"{name}.xz").read_bytes())


def edit_sqlite(tmp_path: Path, *statements: tuple[str, tuple[object, ...]]) -> bytes:
    """The SQLite fixture after running ``statements`` on a copy (rpm keeps it in WAL mode: use a file)."""
    path = tmp_path / "edited.sqlite"
    path.write_bytes(fixture("rpmdb.sqlite"))
    con = sqlite3.connect(path)
    for sql, args in statements:
        con.execute(sql, args)
    con.commit()
    con.close()  # the last connection's close checkpoints the log into the file
    return path.read_bytes()


def sqlite_blobs(tmp_path: Path) -> list[tuple[int, bytes]]:
    """The header blobs of the SQLite fixture, in instance order."""
    path = tmp_path / "blobs.sqlite"
    path.write_bytes(fixture("rpmdb.sqlite"))
    con = sqlite3.connect(path)
    try:
        return [(int(h), bytes(b)) for h, b in con.execute("SELECT hnum, blob FROM Packages ORDER BY hnum")]
    finally:
        con.close()


def ndb(blobs: list[tuple[int, bytes]], damage: dict[int, str] | None = None) -> bytes:
    """An NDB Packages.db holding ``blobs``: 32-byte file header and 16-byte slots on 4 KiB slot pages,
    then each blob framed by 'BlbS' (index, time, length) and 'BlbE' (adler32, length), 16-byte blocks.
    ``damage`` maps an instance to 'checksum' (a wrong adler32) for malformed-input tests."""
    damage = damage or {}
    npages = (len(blobs) + 2 + 255) // 256
    out = bytearray(4096 * npages)
    struct.pack_into("<4sIIII", out, 0, b"RpmP", 0, 1, npages, (blobs[-1][0] + 1) if blobs else 1)
    for slot in range(2, len(out) // 16):
        struct.pack_into("<4s", out, slot * 16, b"Slot")
    for n, (idx, blob) in enumerate(blobs):
        blocks = (16 + len(blob) + 12 + 15) // 16
        framed = struct.pack("<4sIII", b"BlbS", idx, 1700000000, len(blob)) + blob
        framed += b"\0" * (blocks * 16 - 12 - len(framed))
        adler = zlib.adler32(framed) ^ (1 if damage.get(idx) == "checksum" else 0)
        struct.pack_into("<4sIII", out, (2 + n) * 16, b"Slot", idx, len(out) // 16, blocks)
        out += framed + struct.pack("<II4s", adler, len(blob), b"BlbE")
    return bytes(out)


def header(tags: dict[int, tuple[int, object]]) -> bytes:
    """A header blob from {tag: (type, value)}: 6 STRING, 8 STRING_ARRAY, 4 INT32 (list of ints)."""
    index, data = [], bytearray()
    for tag, (typ, value) in sorted(tags.items()):
        if typ == 4:
            data += b"\0" * (-len(data) % 4)
            ints = value if isinstance(value, list) else [value]
            index.append((tag, typ, len(data), len(ints)))
            data += struct.pack(f">{len(ints)}I", *ints)
        else:
            items = value if isinstance(value, list) else [value]
            index.append((tag, typ, len(data), len(items)))
            for s in items:
                data += str(s).encode() + b"\0"
    return struct.pack(">II", len(index), len(data)) + b"".join(struct.pack(">IIiI", *e) for e in index) + data


def rootfs(tmp_path: Path, files: dict[str, bytes], os_release: str | None = RHEL) -> Path:
    root = tmp_path / "root"
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content)
    if os_release is not None:
        (root / "etc").mkdir(parents=True, exist_ok=True)
        (root / "etc" / "os-release").write_text(os_release)
    return root


def summary(pkgs: list[Package]) -> set[tuple[object, ...]]:
    return {(p.name, p.version, p.arch, p.source_name, p.source_version, tuple(p.licenses)) for p in pkgs}


# -- normal input ------------------------------------------------------------------------------------------

def test_sqlite_database_written_by_rpm(tmp_path: Path) -> None:
    root = rootfs(tmp_path, {"var/lib/rpm/rpmdb.sqlite": fixture("rpmdb.sqlite")})
    sbom = catalog_dir(root, "rpm")
    assert sbom.warnings == []
    assert summary(sbom.packages) == EXPECTED  # gpg-pubkey is not a package
    by_name = {p.name: p for p in sbom.packages}
    libfoo = by_name["libfoo"]
    assert libfoo.purl == (
        "pkg:rpm/redhat/libfoo@3.0.7-1.el9?arch=x86_64&distro=rhel-9.3&epoch=2&upstream=foo-3.0.7-1.el9.src.rpm"
    )
    assert libfoo.ecosystem == "rpm"
    assert libfoo.found_by == "rpmdb-sqlite"
    assert libfoo.metadata["epoch"] == 2
    assert libfoo.metadata["source_rpm"] == "foo-3.0.7-1.el9.src.rpm"
    assert [loc.path for loc in libfoo.locations] == ["/var/lib/rpm/rpmdb.sqlite"]
    zero = by_name["zero-epoch"]
    assert zero.metadata["epoch"] == 0
    assert "epoch=" not in zero.purl and zero.purl.startswith("pkg:rpm/redhat/zero-epoch@5.1-7?arch=noarch")
    assert "epoch" not in by_name["hello"].metadata


@pytest.mark.parametrize("variant", ["Packages-le", "Packages-be", "Packages-512"])
def test_berkeley_db_variants_match_sqlite(tmp_path: Path, variant: str) -> None:
    root = rootfs(tmp_path, {"var/lib/rpm/Packages": fixture(variant)})
    sbom = catalog_dir(root, "rpm")
    assert sbom.warnings == []
    assert summary(sbom.packages) == EXPECTED
    assert {p.found_by for p in sbom.packages} == {"rpmdb-bdb"}


def test_ndb_database_matches_sqlite(tmp_path: Path) -> None:
    root = rootfs(tmp_path, {"usr/lib/sysimage/rpm/Packages.db": ndb(sqlite_blobs(tmp_path))})
    sbom = catalog_dir(root, "rpm")
    assert sbom.warnings == []
    assert summary(sbom.packages) == EXPECTED
    assert {p.found_by for p in sbom.packages} == {"rpmdb-ndb"}
    assert sbom.packages[0].locations[0].path == "/usr/lib/sysimage/rpm/Packages.db"


def test_sqlite_in_usr_lib_sysimage_and_no_distro(tmp_path: Path) -> None:
    root = rootfs(tmp_path, {"usr/lib/sysimage/rpm/rpmdb.sqlite": fixture("rpmdb.sqlite")}, os_release=None)
    sbom = catalog_dir(root, "rpm")
    hello = next(p for p in sbom.packages if p.name == "hello")
    assert hello.purl == "pkg:rpm/redhat/hello@1.0-1?arch=noarch&upstream=hello-1.0-1.src.rpm"


def test_owned_files_are_declared_and_prefixed_with_a_nested_root(tmp_path: Path) -> None:
    root = rootfs(tmp_path, {"mnt/sysroot/var/lib/rpm/rpmdb.sqlite": fixture("rpmdb.sqlite")})
    tree = DirTree(str(root))
    ctx = ParseContext(tree=tree)
    info = tree.stat("/mnt/sysroot/var/lib/rpm/rpmdb.sqlite")
    assert info is not None
    pkgs = rpm.parse_sqlite(ctx, info)
    owned = {pkg.name: set(files()) for pkg, files in ctx.owned_files}
    assert set(owned) == {p.name for p in pkgs}
    assert "/mnt/sysroot/usr/lib/python3.9/site-packages/foo-3.0.7.dist-info/METADATA" in owned["python3-foo"]
    assert owned["libfoo"] == {"/mnt/sysroot/usr/lib64/libfoo.so.3", "/mnt/sysroot/usr/share/doc/libfoo",
                               "/mnt/sysroot/usr/share/doc/libfoo/README"}
    assert len(owned["bigpkg"]) == 151  # the directory and its 150 files


def test_python_package_installed_by_rpm_gets_owner(tmp_path: Path) -> None:
    if "python" not in {c.name for c in select_catalogers(None)}:
        pytest.skip("the python cataloger does not exist yet")
    site = "usr/lib/python3.9/site-packages"
    root = rootfs(tmp_path, {
        "var/lib/rpm/rpmdb.sqlite": fixture("rpmdb.sqlite"),
        f"{site}/foo-3.0.7.dist-info/METADATA": b"Metadata-Version: 2.1\nName: foo\nVersion: 3.0.7\n",
        f"{site}/foo/__init__.py": b"",
    })
    sbom = catalog_dir(root, "rpm", "python")
    foo = next(p for p in sbom.packages if p.ecosystem == "pypi" and p.name == "foo")
    owner = next(p for p in sbom.packages if p.name == "python3-foo")
    assert foo.owner == owner.purl


def test_sqlite_in_an_image_layer_is_copied_out(tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    data = fixture("rpmdb.sqlite")
    with tarfile.open(layer, "w") as tar:
        for rel, content in (("etc/os-release", RHEL.encode()), ("var/lib/rpm/rpmdb.sqlite", data)):
            ti = tarfile.TarInfo(rel)
            ti.size = len(content)
            tar.addfile(ti, io.BytesIO(content))
    with layer.open("rb") as fh:
        tree = LayeredTree([LayerBlob("sha256:" + "ab" * 32, fh, 0, layer.stat().st_size)])
        sbom = catalog_tree(tree, TargetInfo("oci", str(layer)), select_catalogers(["rpm"]))
    assert summary(sbom.packages) == EXPECTED
    assert {p.layer for p in sbom.packages} == {"sha256:" + "ab" * 32}


def test_write_ahead_log_is_applied(tmp_path: Path) -> None:
    src = tmp_path / "live.sqlite"
    src.write_bytes(fixture("rpmdb.sqlite"))
    live = sqlite3.connect(src)
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("PRAGMA wal_autocheckpoint=0")
    live.execute("DELETE FROM Packages WHERE hnum = (SELECT hnum FROM Packages LIMIT 1 OFFSET 0)")
    live.commit()  # the deletion lives only in the -wal file while the connection is open
    root = rootfs(tmp_path, {
        "var/lib/rpm/rpmdb.sqlite": src.read_bytes(),
        "var/lib/rpm/rpmdb.sqlite-wal": (tmp_path / "live.sqlite-wal").read_bytes(),
    })
    live.close()
    sbom = catalog_dir(root, "rpm")
    assert len(sbom.packages) == len(EXPECTED) - 1
    assert sorted(p.name for p in (root / "var/lib/rpm").iterdir()) == ["rpmdb.sqlite", "rpmdb.sqlite-wal"]


def test_old_database_beside_sqlite_is_skipped(tmp_path: Path) -> None:
    root = rootfs(tmp_path, {
        "var/lib/rpm/rpmdb.sqlite": fixture("rpmdb.sqlite"),
        "var/lib/rpm/Packages": fixture("Packages-le"),
    })
    sbom = catalog_dir(root, "rpm")
    assert {p.found_by for p in sbom.packages} == {"rpmdb-sqlite"}
    assert [w.reason for w in sbom.warnings] == [
        "rpmdb-bdb: skipped, the rpmdb.sqlite beside it is the current database"
    ]


def test_header_without_source_rpm_and_with_old_file_names() -> None:
    blob = header({
        1000: (6, "legacy"), 1001: (6, "1.2"), 1002: (6, "3"), 1022: (6, "(none)"),
        1027: (8, ["/usr/bin/legacy", "/etc/legacy.conf"]),
    })
    hdr = RpmHeader(blob)
    assert hdr.file_paths() == ["/usr/bin/legacy", "/etc/legacy.conf"]
    ctx = ParseContext(tree=DirTree(str(DATA)))
    info = ctx.tree.stat("/make_fixtures.sh")
    assert info is not None
    pkg = rpm._package(ctx, info, "rpmdb-sqlite", hdr)
    assert pkg is not None
    assert (pkg.version, pkg.arch, pkg.source_name, pkg.source_version) == ("1.2-3", None, "legacy", "1.2-3")
    assert pkg.purl == "pkg:rpm/redhat/legacy@1.2-3"


@pytest.mark.parametrize(("srpm", "expected"), [
    ("openssl-3.0.7-1.el9.src.rpm", ("openssl", "3.0.7-1.el9")),
    ("python-setuptools-65.5.1-2.el9.src.rpm", ("python-setuptools", "65.5.1-2.el9")),
    ("kernel-5.14.0-362.8.1.el9_3.nosrc.rpm", ("kernel", "5.14.0-362.8.1.el9_3")),
    ("broken.src.rpm", None),
    ("-1-2.src.rpm", None),
])
def test_split_source_rpm(srpm: str, expected: tuple[str, str] | None) -> None:
    assert rpm.split_source_rpm(srpm) == expected


# -- empty input -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", ["var/lib/rpm/rpmdb.sqlite", "var/lib/rpm/Packages", "var/lib/rpm/Packages.db"])
def test_zero_byte_database_has_no_packages(tmp_path: Path, rel: str) -> None:
    sbom = catalog_dir(rootfs(tmp_path, {rel: b""}), "rpm")
    assert sbom.packages == [] and sbom.warnings == []


def test_initialised_databases_without_packages(tmp_path: Path) -> None:
    root = rootfs(tmp_path, {
        "a/var/lib/rpm/rpmdb.sqlite": edit_sqlite(tmp_path, ("DELETE FROM Packages", ())),
        "b/var/lib/rpm/Packages": fixture("Packages-empty"),
        "c/var/lib/rpm/Packages.db": ndb([]),
    })
    sbom = catalog_dir(root, "rpm")
    assert sbom.packages == [] and sbom.warnings == []


# -- malformed input ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("rel", ["var/lib/rpm/rpmdb.sqlite", "var/lib/rpm/Packages", "var/lib/rpm/Packages.db"])
def test_garbage_database_is_a_warning(tmp_path: Path, rel: str) -> None:
    sbom = catalog_dir(rootfs(tmp_path, {rel: b"this is not a database\n" * 200}), "rpm")
    assert sbom.packages == []
    assert len(sbom.warnings) == 1
    assert sbom.warnings[0].path == "/" + rel
    assert "malformed" in sbom.warnings[0].reason


def test_damaged_sqlite_record_keeps_the_others(tmp_path: Path) -> None:
    hnum = next(i for i, b in sqlite_blobs(tmp_path) if b"hello-1.0-1.src.rpm" in b)
    bad = struct.pack(">II", 0x7FFFFFFF, 16)
    data = edit_sqlite(tmp_path, ("UPDATE Packages SET blob = ? WHERE hnum = ?", (bad, hnum)))
    sbom = catalog_dir(rootfs(tmp_path, {"var/lib/rpm/rpmdb.sqlite": data}), "rpm")
    assert {p.name for p in sbom.packages} == {"bigpkg", "libfoo", "python3-foo", "zero-epoch"}
    assert [w.reason for w in sbom.warnings] == [
        f"rpmdb-sqlite: record {hnum} skipped (header claims 2147483647 entries and 16 data bytes but holds 8 bytes)"
    ]


def test_sqlite_with_damaged_index_schema_is_still_read(tmp_path: Path) -> None:
    data = bytearray(fixture("rpmdb.sqlite"))
    i = data.find(b"CREATE INDEX")
    assert i > 0
    data[i : i + 12] = b"CREATE XNDEX"
    sbom = catalog_dir(rootfs(tmp_path, {"var/lib/rpm/rpmdb.sqlite": bytes(data)}), "rpm")
    assert summary(sbom.packages) == EXPECTED


def test_truncated_sqlite_is_a_warning(tmp_path: Path) -> None:
    data = fixture("rpmdb.sqlite")
    sbom = catalog_dir(rootfs(tmp_path, {"var/lib/rpm/rpmdb.sqlite": data[: len(data) // 3]}), "rpm")
    assert sbom.packages == []
    assert len(sbom.warnings) == 1 and "rpmdb-sqlite: malformed" in sbom.warnings[0].reason


def test_truncated_berkeley_db_keeps_what_is_left(tmp_path: Path) -> None:
    data = fixture("Packages-le")
    sbom = catalog_dir(rootfs(tmp_path, {"var/lib/rpm/Packages": data[: len(data) - 4096 * 3]}), "rpm")
    names = {p.name for p in sbom.packages}
    assert "bigpkg" not in names and {"hello", "libfoo"} <= names
    assert any("overflow chain broken" in w.reason for w in sbom.warnings)


def test_ndb_checksum_mismatch_skips_one_record(tmp_path: Path) -> None:
    blobs = sqlite_blobs(tmp_path)
    hello = next(i for i, b in blobs if b"hello-1.0-1.src.rpm" in b)
    root = rootfs(tmp_path, {"var/lib/rpm/Packages.db": ndb(blobs, {hello: "checksum"})})
    sbom = catalog_dir(root, "rpm")
    assert {p.name for p in sbom.packages} == {"bigpkg", "libfoo", "python3-foo", "zero-epoch"}
    assert [w.reason for w in sbom.warnings] == [f"rpmdb-ndb: record {hello} skipped (blob checksum mismatch)"]


def test_many_damaged_records_are_summarised(tmp_path: Path) -> None:
    junk = [(i, b"\0\0\0\x01\0\0\0\x04" + b"\xff" * 20) for i in range(1, 9)]
    sbom = catalog_dir(rootfs(tmp_path, {"var/lib/rpm/Packages.db": ndb(junk)}), "rpm")
    assert sbom.packages == []
    assert len(sbom.warnings) == rpm.MAX_RECORD_WARNINGS + 1
    assert sbom.warnings[-1].reason == "rpmdb-ndb: 3 more damaged records skipped"
