"""A real Docker Engine for the tests, and real images of the Debian root filesystem made with it.

``docker_engine`` starts ``dockerd`` with its own data root, exec root and unix socket in a temporary
directory (no bridge, no iptables) and stops it by its PID at the end of the session. ``debian_image`` imports
the debootstrap root filesystem as ``localhost/debian:test`` and builds ``localhost/debian:layered`` on it with
the legacy builder, so that the image has several layers: the second installs a deb package and deletes and
adds files, the third deletes a file of the second and recreates a directory (an opaque directory).
``debian_docker_archive`` (docker save) and ``debian_oci_layout`` (skopeo copy) are cached beside the root
filesystem. Images are always named ``localhost/...``: Docker Hub is never contacted.

Without dockerd the tests that need it are skipped, unless ``CI=true``, where they fail.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.plugins.debian_rootfs import _unmount_below, cache_dir, ensure_tool, file_lock, unavailable

IMAGE = "localhost/debian:layered"
BASE_IMAGE = "localhost/debian:test"
#: The deb package the second layer of IMAGE installs (it is not in the debootstrap root filesystem).
LAYER_PACKAGE = ("threatstryker-layer-test", "1.0-1")

DOCKERFILE = f"""\
FROM {BASE_IMAGE}
RUN set -e; mkdir -p /tmp/pkg/DEBIAN /tmp/pkg/usr/share/{LAYER_PACKAGE[0]}; \\
    printf 'Package: {LAYER_PACKAGE[0]}\\nVersion: {LAYER_PACKAGE[1]}\\nArchitecture: all\\n\
Maintainer: ThreatStryker tests <tests@example.invalid>\\nDescription: installed by the second layer\\n' \\
      > /tmp/pkg/DEBIAN/control; \\
    echo layer-1 > /tmp/pkg/usr/share/{LAYER_PACKAGE[0]}/README; \\
    dpkg-deb --root-owner-group --build /tmp/pkg /tmp/layer-test.deb >/dev/null; \\
    dpkg -i /tmp/layer-test.deb >/dev/null; rm -rf /tmp/pkg /tmp/layer-test.deb; \\
    rm -rf /usr/share/doc/bash; echo added-by-layer-1 > /etc/threatstryker-layer1
RUN set -e; rm /etc/threatstryker-layer1; echo added-by-layer-2 > /etc/threatstryker-layer2; \\
    rm -rf /etc/apt/apt.conf.d; mkdir /etc/apt/apt.conf.d; echo '// layer 2' > /etc/apt/apt.conf.d/99threatstryker
"""


@dataclass
class DockerEngine:
    """A dockerd of this test session: its socket, and ``run``/``docker`` helpers for its CLI."""

    home: Path
    socket: Path
    pid: int
    client: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def run(self, *args: str, input: bytes | None = None, timeout: float = 300, check: bool = True,
            **kw: object) -> subprocess.CompletedProcess[str]:
        """``docker -H unix://SOCK ARGS...``; raises with the command's stderr when it fails and ``check``."""
        proc = subprocess.run([self.client, "-H", self.host, *args], input=input, capture_output=True,
                              timeout=timeout, env=self.env, **kw)  # type: ignore[call-overload]
        out = proc.stdout.decode("utf-8", "replace") if isinstance(proc.stdout, bytes) else proc.stdout
        err = proc.stderr.decode("utf-8", "replace") if isinstance(proc.stderr, bytes) else proc.stderr
        result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        if check and proc.returncode != 0:
            raise RuntimeError(f"docker {' '.join(args)} failed ({proc.returncode}): {err.strip()[-2000:]}")
        return result

    def docker(self, *args: str, **kw: object) -> str:
        """stdout of ``docker ARGS...``, stripped."""
        return self.run(*args, **kw).stdout.strip()  # type: ignore[arg-type]


def _client() -> str | None:
    # the CLI that ships with the daemon (docker.io) first: its API version matches
    for path in ("/usr/bin/docker",):
        if os.access(path, os.X_OK):
            return path
    return shutil.which("docker")


def _stop(pid: int, proc: subprocess.Popen[bytes] | None, grace: float = 20) -> None:
    """SIGTERM the process ``pid`` (one we started), then SIGKILL it after ``grace`` seconds."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return
        else:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    if proc is not None:
        proc.wait(timeout=10)


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A real dockerd on a private unix socket, stopped by its PID when the session ends."""
    if os.geteuid() != 0:
        unavailable("dockerd needs root")
    dockerd = ensure_tool("dockerd", "docker.io")
    client = _client() if dockerd else None
    if dockerd is None or client is None:
        unavailable("dockerd is not installed and apt-get could not install docker.io")
    assert dockerd is not None and client is not None
    home = Path(tempfile.mkdtemp(prefix="ts-dockerd-", dir="/tmp"))  # short: unix socket paths are limited
    sock = home / "docker.sock"
    (home / "config").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env.update(DOCKER_BUILDKIT="0", DOCKER_CONFIG=str(home / "config"))
    log = open(home / "dockerd.log", "wb")
    started = time.monotonic()
    proc = subprocess.Popen(
        [dockerd, "--data-root", str(home / "root"), "--exec-root", str(home / "exec"), "-H", f"unix://{sock}",
         "--pidfile", str(home / "dockerd.pid"), "--bridge=none", "--iptables=false", "--ip6tables=false"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
    )
    engine = DockerEngine(home, sock, proc.pid, client, env)
    try:
        ready = False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if sock.exists() and engine.run("version", check=False, timeout=30).returncode == 0:
                ready = True
                break
            time.sleep(0.05)
        if not ready:
            tail = (home / "dockerd.log").read_text(errors="replace").strip().splitlines()[-3:]
            unavailable(f"dockerd did not start (exit {proc.poll()}): " + " | ".join(tail))
        print(f"docker_engine: dockerd {proc.pid} ready in {time.monotonic() - started:.2f}s")
        yield engine
    finally:
        if proc.poll() is None and sock.exists():
            ids = engine.run("ps", "-aq", check=False, timeout=60).stdout.split()
            if ids:
                engine.run("rm", "-f", *ids, check=False, timeout=120)
        containerd_pid = _read_pid(home / "exec" / "containerd" / "containerd.pid")
        _stop(proc.pid, proc)
        if containerd_pid is not None:  # the containerd dockerd started; gone after a clean shutdown
            try:
                os.kill(containerd_pid, 0)
            except ProcessLookupError:
                pass
            else:
                _stop(containerd_pid, None, grace=5)
        log.close()
        _unmount_below(str(home))
        shutil.rmtree(home, ignore_errors=True)


def _cache_key(rootfs: Path) -> str:
    st = (rootfs / "var/lib/dpkg/status").stat()
    return hashlib.sha256(f"{DOCKERFILE}\0{st.st_mtime_ns}\0{st.st_size}".encode()).hexdigest()[:12]


def _cached_archive(rootfs: Path) -> Path:
    return cache_dir() / f"debian-layered-{_cache_key(rootfs)}.docker.tar"


def _drop_stale(keep: Path) -> None:
    for old in keep.parent.glob("debian-layered-*"):
        if not old.name.startswith(keep.name.split(".", 1)[0]):
            if old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)


@dataclass
class DebianImage:
    """The layered Debian image in ``engine``: its reference and its layers' diff ids, bottom first."""

    engine: DockerEngine
    ref: str
    image_id: str
    layers: list[str]


def _build_image(engine: DockerEngine, rootfs: Path) -> None:
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
    try:
        engine.run("import", "-", BASE_IMAGE, stdin=tar.stdout, timeout=600)
    finally:
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
    with tempfile.TemporaryDirectory(prefix="ts-build-") as ctx:
        Path(ctx, "Dockerfile").write_text(DOCKERFILE)
        engine.run("build", "--network", "none", "-q", "-t", IMAGE, ctx, timeout=600)


@pytest.fixture(scope="session")
def debian_image(docker_engine: DockerEngine, debian_rootfs: Path) -> DebianImage:
    """``localhost/debian:layered`` in the session's dockerd (loaded from the cached archive when there)."""
    cached = _cached_archive(debian_rootfs)
    started = time.monotonic()
    if cached.is_file():
        docker_engine.run("load", "-q", "-i", str(cached), timeout=600)
        how = "loaded"
    else:
        _build_image(docker_engine, debian_rootfs)
        how = "built"
    image_id = docker_engine.docker("image", "inspect", "-f", "{{.Id}}", IMAGE)
    layers = docker_engine.docker("image", "inspect", "-f", "{{range .RootFS.Layers}}{{.}} {{end}}", IMAGE).split()
    print(f"debian_image: {how} {IMAGE} ({len(layers)} layers) in {time.monotonic() - started:.1f}s")
    return DebianImage(docker_engine, IMAGE, image_id, layers)


@pytest.fixture(scope="session")
def debian_docker_archive(request: pytest.FixtureRequest, debian_rootfs: Path) -> Path:
    """``docker save`` of the layered image (cached; needs no dockerd once cached). Read-only for tests."""
    cached = _cached_archive(debian_rootfs)
    if cached.is_file():
        return cached
    image: DebianImage = request.getfixturevalue("debian_image")
    with file_lock(cache_dir() / "debian-layered.lock"):
        if not cached.is_file():
            started = time.monotonic()
            tmp = cached.with_name(f".{cached.name}.{uuid.uuid4().hex[:8]}")
            try:
                image.engine.run("save", "-o", str(tmp), image.ref, timeout=600)
                os.rename(tmp, cached)
            finally:
                tmp.unlink(missing_ok=True)
            _drop_stale(cached)
            print(f"debian_docker_archive: saved {cached} in {time.monotonic() - started:.1f}s")
    return cached


@pytest.fixture(scope="session")
def debian_oci_layout(debian_docker_archive: Path) -> Path:
    """An OCI image layout (gzip layers) of the layered image made by skopeo from the docker archive, cached.

    Its single manifest is tagged ``layered``. Read-only for tests.
    """
    layout = debian_docker_archive.with_name(debian_docker_archive.name.replace(".docker.tar", ".oci"))
    if (layout / "index.json").is_file():
        return layout
    skopeo = ensure_tool("skopeo", "skopeo")
    if skopeo is None:
        unavailable("skopeo is not installed and apt-get could not install it")
    assert skopeo is not None
    with file_lock(cache_dir() / "debian-layered.lock"):
        if not (layout / "index.json").is_file():
            started = time.monotonic()
            tmp = layout.with_name(f".{layout.name}.{uuid.uuid4().hex[:8]}")
            try:
                proc = subprocess.run(
                    [skopeo, "--insecure-policy", "copy", "-q", f"docker-archive:{debian_docker_archive}",
                     f"oci:{tmp}:layered"],
                    capture_output=True, text=True, timeout=600,
                )
                if proc.returncode != 0:
                    raise RuntimeError(f"skopeo copy failed: {proc.stderr.strip()[-2000:]}")
                os.rename(tmp, layout)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            print(f"debian_oci_layout: wrote {layout} in {time.monotonic() - started:.1f}s")
    return layout


@dataclass
class RunningContainer:
    """A running container of the layered image: its id and the host PID of its process."""

    id: str
    pid: int
    image: DebianImage


@pytest.fixture(scope="session")
def running_container(debian_image: DebianImage) -> Iterator[RunningContainer]:
    """``docker run -d --network none localhost/debian:layered sleep``: yields its PID; removed after."""
    engine = debian_image.engine
    name = f"ts-test-{uuid.uuid4().hex[:8]}"
    cid = engine.docker("run", "-d", "--network", "none", "--name", name, debian_image.ref, "sleep", "3600")
    try:
        pid = int(engine.docker("inspect", "-f", "{{.State.Pid}}", cid))
        yield RunningContainer(cid, pid, debian_image)
    finally:
        engine.run("rm", "-f", cid, check=False, timeout=120)
