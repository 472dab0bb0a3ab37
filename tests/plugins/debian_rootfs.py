"""A real Debian bookworm minbase root filesystem made by debootstrap, cached between test runs.

The tree is built once into ``${THREATSTRYKER_TEST_CACHE:-~/.cache/threatstryker-tests}/debian-bookworm-minbase``
(into a temporary directory first, renamed into place when complete; a lock file keeps two xdist workers from
building it twice). Without debootstrap or the Debian mirror the tests that need it are skipped, unless
``CI=true``, where they fail.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SUITE = "bookworm"
NAME = f"debian-{SUITE}-minbase"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip the test (fail it under CI=true, where every real component must be there)."""
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def cache_dir() -> Path:
    """Where real test inputs that are slow to make are kept between runs."""
    base = os.environ.get("THREATSTRYKER_TEST_CACHE") or "~/.cache/threatstryker-tests"
    return Path(base).expanduser()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (created when missing), held for the block: one builder at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def apt_mirror() -> str:
    """The Debian mirror apt uses on this machine for the main archive (not the security one)."""
    override = os.environ.get("THREATSTRYKER_DEBIAN_MIRROR")
    if override:
        return override
    # deb822 .sources files: paragraphs with URIs: and Suites:
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        for para in text.split("\n\n"):
            fields: dict[str, str] = {}
            for line in para.splitlines():
                if line.startswith("#") or ":" not in line:
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            if SUITE in fields.get("suites", "").split():
                uris = fields.get("uris", "").split()
                if uris:
                    return uris[0]
    # one-line format: deb [options] URI SUITE COMPONENTS...
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        try:
            lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            words = line.split("#", 1)[0].split()
            if not words or words[0] != "deb":
                continue
            words = words[1:]
            if words and words[0].startswith("["):
                while words and not words[0].endswith("]"):
                    words = words[1:]
                words = words[1:]
            if len(words) >= 2 and words[1] == SUITE:
                return words[0]
    return DEFAULT_MIRROR


def ensure_tool(binary: str, package: str) -> str | None:
    """The path of ``binary``, installing the Debian ``package`` with apt-get when it is missing."""
    found = shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", package]
    if subprocess.run(cmd, env=env, capture_output=True, timeout=600).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        subprocess.run(cmd, env=env, capture_output=True, timeout=600)
    return shutil.which(binary) or shutil.which(binary, path="/usr/sbin:/sbin:/usr/bin:/bin")


def _unmount_below(path: str) -> None:
    """Lazily unmount whatever a failed debootstrap left mounted inside ``path`` (deepest first)."""
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mounts", encoding="utf-8") as fh:
            points = [line.split()[1].replace("\\040", " ") for line in fh]
    except OSError:
        return
    for point in sorted((p for p in points if p == real or p.startswith(real + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


def build_rootfs(dest: Path) -> tuple[bool, str]:
    """Build the root filesystem into ``dest`` (atomically); returns (ok, reason when not ok)."""
    if os.geteuid() != 0:
        return False, "debootstrap needs root"
    tool = ensure_tool("debootstrap", "debootstrap")
    if tool is None:
        return False, "debootstrap is not installed and apt-get could not install it"
    mirror = apt_mirror()
    work = Path(tempfile.mkdtemp(prefix=f".{NAME}-", dir=dest.parent))
    target = work / "rootfs"
    log = work / "debootstrap.log"
    try:
        with open(log, "wb") as out:
            proc = subprocess.run(
                [tool, "--variant=minbase", SUITE, str(target), mirror],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=900,
                env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            )
        if proc.returncode != 0 or not (target / "var/lib/dpkg/status").is_file():
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
            return False, f"debootstrap {SUITE} from {mirror} failed (exit {proc.returncode}): " + " | ".join(tail)
        _unmount_below(str(target))
        os.rename(target, dest)
        return True, ""
    except subprocess.TimeoutExpired:
        return False, f"debootstrap {SUITE} from {mirror} took more than 15 minutes"
    finally:
        _unmount_below(str(work))
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def debian_rootfs() -> Path:
    """A real Debian bookworm minbase root filesystem (read-only for tests: never write into it)."""
    cache = cache_dir()
    dest = cache / NAME
    if not (dest / "var/lib/dpkg/status").is_file():
        started = time.monotonic()
        with file_lock(cache / f"{NAME}.lock"):
            if not (dest / "var/lib/dpkg/status").is_file():
                if dest.exists():  # an incomplete tree from an older, interrupted scheme: rebuild it
                    shutil.rmtree(dest, ignore_errors=True)
                ok, reason = build_rootfs(dest)
                if not ok:
                    unavailable(f"no Debian root filesystem: {reason}")
                print(f"debian_rootfs: built {dest} in {time.monotonic() - started:.1f}s")
    return dest
