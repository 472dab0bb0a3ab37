"""The secret scan of a tree with the real engine and a small rule file: directories, binaries, lockfiles,
archives, image layers, parallel runs, timeouts, progress, and the clear value never kept."""

from __future__ import annotations

import codecs
import io
import json
import multiprocessing
import os
import random
import string
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from tests.sources.imagekit import docker_archive, layer_ids, layer_tar
from threatstryker.filescan import pool
from threatstryker.model.finding import secret_hash
from threatstryker.secrets import scanner
from threatstryker.secrets.engine import SecretEngine
from threatstryker.secrets.ruleset import load_ruleset
from threatstryker.secrets.scanner import (
    SecretScanOptions,
    SecretScanResult,
    engine_payload,
    rebuild_engine,
    scan_tree,
    worth_processes,
)
from threatstryker.sources.dirtree import DirTree
from threatstryker.sources.target import open_target

RULES = """\
family: test
rules:
  - id: test-token
    description: Test service token
    severity: high
    confidence: high
    keywords: [tstk_]
    regex: '\\b(tstk_[A-Za-z0-9]{24})\\b'
files:
  - id: test-ssh-key-file
    description: SSH private key file
    severity: high
    confidence: medium
    paths: ["**/id_rsa"]
"""
#: A rule whose Python regex backtracks exponentially on a run of "a" not followed by "b" (Hyperscan, which
#: picks candidate rules, matches it in linear time and says yes as soon as the file has "ab" somewhere).
SLOW_RULES = """\
family: slow
rules:
  - id: slow-rule
    description: Catastrophic backtracking
    severity: low
    confidence: low
    regex: '((?:a+)+b)'
"""


def token(i: int) -> str:
    rng = random.Random(i)
    return "tstk_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(24))


def make_engine(directory: Path, *texts: str) -> SecretEngine:
    for i, text in enumerate(texts):
        (directory / f"rules{i}.yaml").write_text(text)
    return SecretEngine(load_ruleset([directory], replace_builtin=True), cache=False)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> SecretEngine:
    return make_engine(tmp_path_factory.mktemp("rules"), RULES)


@pytest.fixture(scope="module")
def slow_engine(tmp_path_factory: pytest.TempPathFactory) -> SecretEngine:
    return make_engine(tmp_path_factory.mktemp("slow-rules"), RULES, SLOW_RULES)


def zip_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tgz_of(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def project(root: Path) -> Path:
    """A directory holding secrets in every place the scanner must look or skip."""
    (root / "src").mkdir(parents=True)
    (root / "keys").mkdir()
    (root / "bin").mkdir()
    (root / ".env").write_text(f"# settings\nAPI={token(0)}\n")
    (root / "src" / "app.py").write_text(f'import os\nclient = Client("{token(1)}")\n')
    (root / "bin" / "tool").write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 57 + token(2).encode() + b"\x00" * 64)
    (root / "package-lock.json").write_text(json.dumps({"resolved": token(3)}))
    inner_jar = zip_of({"secret.properties": f"key={token(5)}\n".encode()})
    (root / "bundle.zip").write_bytes(zip_of({"conf/app.ini": f"[a]\nk = {token(4)}\n".encode(),
                                              "lib/inner.jar": inner_jar}))
    (root / "backup.tar.gz").write_bytes(tgz_of({"etc/app.conf": f"token: {token(6)}\n".encode()}))
    deep = zip_of({"l4.txt": f"{token(7)}\n".encode()})
    for level in (3, 2, 1):
        deep = zip_of({f"l{level + 1}.zip": deep})
    (root / "deep.zip").write_bytes(deep)
    (root / "corrupt.zip").write_bytes(b"PK\x03\x04" + b"\x13\x37" * 300)
    (root / "huge.txt").write_text(f"{token(8)}\n" + "x" * 300_000)
    (root / "keys" / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (root / "utf16.txt").write_bytes(codecs.BOM_UTF16_LE + f"a\nb\nsecret={token(9)}\n".encode("utf-16-le"))
    os.mkfifo(root / "pipe")
    os.symlink("loop-b", root / "loop-a")
    os.symlink("loop-a", root / "loop-b")
    return root


def where(result: SecretScanResult) -> set[tuple[str, int, str]]:
    return {(f.path, f.line, f.preview) for f in result.findings}


def reasons(result: SecretScanResult) -> list[str]:
    return [str(w) for w in result.warnings]


OPTIONS = SecretScanOptions(max_file_size=256 * 1024, workers=1)


def test_directory_scan_finds_what_it_should_and_skips_the_rest(tmp_path: Path, engine: SecretEngine) -> None:
    result = scan_tree(DirTree(str(project(tmp_path / "p"))), engine, OPTIONS)
    by_path = {f.path: f for f in result.findings}
    assert set(by_path) == {
        "/.env", "/src/app.py", "/bundle.zip:conf/app.ini", "/bundle.zip:lib/inner.jar:secret.properties",
        "/backup.tar.gz:etc/app.conf", "/utf16.txt", "/keys/id_rsa",
    }
    env = by_path["/.env"]
    assert (env.id, env.line, env.column, env.severity, env.confidence) == ("test-token", 2, 5, "high", "high")
    assert env.preview == "tstk***" and env.secret_sha256 == secret_hash(token(0))
    assert env.present and env.layer is None and env.commit is None
    assert by_path["/src/app.py"].line == 2
    assert by_path["/bundle.zip:lib/inner.jar:secret.properties"].secret_sha256 == secret_hash(token(5))
    assert by_path["/utf16.txt"].line == 3
    key_file = by_path["/keys/id_rsa"]
    assert (key_file.id, key_file.line, key_file.preview, key_file.secret_sha256) == ("test-ssh-key-file", 0, "", "")
    warned = reasons(result)
    assert "/deep.zip:l2.zip:l3.zip:l4.zip: archive nested more than 3 levels deep; not opened" in warned
    assert any(w.startswith("/corrupt.zip: not a readable zip archive (") for w in warned)
    assert f"/huge.txt: {300_000 + 30} bytes, larger than the 262144-byte cap; not scanned" in warned
    assert "/pipe: not a regular file (FIFO); not read" in warned
    assert len(warned) == 4
    stats = result.stats
    assert (stats.lockfiles, stats.binary_skipped, stats.too_large, stats.strings_scanned) == (1, 1, 1, 0)
    assert (stats.archives, stats.archive_members) == (7, 3) and not result.partial  # corrupt.zip counts


def test_binaries_option_scans_printable_strings(tmp_path: Path, engine: SecretEngine) -> None:
    root = project(tmp_path / "p")
    options = SecretScanOptions(max_file_size=256 * 1024, workers=1, binaries=True)
    result = scan_tree(DirTree(str(root)), engine, options)
    [found] = [f for f in result.findings if f.path == "/bin/tool"]
    offset = (root / "bin" / "tool").read_bytes().index(token(2).encode())
    assert (found.line, found.column, found.metadata["offset"]) == (0, offset + 1, offset)
    assert found.secret_sha256 == secret_hash(token(2))
    assert result.stats.strings_scanned == 1


def test_the_clear_value_is_never_kept(tmp_path: Path, engine: SecretEngine) -> None:
    result = scan_tree(DirTree(str(project(tmp_path / "p"))), engine, OPTIONS)
    dumped = json.dumps({
        "findings": [f.to_dict() for f in result.findings], "warnings": reasons(result),
        "stats": result.stats.to_dict(), "repr": repr(result),
    })
    assert result.findings
    for i in range(10):
        assert token(i) not in dumped and token(i)[5:] not in dumped


def test_image_layers_secret_deleted_by_a_later_layer(tmp_path: Path, engine: SecretEngine) -> None:
    layers = [
        layer_tar([("dir", "etc"), ("file", "etc/os-release", b"ID=debian\n"), ("dir", "app"),
                   ("file", "app/main.py", b"print(1)\n")]),
        layer_tar([("file", "app/.env", f"TOKEN={token(20)}\n".encode()),
                   ("file", "app/settings.py", f"KEY = '{token(21)}'\n".encode())]),
        layer_tar([("whiteout", "app/.env"),
                   ("file", "app/settings.py", f"KEY = '{token(21)}'\n# edited in layer 3\n".encode())]),
    ]
    ids = layer_ids(layers)
    image = docker_archive(tmp_path / "image.tar", layers)
    with open_target(f"docker-archive:{image}") as target:
        assert target.tree is not None
        result = scan_tree(target.tree, engine, SecretScanOptions(workers=1))
    by_path = {f.path: f for f in result.findings}
    assert set(by_path) == {"/app/.env", "/app/settings.py"}
    deleted = by_path["/app/.env"]
    assert (deleted.present, deleted.layer, deleted.line) == (False, ids[1], 1)
    assert deleted.secret_sha256 == secret_hash(token(20))
    kept = by_path["/app/settings.py"]
    assert (kept.present, kept.layer) == (True, ids[2])
    assert kept.metadata["layers"] == [ids[1], ids[2]]  # the secret was already in layer 2's version
    assert result.stats.hidden_versions == 2 and result.warnings == []


def test_parallel_and_serial_scans_agree(tmp_path: Path, engine: SecretEngine) -> None:
    root = project(tmp_path / "p")
    for i in range(40):
        (root / "src" / f"mod{i}.py").write_text("x = 1\n" * i + f"T = '{token(100 + i)}'\n")
    layers = [layer_tar([("file", "a.txt", f"{token(200)}\n".encode())]),
              layer_tar([("file", "a.txt", b"clean\n"), ("file", "b.txt", f"{token(201)}\n".encode())])]
    image = docker_archive(tmp_path / "image.tar", layers)
    for ref in (str(root), f"docker-archive:{image}"):
        runs = {}
        for workers in (1, 2):
            with open_target(ref) as target:
                assert target.tree is not None
                options = SecretScanOptions(max_file_size=256 * 1024, workers=workers, binaries=True)
                runs[workers] = scan_tree(target.tree, engine, options)
        serial, parallel = runs[1], runs[2]
        assert (serial.stats.mode, parallel.stats.mode) == ("serial", "processes")
        assert [f.to_dict() for f in serial.findings] == [f.to_dict() for f in parallel.findings]
        assert sorted(reasons(serial)) == sorted(reasons(parallel))
        assert serial.findings


def test_automatic_mode_moves_to_workers_mid_scan_with_the_same_results(
        tmp_path: Path, engine: SecretEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool, "cpu_count", lambda: 2)
    monkeypatch.setattr(pool, "idle_seconds", lambda: time.monotonic())  # a CPU idle, whatever the machine does
    root = project(tmp_path / "p")
    for i in range(30):
        (root / "src" / f"mod{i}.py").write_text(f"T = '{token(300 + i)}'\n")
    serial = scan_tree(DirTree(str(root)), engine, OPTIONS)
    monkeypatch.setattr(pool, "PROBE_SECONDS", 0.0)
    monkeypatch.setattr(pool, "worth_processes", lambda *args: True)
    auto = scan_tree(DirTree(str(root)), engine, SecretScanOptions(max_file_size=256 * 1024, workers=0))
    assert auto.stats.mode == "processes" and auto.stats.switched_after_s is not None
    assert [f.to_dict() for f in auto.findings] == [f.to_dict() for f in serial.findings]


def test_when_workers_pay_off() -> None:
    assert not worth_processes(engine_seconds=0.2, elapsed=1.0, done=0.1, cpus=2)  # reading dominates
    assert not worth_processes(engine_seconds=0.9, elapsed=1.0, done=0.9, cpus=2)  # almost done
    assert worth_processes(engine_seconds=0.9, elapsed=1.0, done=0.1, cpus=2)  # 9 s left, mostly engine
    assert not worth_processes(engine_seconds=0.9, elapsed=1.0, done=0.1, cpus=1)
    assert worth_processes(engine_seconds=5.4, elapsed=6.0, done=None, cpus=2)  # unknown: as much again
    assert not worth_processes(engine_seconds=0.9, elapsed=1.0, done=None, cpus=2)  # too little to gain


@pytest.mark.parametrize("workers", [1, 2])
def test_per_file_timeout_abandons_a_pathological_file(tmp_path: Path, slow_engine: SecretEngine,
                                                       workers: int) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "slow.txt").write_text("a" * 30 + "c ab\n")  # ~2^31 backtracking steps: minutes unbounded
    for i in range(4):
        (root / f"ok{i}.txt").write_text(f"{token(400 + i)}\n")
    started = time.monotonic()
    result = scan_tree(DirTree(str(root)), slow_engine, SecretScanOptions(workers=workers, file_timeout=1.0))
    assert time.monotonic() - started < 20
    assert reasons(result) == ["/slow.txt: scanning took longer than 1s; abandoned (per-file timeout)"]
    assert {f.path for f in result.findings} == {f"/ok{i}.txt" for i in range(4)}
    assert result.stats.timeouts == 1 and result.partial


def test_overall_timeout_marks_the_result_partial(tmp_path: Path, engine: SecretEngine) -> None:
    root = project(tmp_path / "p")
    result = scan_tree(DirTree(str(root)), engine, SecretScanOptions(workers=1, timeout=1e-9))
    assert result.partial
    assert "(secret scan): scan timed out after 1e-09s; results are partial" in reasons(result)


def test_progress_reports_files_and_bytes(tmp_path: Path, engine: SecretEngine) -> None:
    root = project(tmp_path / "p")
    seen: list[scanner.ScanProgress] = []
    scan_tree(DirTree(str(root)), engine, OPTIONS, progress=seen.append)
    last = seen[-1]
    assert last.files_done == last.files_total == 10  # the 11 regular files but the lockfile
    assert last.bytes_done == last.bytes_total > 300_000
    assert seen[0].files_done == 0


def test_engine_travels_to_workers_without_the_clear_rules_changing(engine: SecretEngine) -> None:
    rebuilt = rebuild_engine(engine_payload(engine))
    data = f"k={token(50)}\n".encode()
    assert [(m.rule_id, m.line, m.start) for m in rebuilt.scan(data, "/x")] == \
        [(m.rule_id, m.line, m.start) for m in engine.scan(data, "/x")]


class EngineThatWillNotTravel(SecretEngine):
    """The real engine, but one that cannot be rebuilt in a worker process."""

    @classmethod
    def from_serialized(cls, data: bytes) -> SecretEngine:
        raise ValueError("this engine stays home")


class EngineThatCrashesWorkers(SecretEngine):
    """The real engine, except that a worker process scanning 'crash.txt' dies on the spot."""

    def scan(self, data: bytes, path: str = "") -> list:  # type: ignore[type-arg]
        if path.endswith("crash.txt") and multiprocessing.parent_process() is not None:
            os._exit(3)
        return super().scan(data, path)


def test_workers_that_cannot_start_leave_the_scan_to_this_process(tmp_path: Path) -> None:
    root = project(tmp_path / "p")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(RULES)
    engine = EngineThatWillNotTravel(load_ruleset([tmp_path / "rules"], replace_builtin=True), cache=False)
    result = scan_tree(DirTree(str(root)), engine, SecretScanOptions(max_file_size=256 * 1024, workers=2))
    assert result.stats.mode == "serial"
    assert "(secret scan): worker processes unavailable (ValueError: this engine stays home); scanning in this " \
           "process" in reasons(result)
    assert len(result.findings) == 7


def test_a_worker_that_dies_costs_one_file(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "crash.txt").write_text(f"{token(60)}\n")
    for i in range(5):
        (root / f"ok{i}.txt").write_text(f"{token(61 + i)}\n")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.yaml").write_text(RULES)
    engine = EngineThatCrashesWorkers(load_ruleset([tmp_path / "rules"], replace_builtin=True), cache=False)
    result = scan_tree(DirTree(str(root)), engine, SecretScanOptions(workers=2))
    assert reasons(result) == ["/crash.txt: not scanned: the worker process scanning it died"]
    assert {f.path for f in result.findings} == {f"/ok{i}.txt" for i in range(5)}


def test_undecodable_names_are_shown_safely(tmp_path: Path, engine: SecretEngine) -> None:
    root = tmp_path / "p"
    root.mkdir()
    latin = os.fsdecode(b"caf\xe9")
    (root / f"{latin}.env").write_text(f"{token(70)}\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tar:
        data = f"{token(71)}\n".encode()
        ti = tarfile.TarInfo(f"{latin}/inner.txt")
        ti.size = len(data)
        tar.addfile(ti, io.BytesIO(data))
    (root / "a.tgz").write_bytes(buf.getvalue())
    result = scan_tree(DirTree(str(root)), engine, SecretScanOptions(workers=1))
    assert sorted(f.path for f in result.findings) == ["/a.tgz:caf\ufffd/inner.txt", "/caf\ufffd.env"]
    json.dumps([f.to_dict() for f in result.findings]).encode("utf-8")
