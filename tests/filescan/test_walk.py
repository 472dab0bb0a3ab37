"""The secret scanner's walk: which files of a real directory or image layers it reads, and content sniffing."""

from __future__ import annotations

import codecs
import gzip
import io
import os
import sqlite3
import stat
import threading
import zlib
from pathlib import Path

from tests.sources.imagekit import layer_ids, layer_tar
from threatstryker.filescan.walk import (
    LOCKFILE_NAMES,
    Walker,
    WalkItem,
    as_text,
    is_lockfile,
    printable_strings,
    sniff_binary,
)
from threatstryker.sources.dirtree import DirTree
from threatstryker.sources.layered import LayerBlob, LayeredTree


def walker(warnings: list[tuple[str, str]], **kw: object) -> Walker:
    return Walker(lambda path, reason: warnings.append((path, reason)), **kw)  # type: ignore[arg-type]


def walk_in_thread(w: Walker, tree: DirTree | LayeredTree) -> list[WalkItem]:
    """The walk, run where a hang would not block the test run: it must end within 30 s."""
    out: list[WalkItem] = []
    t = threading.Thread(target=lambda: out.extend(w.walk(tree)), daemon=True)
    t.start()
    t.join(30)
    assert not t.is_alive(), "the walk hung"
    return out


def test_regular_files_only_symlinks_never_followed_fifos_never_opened(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a\n")
    (root / "sub" / "b.env").write_text("b\n")
    os.symlink("/etc/passwd", root / "host-passwd")  # out of the root
    os.symlink("/usr", root / "host-usr")  # a directory out of the root
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    os.symlink(".", root / "sub" / "self")  # a directory loop
    os.mkfifo(root / "fifo")
    devices = []
    try:
        os.mknod(root / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero: endless if read
        devices = ["/zero: not a regular file (character device); not read"]
    except PermissionError:
        pass  # no CAP_MKNOD here: the FIFO stands for special files
    warnings: list[tuple[str, str]] = []
    tree = DirTree(str(root))
    items = walk_in_thread(walker(warnings), tree)
    assert sorted(i.path for i in items) == ["/a.txt", "/sub/b.env"]
    assert all(i.present and i.layer is None for i in items)
    assert sorted(str(w) for w in tree.warnings) == ["/fifo: not a regular file (FIFO); not read", *devices]


def test_lockfiles_are_skipped_unless_asked(tmp_path: Path) -> None:
    for name in ("package-lock.json", "yarn.lock", "poetry.lock", "Cargo.lock", "go.sum", "app.py"):
        (tmp_path / name).write_text("{}\n")
    w = walker([])
    assert [i.path for i in w.walk(DirTree(str(tmp_path)))] == ["/app.py"]
    assert w.counts.lockfiles == 5 and w.counts.files == 6
    with_locks = walker([], lockfiles=True)
    assert len(list(with_locks.walk(DirTree(str(tmp_path))))) == 6
    assert is_lockfile("pnpm-lock.yaml") and is_lockfile("composer.lock") and is_lockfile("Gemfile.lock")
    assert not is_lockfile("lock.py") and "package.json" not in LOCKFILE_NAMES


def test_exclude_globs(tmp_path: Path) -> None:
    (tmp_path / "node_modules" / "x").mkdir(parents=True)
    (tmp_path / "node_modules" / "x" / "index.js").write_text("x\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.js").write_text("x\n")
    (tmp_path / "src" / "debug.log").write_text("x\n")
    w = walker([], exclude=("**/node_modules/**", "*.log"))
    assert [i.path for i in w.walk(DirTree(str(tmp_path)))] == ["/src/app.js"]
    assert w.counts.excluded == 2
    assert w.excluded("/deep/node_modules/a/b.js") and not w.excluded("/src/app.js")


def test_size_cap_warns_with_the_path(tmp_path: Path) -> None:
    warnings: list[tuple[str, str]] = []
    w = walker(warnings, max_file_size=1000)
    assert not w.too_large("/small", 1000)
    assert w.too_large("/big.sql", 1001)
    assert warnings == [("/big.sql", "1001 bytes, larger than the 1000-byte cap; not scanned")]
    assert w.counts.too_large == 1


def test_image_layers_yield_replaced_and_deleted_versions() -> None:
    layers = [
        layer_tar([("dir", "app"), ("file", "app/config", b"v0\n"), ("file", "app/keep", b"k\n")]),
        layer_tar([("file", "app/.env", b"TOKEN=1\n"), ("file", "app/config", b"v1\n"), ("fifo", "app/pipe")]),
        layer_tar([("whiteout", "app/.env"), ("file", "yarn.lock", b"lock\n")]),
    ]
    ids = layer_ids(layers)
    tree = LayeredTree([LayerBlob(ids[i], io.BytesIO(d), 0, len(d)) for i, d in enumerate(layers)])
    w = walker([])
    items = walk_in_thread(w, tree)
    got = {(i.path, i.layer, i.present, i.layer_index) for i in items}
    assert got == {
        ("/app/config", ids[1], True, 1),
        ("/app/keep", ids[0], True, 0),
        ("/app/config", ids[0], False, 0),  # replaced by layer 1
        ("/app/.env", ids[1], False, 1),  # deleted by layer 2
    }
    assert w.counts.lockfiles == 1 and w.counts.hidden_versions == 2
    deleted = next(i for i in items if i.path == "/app/.env")
    with tree.open_info(deleted.info) as fh:
        assert fh.read() == b"TOKEN=1\n"
    assert {i.path for i in walker([], layers=False).walk(tree)} == {"/app/config", "/app/keep"}


def test_sniffing_tells_text_from_binaries(tmp_path: Path) -> None:
    assert sniff_binary(b"plain text\nline 2\n") is None
    assert sniff_binary("caf\u00e9 \u2603 utf-8\n".encode()) is None
    assert sniff_binary(b"\x1b[1mansi\x1b[0m\n\x0cpage") is None
    assert sniff_binary(codecs.BOM_UTF16_LE + "utf16 text".encode("utf-16-le")) is None
    assert sniff_binary(b"PACKAGE=foo\n") is None  # not a git pack for starting with PACK
    assert sniff_binary(b"\x89PNG\r\n\x1a\n....") == "PNG image"
    assert sniff_binary(b"\x7fELF\x02\x01\x01") == "ELF object"
    assert sniff_binary(b"%PDF-1.7\n") == "PDF document"
    assert sniff_binary(b"text then\x00 a NUL") == "contains NUL bytes"
    assert sniff_binary(bytes(range(1, 32)) * 10) == "mostly control characters"
    assert sniff_binary(zlib.compress(b"x" * 1000)) == "zlib data"
    db = tmp_path / "x.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (a)")
    conn.close()
    assert sniff_binary(db.read_bytes()[:8192]) == "SQLite database"
    assert sniff_binary(gzip.compress(b"x")) is not None


def test_utf16_text_is_reencoded_keeping_lines() -> None:
    text = "line one\nkey = value\n"
    for codec in ("utf-16", "utf-16-be"):
        data = text.encode(codec)
        if codec == "utf-16-be":
            data = codecs.BOM_UTF16_BE + data
        assert as_text(data) == text.encode()
    assert as_text(b"plain") == b"plain"


def test_printable_strings_of_a_binary_map_back_to_file_offsets() -> None:
    ascii_token = b"tstk_ASCIIstringInBinary0001"
    wide = "wide_string_utf16_value"
    data = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 8 + ascii_token + b"\x00\x03short\x01\x02"
    data += wide.encode("utf-16-le") + b"\x00"
    strings = printable_strings(data)
    lines = strings.text.split(b"\n")
    assert lines == [ascii_token, wide.encode()]  # "short" is under 8 characters
    assert strings.file_offset(0) == data.index(ascii_token)
    assert strings.file_offset(5) == data.index(ascii_token) + 5
    second = len(ascii_token) + 1
    assert strings.file_offset(second) == data.index(wide.encode("utf-16-le"))
    assert strings.file_offset(second + 3) == data.index(wide.encode("utf-16-le")) + 6
    assert printable_strings(b"\x00\x01\x02").text == b""
    elf = b"\x7fELF" + data[4:]
    assert printable_strings(elf).text == ascii_token  # ELF files keep their strings in ASCII/UTF-8
    assert printable_strings(elf, utf16=True).text.split(b"\n") == lines
