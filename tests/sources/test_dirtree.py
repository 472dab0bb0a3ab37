"""DirTree over real files: confinement of symlinks, loops, FIFOs and devices, unreadable and huge files,
non-UTF-8 names, mounts, and the host's own root."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from threatstryker.model import Sbom
from threatstryker.sbom.api import scan_sbom
from threatstryker.sources import FileTooLarge, FileTreeError, open_target
from threatstryker.sources.dirtree import PSEUDO_ROOT_DIRS, DirTree
from threatstryker.sources.filetree import FILE, OTHER, FileInfo, PathMatcher

REPO = Path(__file__).resolve().parents[2]
TREE_PASSWD = b"root:x:0:0:tree root, not the host's:/root:/bin/sh\n"
STATUS = b"""Package: alpha
Status: install ok installed
Version: 1.0-1
Architecture: amd64

Package: beta
Status: install ok installed
Version: 2.0-1
Architecture: all
"""


def within(seconds: float, fn: Callable[[], object]) -> object:
    """Run ``fn`` in a daemon thread; fail (instead of hanging the suite) if it has not returned in time."""
    box: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still blocked after {seconds}s"
    if errors:
        raise errors[0]
    return box[0]


def write(root: Path, rel: str, data: bytes = b"", mode: int = 0o644) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path


def reasons(warnings: list) -> list[str]:
    return [f"{w.path}: {w.reason}" for w in warnings]


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    write(r, "etc/passwd", TREE_PASSWD)
    write(r, "etc/os-release", b'ID=debian\nVERSION_ID="12"\n')
    write(r, "usr/lib/x86_64-linux-gnu/libz.so.1", b"\x7fELF lib")
    write(r, "usr/bin/prog", b"#!/bin/sh\n", 0o755)
    (r / "lib").symlink_to("usr/lib")  # merged /usr
    (r / "etc/abs").symlink_to("/etc/passwd")  # absolute: must mean <root>/etc/passwd
    (r / "etc/rel").symlink_to("../etc/passwd")
    (r / "etc/escape").symlink_to("../../../../../../../../etc/passwd")
    (r / "etc/absdir").symlink_to("/../../../etc")
    (r / "etc/hostonly").symlink_to("/usr/share/common-licenses")  # on the host, not in the tree
    (r / "loop1").symlink_to("loop2")
    (r / "loop2").symlink_to("/loop1")
    (r / "self").symlink_to("self")
    return r


def test_absolute_symlinks_point_into_the_tree(root: Path) -> None:
    tree = DirTree(str(root))
    assert tree.read_bytes("/etc/abs") == TREE_PASSWD
    assert tree.read_bytes("/etc/rel") == TREE_PASSWD
    assert tree.read_bytes("/lib/x86_64-linux-gnu/libz.so.1") == b"\x7fELF lib"
    assert tree.resolve("/lib/x86_64-linux-gnu") == "/usr/lib/x86_64-linux-gnu"
    info = tree.stat("/etc/abs")
    assert info is not None and info.kind == FILE and info.path == "/etc/passwd"
    assert tree.stat("/etc/abs", follow=False).link == "/etc/passwd"
    assert tree.stat("/etc/hostonly") is None  # the host has it; the tree does not
    with pytest.raises(FileTreeError, match="no such file"):
        tree.open("/etc/hostonly")


def test_dotdot_clamps_at_the_root_with_a_warning(root: Path) -> None:
    tree = DirTree(str(root))
    assert tree.resolve("/etc/escape") == "/etc/passwd"
    assert tree.read_bytes("/etc/escape") == TREE_PASSWD
    assert tree.read_bytes("/etc/absdir/passwd") == TREE_PASSWD
    assert tree.resolve("/../../../etc/passwd") == "/etc/passwd"
    warned = reasons(tree.warnings)
    assert any(w.startswith("/etc/escape: symlink target") and "climbs above the root" in w for w in warned)


def test_symlink_loops_warn_and_do_not_hang(root: Path) -> None:
    tree = DirTree(str(root))
    assert within(10, lambda: tree.stat("/loop1")) is None
    assert within(10, lambda: tree.stat("/self/x")) is None
    with pytest.raises(FileTreeError, match="loop"):
        within(10, lambda: tree.open("/loop2"))
    warned = reasons(tree.warnings)
    assert any(w.startswith("/loop1:") and "symlink loop" in w for w in warned)
    assert any(w.startswith("/self/x:") and "symlink loop" in w for w in warned)
    # walking the tree does not follow links at all
    kinds = {e.path: e.kind for e in within(30, lambda: list(tree.entries()))}
    assert kinds["/loop1"] == "symlink" and kinds["/self"] == "symlink"


def test_fifos_and_devices_never_block_and_are_not_regular_files(root: Path) -> None:
    os.mkfifo(root / "etc/fifo")
    (root / "var/lib/dpkg").mkdir(parents=True)
    os.mkfifo(root / "var/lib/dpkg/status")  # a path the dpkg cataloger claims
    os.mknod(root / "etc/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    tree = DirTree(str(root))
    for path in ("/etc/fifo", "/etc/null"):
        info = tree.stat(path)
        assert info is not None and info.kind == OTHER
        with pytest.raises(FileTreeError, match="not a regular file"):
            within(10, lambda p=path: tree.open(p))
    # an entry listed as a file that became a FIFO in between: opened without blocking, then refused
    with pytest.raises(FileTreeError, match="not a regular file"):
        within(10, lambda: tree._open_entry(FileInfo("/etc/fifo", FILE)))
    assert {"/etc/fifo", "/etc/null"}.isdisjoint(i.path for i in tree.files())
    sbom: Sbom = within(60, lambda: scan_sbom(f"dir:{root}", catalogers=["dpkg"]))  # type: ignore[assignment]
    assert sbom.packages == []
    assert "/var/lib/dpkg/status: not a regular file (FIFO); not read" in reasons(sbom.warnings)


def _run_as_nobody(code: str) -> dict:
    """Run ``code`` in a child Python that drops to user nobody after its imports; returns its JSON output.

    runuser/setpriv cannot exec this venv's interpreter as nobody (it lives under /root, mode 700), so the
    child starts as root, imports what it needs, then calls setgroups/setgid/setuid itself before ``code``.
    """
    prelude = (
        "import json, os, resource, sys\n"
        "from threatstryker.sbom.catalog import catalog_tree\n"
        "from threatstryker.sbom.catalogers import dpkg\n"
        "from threatstryker.sources import open_target, FileTreeError\n"
        "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
        "assert os.geteuid() == 65534\n"
    )
    proc = subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120,
                          cwd="/")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create files only root can read")
def test_unreadable_files_and_directories_are_warnings() -> None:
    # under /tmp with search permission for everyone, so that only the chmod'ed parts are out of reach
    base = Path(tempfile.mkdtemp(prefix="ts-unreadable-"))
    try:
        base.chmod(0o755)
        root = base / "root"
        write(root, "etc/os-release", b'ID=debian\nVERSION_ID="12"\n')
        write(root, "var/lib/dpkg/status", STATUS, 0o000)  # claimed by dpkg, unreadable
        write(root, "secret/inner/var/lib/dpkg/status", STATUS)
        (root / "secret").chmod(0o700)  # a directory nobody cannot enter
        for d in (root, root / "etc", root / "var", root / "var/lib", root / "var/lib/dpkg"):
            d.chmod(0o755)
        out = _run_as_nobody(
            f"root = {str(root)!r}\n"
            "with open_target('dir:' + root) as t:\n"
            "    sbom = catalog_tree(t.tree, t.info, [dpkg.CATALOGER])\n"
            "    try:\n"
            "        t.tree.read_bytes('/var/lib/dpkg/status'); err = ''\n"
            "    except FileTreeError as exc:\n"
            "        err = str(exc)\n"
            "print(json.dumps({'packages': len(sbom.packages), 'err': err,\n"
            "                  'warnings': [f'{w.path}: {w.reason}' for w in sbom.warnings]}))\n"
        )
    finally:
        (base / "root/secret").chmod(0o755)
        subprocess.run(["rm", "-rf", str(base)], check=False)
    assert out["packages"] == 0
    assert out["err"] == "/var/lib/dpkg/status: Permission denied"
    assert "/var/lib/dpkg/status: dpkg-status: /var/lib/dpkg/status: Permission denied" in out["warnings"]
    assert "/secret: permission denied (directory skipped)" in out["warnings"]


HUGE = 5 * 1024**3


@pytest.fixture()
def huge_root(tmp_path: Path) -> Path:
    r = tmp_path / "huge"
    status = write(r, "var/lib/dpkg/status", b"")
    os.truncate(status, HUGE)  # sparse: 5 GiB long, no disk blocks
    write(r, "data/blob.bin", b"")
    os.truncate(r / "data/blob.bin", HUGE)
    with open(r / "data/blob.bin", "r+b") as fh:
        fh.seek(HUGE - 4)
        fh.write(b"tail")
    return r


def test_huge_files_are_streamed_not_read_whole(huge_root: Path) -> None:
    tree = DirTree(str(huge_root))
    with pytest.raises(FileTooLarge, match="larger than the"):
        tree.read_bytes("/data/blob.bin")
    with tree.open("/data/blob.bin") as fh:
        assert fh.read(4) == b"\0\0\0\0"
        fh.seek(HUGE - 4)
        assert fh.read() == b"tail"
    assert tree.stat("/data/blob.bin").size == HUGE


def test_huge_claimed_file_is_a_warning_and_memory_stays_low(huge_root: Path) -> None:
    code = (
        f"root = {str(huge_root)!r}\n"
        "from threatstryker.sbom.api import scan_sbom\n"
        "from threatstryker.sbom.catalogers import select_catalogers\n"
        "select_catalogers(None)  # every module imported before the baseline\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024\n"
        "sbom = scan_sbom('dir:' + root, catalogers=['dpkg'])\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024\n"
        "print(json.dumps({'base_mib': base, 'rss_mib': rss, 'packages': len(sbom.packages),\n"
        "                  'warnings': [f'{w.path}: {w.reason}' for w in sbom.warnings]}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", "import json, resource\n" + code], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["packages"] == 0
    assert any(w.startswith("/var/lib/dpkg/status: dpkg-status:") and "read limit" in w for w in out["warnings"])
    # the peak grows by at most the 64 MiB read cap (ParseContext.read_bytes reads up to it before refusing),
    # never by anything near the 5 GiB of the file
    assert out["rss_mib"] - out["base_mib"] < 100, out


def test_non_utf8_names(tmp_path: Path) -> None:
    root = tmp_path / "names"
    root.mkdir()
    broot = os.fsencode(root)
    fd = os.open(broot + b"/caf\xe9.txt", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"latin-1 name")
    os.close(fd)
    os.makedirs(broot + b"/\xff\xfe/var/lib/dpkg")
    fd = os.open(broot + b"/\xff\xfe/var/lib/dpkg/status", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, STATUS)
    os.close(fd)
    tree = DirTree(str(root))
    paths = {e.path for e in tree.entries()}
    name = "/" + b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    assert name in paths
    assert tree.read_bytes(name) == b"latin-1 name"  # the real bytes name is opened
    assert any(w.startswith("/caf\ufffd.txt: file name is not valid UTF-8") for w in reasons(tree.warnings))
    sbom = scan_sbom(f"dir:{root}", catalogers=["dpkg"])
    assert sorted(p.name for p in sbom.packages) == ["alpha", "beta"]
    assert sbom.packages[0].locations[0].path == "/\ufffd\ufffd/var/lib/dpkg/status"
    json.dumps([p.locations[0].to_dict() for p in sbom.packages] + [w.to_dict() for w in sbom.warnings])


def test_listdir_glob_select_and_exclude(root: Path) -> None:
    write(root, "app/node_modules/x/package.json", b"{}")
    tree = DirTree(str(root), exclude=["**/node_modules"])
    assert sorted(e.name for e in tree.listdir("/usr")) == ["bin", "lib"]
    assert sorted(e.name for e in tree.listdir("/lib")) == ["x86_64-linux-gnu"]  # through the link
    assert [i.path for i in tree.glob("**/package.json")] == []
    assert [i.path for i in tree.glob("/etc/os-*")] == ["/etc/os-release"]
    got = {i.path: hits for i, hits in tree.select(PathMatcher([("**/etc/passwd", "p")]), executables=True)}
    # binary candidates: executables, and shared libraries even without an execute bit
    assert got == {"/etc/passwd": ["p"], "/usr/bin/prog": [], "/usr/lib/x86_64-linux-gnu/libz.so.1": []}


@pytest.fixture()
def mounted(tmp_path: Path) -> Iterator[Path]:
    """A tree with a tmpfs mounted at mnt/other (another file system below the root)."""
    root = tmp_path / "mroot"
    write(root, "etc/os-release", b"ID=debian\n")
    (root / "mnt/other").mkdir(parents=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root / "mnt/other")],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        write(root, "mnt/other/var/lib/dpkg/status", STATUS)
        yield root
    finally:
        subprocess.run(["umount", str(root / "mnt/other")], check=True)


def test_mounts_are_not_crossed_unless_asked(mounted: Path) -> None:
    with open_target(f"rootfs:{mounted}") as t:
        paths = {e.path for e in t.tree.entries()}
    assert "/etc/os-release" in paths
    assert not any(p.startswith("/mnt/other/") for p in paths)
    assert scan_sbom(f"rootfs:{mounted}", catalogers=["dpkg"]).packages == []
    crossed = scan_sbom(f"rootfs:{mounted}", catalogers=["dpkg"], cross_mounts=True)
    assert sorted(p.name for p in crossed.packages) == ["alpha", "beta"]


def test_host_root_skips_pseudo_filesystems_and_other_mounts() -> None:
    """rootfs:/ of this host, limited to the top-level directories that lead to a mount point (and etc)."""
    with open("/proc/self/mounts", encoding="utf-8") as fh:
        points = {line.split()[1].replace("\\040", " ") for line in fh} - {"/"}
    keep = {"etc"} | {p.split("/")[1] for p in points}
    exclude = ["/" + name for name in os.listdir("/") if name not in keep]
    with open_target("rootfs:/", exclude=exclude) as t:
        assert t.info.scheme == "rootfs"
        paths = [e.path for e in t.tree.entries()]
    assert "/etc/os-release" in paths
    for pseudo in PSEUDO_ROOT_DIRS:
        assert not any(p.startswith(pseudo + "/") for p in paths), pseudo
    for point in points:
        assert not any(p.startswith(point.rstrip("/") + "/") for p in paths), point


def test_rootfs_scheme_skips_proc_sys_dev(tmp_path: Path) -> None:
    root = tmp_path / "rfs"
    for d in PSEUDO_ROOT_DIRS:
        write(root, d.lstrip("/") + "/junk/var/lib/dpkg/status", STATUS)
    write(root, "etc/os-release", b'ID=debian\nVERSION_ID="12"\n')
    assert scan_sbom(f"rootfs:{root}", catalogers=["dpkg"]).packages == []
    found = scan_sbom(f"dir:{root}", catalogers=["dpkg"]).packages
    assert sorted(loc.path for p in found for loc in p.locations if p.name == "alpha") == [
        f"{d}/junk/var/lib/dpkg/status" for d in sorted(PSEUDO_ROOT_DIRS)
    ]


def test_exclude_prunes_directories_and_files(tmp_path: Path) -> None:
    for rel in ("keep/a.txt", "skipme/deep/b.txt", "other/c.txt", "other/d.log"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    tree = DirTree(str(tmp_path), exclude=["/skipme/**", "/other/c.txt", "**/*.log"])
    assert sorted(i.path for i in tree.files()) == ["/keep/a.txt"]


def test_bind_mount_of_the_same_file_system_is_not_crossed(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mount --bind needs root")
    (tmp_path / "data").mkdir()
    (tmp_path / "data/inside.txt").write_text("x")
    (tmp_path / "root/mnt/bound").mkdir(parents=True)
    (tmp_path / "root/own.txt").write_text("y")
    target = tmp_path / "root/mnt/bound"
    proc = subprocess.run(["mount", "--bind", str(tmp_path / "data"), str(target)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"mount --bind is not permitted here: {proc.stderr.strip()}")
    try:
        assert os.stat(target).st_dev == os.stat(tmp_path).st_dev  # same device: only mountinfo tells
        paths = {e.path for e in DirTree(str(tmp_path / "root")).entries()}
        assert "/own.txt" in paths and "/mnt/bound/inside.txt" not in paths
        matcher = PathMatcher([("**/*.txt", "t")])
        selected = {i.path for i, _ in DirTree(str(tmp_path / "root")).select(matcher)}
        assert selected == {"/own.txt"}
        crossed = {e.path for e in DirTree(str(tmp_path / "root"), cross_mounts=True).entries()}
        assert "/mnt/bound/inside.txt" in crossed
    finally:
        subprocess.run(["umount", str(target)], check=True)
