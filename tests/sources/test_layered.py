"""LayeredTree over layers written with tarfile: whiteouts, opaque dirs, hard links, layer of origin, damage."""

from __future__ import annotations

import io
import threading

import pytest

from tests.sources.imagekit import layer_ids, layer_tar
from threatstryker.sources.filetree import FILE, OTHER, FileTooLarge, FileTreeError, PathMatcher
from threatstryker.sources.layered import LayerBlob, LayeredTree

IMAGE_PASSWD = b"root:x:0:0:image root:/root:/bin/sh\n"

L0 = layer_tar([
    ("dir", "etc"),
    ("file", "etc/os-release", b'ID=debian\nVERSION_ID="12"\n'),
    ("file", "etc/passwd", IMAGE_PASSWD),
    ("dir", "usr"),
    ("dir", "usr/bin"),
    ("file", "usr/bin/a", b"\x7fELF program a", 0o755),
    ("hardlink", "usr/bin/b", "usr/bin/a"),
    ("symlink", "bin", "usr/bin"),
    ("dir", "opt"),
    ("dir", "opt/old"),
    ("file", "opt/old/x", b"old x"),
    ("file", "opt/keep", b"hidden by the opaque dir"),
    ("dir", "srv/dir"),
    ("file", "srv/dir/f1", b"f1"),
    ("dir", "tmp"),
    ("file", "tmp/gone", b"deleted by layer 1"),
    ("file", "etc/changed", b"version 0"),
])
L1 = layer_tar([
    ("whiteout", "tmp/gone"),
    ("file", "etc/added1", b"added by layer 1, deleted by layer 2"),
    ("opaque", "opt"),
    ("file", "opt/new", b"new in layer 1"),
    ("whiteout", "srv/dir"),
    ("file", "etc/changed", b"version 1"),
])
L2 = layer_tar([
    ("whiteout", "etc/added1"),
    ("symlink", "etc/abs", "/etc/passwd"),
    ("symlink", "etc/rel", "../etc/passwd"),
    ("symlink", "etc/escape", "../../../../../../etc/passwd"),
    ("symlink", "etc/hostonly", "/usr/lib/os-release"),
    ("symlink", "loop1", "loop2"),
    ("symlink", "loop2", "/loop1"),
    ("symlink", "self", "self"),
    ("fifo", "run/fifo"),
    ("chr", "dev/null"),
    ("file", "srv/dir/f2", b"dir recreated by layer 2"),
])
LAYERS = [L0, L1, L2]
IDS = layer_ids(LAYERS)


def tree_of(layers: list[bytes]) -> LayeredTree:
    ids = layer_ids(layers)
    return LayeredTree([LayerBlob(ids[i], io.BytesIO(data), 0, len(data), f"layer{i}") for i, data in
                        enumerate(layers)])


@pytest.fixture()
def tree() -> LayeredTree:
    return tree_of(LAYERS)


def reasons(tree: LayeredTree) -> list[str]:
    return [f"{w.path}: {w.reason}" for w in tree.warnings]


def test_squashed_view_applies_whiteouts_and_opaque_dirs(tree: LayeredTree) -> None:
    assert tree.read_bytes("/etc/passwd") == IMAGE_PASSWD
    assert tree.stat("/tmp/gone") is None  # whiteout of a file
    assert tree.stat("/etc/added1") is None  # added by layer 1, deleted by layer 2
    assert tree.stat("/opt/old/x") is None and tree.stat("/opt/keep") is None  # opaque dir
    assert [e.path for e in tree.listdir("/opt")] == ["/opt/new"]
    assert tree.stat("/srv/dir/f1") is None  # whole directory whited out...
    assert [e.path for e in tree.listdir("/srv/dir")] == ["/srv/dir/f2"]  # ...and made again by layer 2
    assert tree.read_bytes("/etc/changed") == b"version 1"
    assert tree.stat("/tmp") is not None and tree.listdir("/tmp") == []
    assert not tree.partial and tree.warnings == []
    paths = {e.path for e in tree.entries()}
    assert {"/tmp/gone", "/etc/added1", "/opt/keep", "/srv/dir/f1"}.isdisjoint(paths)


def test_each_layer_keeps_its_own_view(tree: LayeredTree) -> None:
    assert [v.layer_id for v in tree.layers] == IDS
    deleted = tree.layers[1].entries["/etc/added1"]  # present in its layer, absent from the squashed view
    assert deleted.layer == IDS[1]
    with tree.open_in_layer(deleted) as fh:
        assert fh.read() == b"added by layer 1, deleted by layer 2"
    assert "/tmp/gone" in tree.layers[0].entries and "/tmp/gone" in tree.layers[1].deleted
    assert "/opt" in tree.layers[1].opaque_dirs
    assert "/etc/added1" in tree.layers[2].deleted
    with tree.open_in_layer(tree.layers[0].entries["/etc/changed"]) as fh:
        assert fh.read() == b"version 0"


def test_every_file_records_the_layer_that_wrote_it(tree: LayeredTree) -> None:
    assert tree.layer_of("/etc/passwd") == IDS[0]
    assert tree.layer_of("/etc/changed") == IDS[1]
    assert tree.layer_of("/opt/new") == IDS[1]
    assert tree.layer_of("/srv/dir/f2") == IDS[2]
    assert tree.layer_of("/etc/abs") == IDS[0]  # followed: the layer of the file the link points to
    assert tree.stat("/etc/abs", follow=False).layer == IDS[2]
    for info in tree.files():
        assert info.layer in IDS


def test_hard_links_read_the_target_content(tree: LayeredTree) -> None:
    info = tree.stat("/usr/bin/b")
    assert info is not None and info.kind == FILE and info.is_executable
    assert tree.read_bytes("/usr/bin/b") == b"\x7fELF program a"
    assert {"/usr/bin/a", "/usr/bin/b"} <= {i.path for i in tree.files()}


def test_hard_link_to_a_lower_layer_and_dangling_links() -> None:
    layers = [
        layer_tar([("file", "usr/bin/a", b"lower a", 0o755)]),
        layer_tar([("hardlink", "usr/bin/c", "usr/bin/a"), ("hardlink", "usr/bin/d", "usr/bin/missing")]),
    ]
    tree = tree_of(layers)
    assert tree.read_bytes("/usr/bin/c") == b"lower a"
    assert tree.layer_of("/usr/bin/c") == layer_ids(layers)[1]
    assert tree.stat("/usr/bin/d") is None
    assert any(r.startswith("/usr/bin/d: hard link to 'usr/bin/missing'") for r in reasons(tree))


def test_symlinks_resolve_inside_the_image(tree: LayeredTree) -> None:
    assert tree.read_bytes("/bin/a") == b"\x7fELF program a"  # relative link to a directory
    assert tree.read_bytes("/etc/abs") == IMAGE_PASSWD  # absolute link: into the image, not the host
    assert tree.read_bytes("/etc/rel") == IMAGE_PASSWD
    assert tree.resolve("/etc/escape") == "/etc/passwd"
    assert tree.read_bytes("/etc/escape") == IMAGE_PASSWD
    assert any("climbs above the root" in r and "/etc/escape" in r for r in reasons(tree))
    # a link to a path that exists on the host but not in the image leads nowhere
    assert tree.stat("/etc/hostonly") is None
    with pytest.raises(FileTreeError, match="no such file"):
        tree.open("/etc/hostonly")


def test_symlink_loops_warn_and_do_not_hang(tree: LayeredTree) -> None:
    done: list[object] = []

    def work() -> None:
        done.append(tree.stat("/loop1"))
        done.append(tree.stat("/self"))
        with pytest.raises(FileTreeError, match="loop"):
            tree.open("/loop2/x")
        done.append(True)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(10)
    assert done == [None, None, True]
    assert any("symlink loop" in r and r.startswith("/loop1") for r in reasons(tree))


def test_device_and_fifo_members_are_not_regular_files(tree: LayeredTree) -> None:
    for path in ("/run/fifo", "/dev/null"):
        info = tree.stat(path)
        assert info is not None and info.kind == OTHER
        with pytest.raises(FileTreeError, match="not a regular file"):
            tree.open(path)
    assert "/run/fifo" not in {i.path for i in tree.files()}
    # a cataloger claiming such a path gets a warning, not a file
    claimed = list(tree.select(PathMatcher([("**/run/fifo", "x")])))
    assert claimed == []
    assert any(r.startswith("/run/fifo: not a regular file") for r in reasons(tree))


def test_read_limit_and_streaming(tree: LayeredTree) -> None:
    with pytest.raises(FileTooLarge):
        tree.read_bytes("/etc/passwd", limit=10)
    with tree.open("/etc/passwd") as fh:
        assert fh.read(4) == b"root"
        fh.seek(-3, 2)
        assert fh.read() == b"sh\n"


def test_globs_and_select(tree: LayeredTree) -> None:
    assert sorted(i.path for i in tree.glob("**/os-release", "/opt/*")) == ["/etc/os-release", "/opt/new"]
    matcher = PathMatcher([("**/etc/passwd", "passwd")])
    got = {info.path: hits for info, hits in tree.select(matcher, executables=True)}
    assert got["/etc/passwd"] == ["passwd"]
    assert got["/usr/bin/a"] == [] and got["/usr/bin/b"] == []  # executables, claimed by no glob


def test_history_lists_the_versions_of_a_path(tree: LayeredTree) -> None:
    assert [e.layer for e in tree.history("/etc/changed")] == IDS[:2]
    with tree.open_in_layer(tree.history("/etc/changed")[0]) as fh:
        assert fh.read() == b"version 0"
    assert [e.layer for e in tree.history("/srv/dir/f2")] == [IDS[2]]
    assert tree.history("/etc/added1") == []  # deleted: not in the squashed view
    assert tree.history("/nowhere") == []


def test_history_restarts_after_a_deletion() -> None:
    layers = [
        layer_tar([("file", "a", b"0")]),
        layer_tar([("whiteout", "a")]),
        layer_tar([("file", "a", b"2")]),
        layer_tar([("file", "a", b"3")]),
    ]
    tree = tree_of(layers)
    assert [e.layer for e in tree.history("/a")] == layer_ids(layers)[2:]
    with_opaque = [layer_tar([("file", "d/a", b"0")]), layer_tar([("opaque", "d"), ("file", "d/a", b"1")])]
    assert [e.layer for e in tree_of(with_opaque).history("/d/a")] == layer_ids(with_opaque)[1:]


def test_non_utf8_member_names() -> None:
    name = b"etc/caf\xe9.conf".decode("utf-8", "surrogateescape")
    tree = tree_of([layer_tar([("file", name, b"latin-1 name")])])
    [info] = list(tree.files())
    assert info.path == "/" + name
    assert tree.read_bytes(info.path) == b"latin-1 name"


@pytest.mark.parametrize(
    ("cut", "expect_paths"),
    [
        pytest.param(512 + 100, set(), id="inside-first-file-data"),
        pytest.param(-1, None, id="end-marker-missing-a-byte"),
    ],
)
def test_truncated_layer_keeps_what_was_read(cut: int, expect_paths: set[str] | None) -> None:
    base = layer_tar([("file", "a", b"x" * 1000), ("file", "b", b"y" * 10), ("file", "c", b"z" * 10)])
    data = base[:cut] if cut >= 0 else base[: len(base) - 9000]
    tree = tree_of([LAYERS[0], data])
    assert tree.read_bytes("/etc/passwd") == IMAGE_PASSWD  # the whole layer below is intact
    assert tree.partial
    assert not tree.layers[1].complete and tree.layers[0].complete
    assert any("truncated" in r or "corrupt" in r for r in reasons(tree))


@pytest.mark.parametrize("cut", [1536 + 64, 2560 + 300], ids=["inside-second-header", "inside-third-header"])
def test_layer_cut_inside_a_header_is_reported(cut: int) -> None:
    base = layer_tar([("file", "a", b"x" * 1000), ("file", "b", b"y" * 10), ("file", "c", b"z" * 10)])
    tree = tree_of([base[:cut]])
    assert tree.read_bytes("/a") == b"x" * 1000
    assert tree.partial
    assert any("cut short inside a header" in r for r in reasons(tree))


def test_layer_with_a_garbled_header_is_reported() -> None:
    base = bytearray(layer_tar([("file", "a", b"x" * 1000), ("file", "b", b"y" * 10)]))
    base[1536 + 10 : 1536 + 20] = b"garbage!!!"
    tree = tree_of([bytes(base)])
    assert tree.read_bytes("/a") == b"x" * 1000
    assert tree.stat("/b") is None
    assert tree.partial and any("unreadable header" in r for r in reasons(tree))


def test_file_cut_short_reads_what_is_there() -> None:
    base = layer_tar([("file", "big", b"q" * 5000)])
    tree = tree_of([base[: 512 + 2000]])
    assert tree.partial
    assert any(r.startswith("/big: file is cut short") for r in reasons(tree))
    with tree.open("/big") as fh:
        assert fh.read() == b"q" * 2000


def test_empty_and_garbage_layers() -> None:
    tree = tree_of([LAYERS[0], b"", b"not a tar at all" * 100])
    assert tree.read_bytes("/etc/passwd") == IMAGE_PASSWD
    assert tree.partial and len(tree.warnings) == 2
    empty = tree_of([layer_tar([])])  # an empty layer (only the end-of-archive blocks) is fine
    assert not empty.partial and empty.warnings == []
