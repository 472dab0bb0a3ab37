"""The secret scan of a git history, on real repositories made with the git CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.secrets.test_scanner import RULES, make_engine, token
from threatstryker.model.finding import secret_hash
from threatstryker.secrets.engine import SecretEngine
from threatstryker.secrets.git import GitScanError, scan_git, unquote_path
from threatstryker.secrets.scanner import SecretScanOptions, SecretScanResult


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> SecretEngine:
    return make_engine(tmp_path_factory.mktemp("rules"), RULES)


class Repo:
    """A repository written with the git CLI, with a fixed identity and no user or system configuration."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
                    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
                    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com"}
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str | bytes) -> str:
        done = subprocess.run(["git", "-C", str(self.path), *args], env=self.env, capture_output=True, check=True)
        return done.stdout.decode().strip()

    def write(self, name: str | bytes, content: str | bytes) -> None:
        target = Path(os.fsdecode(os.path.join(os.fsencode(self.path), os.fsencode(name))))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.encode() if isinstance(content, str) else content)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


def found(result: SecretScanResult) -> set[tuple[str, int, str | None, bool]]:
    return {(f.path, f.line, f.commit, f.present) for f in result.findings}


def test_a_secret_removed_later_is_found_at_the_commit_that_added_it(tmp_path: Path, engine: SecretEngine) -> None:
    repo = Repo(tmp_path / "repo")
    repo.write(".env", f"DEBUG=1\nAPI_TOKEN={token(0)}\n")
    repo.write("app/config.py", "".join(f"line{i} = {i}\n" for i in range(1, 11)))
    added = repo.commit("add settings")
    lines = [f"line{i} = {i}\n" for i in range(1, 11)]
    lines.insert(4, f"KEY = '{token(1)}'\n")  # becomes line 5 of the new version
    repo.write("app/config.py", "".join(lines))
    edited = repo.commit("add a key")
    repo.write(".env", "DEBUG=1\n")
    repo.commit("remove the token")
    repo.git("checkout", "-q", "-b", "side")
    repo.write("notes/secret.txt", f"{token(2)}\n")
    side = repo.commit("side branch only")
    repo.git("checkout", "-q", "main")
    result = scan_git(repo.path, engine, SecretScanOptions(workers=1))
    assert found(result) == {
        (".env", 2, added, False),  # deleted since
        ("app/config.py", 5, edited, True),  # still at HEAD
        ("notes/secret.txt", 1, side, False),  # on a branch HEAD does not have
    }
    env = next(f for f in result.findings if f.path == ".env")
    assert env.secret_sha256 == secret_hash(token(0)) and env.preview == "tstk***" and env.layer is None
    assert env.column == 11
    assert result.warnings == [] and not result.partial
    assert result.stats.files == 4  # commits


def test_not_a_repository_is_a_one_line_error(tmp_path: Path, engine: SecretEngine) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitScanError, match=r"plain: not a git repository$"):
        scan_git(tmp_path / "plain", engine)
    with pytest.raises(GitScanError, match=r"missing: no such file or directory$"):
        scan_git(tmp_path / "missing", engine)
    (tmp_path / "file").write_text("x")
    with pytest.raises(GitScanError, match="not a git repository"):
        scan_git(tmp_path / "file", engine)


def test_empty_repository(tmp_path: Path, engine: SecretEngine) -> None:
    result = scan_git(Repo(tmp_path / "empty").path, engine)
    assert result.findings == [] and result.warnings == [] and not result.partial


def test_binary_files_renames_odd_names_and_non_utf8_content(tmp_path: Path, engine: SecretEngine) -> None:
    repo = Repo(tmp_path / "repo")
    repo.write("blob.bin", b"\x00\x01\x02" + token(10).encode() + b"\x00")
    repo.write(".env", f"T={token(11)}\n")
    repo.write("with space.txt", f"{token(12)}\n")
    repo.write('we"ird.txt', f"{token(13)}\n")
    repo.write(b"caf\xe9.txt", b"caf\xe9 = " + token(14).encode() + b"\n")
    first = repo.commit("binary, odd names, latin-1")
    (repo.path / "config").mkdir()
    repo.git("mv", ".env", "config/.env")
    repo.commit("rename only")
    result = scan_git(repo.path, engine, SecretScanOptions(workers=1))
    latin = os.fsdecode(b"caf\xe9.txt").encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    assert found(result) == {
        (".env", 1, first, True),  # the rename adds no line: reported once, at the commit that added it
        ("with space.txt", 1, first, True),
        ('we"ird.txt', 1, first, True),
        (latin, 1, first, True),
    }
    moved = next(f for f in result.findings if f.path == ".env")
    assert moved.present  # HEAD keeps it under the name the rename gave it
    assert result.stats.binary_skipped == 1


def test_huge_diffs_are_capped_with_a_warning(tmp_path: Path, engine: SecretEngine) -> None:
    repo = Repo(tmp_path / "repo")
    repo.write("big.txt", f"{token(30)}\n" + "filler line\n" * 2000 + f"{token(31)}\n")
    repo.write("one-line.min.js", "x" * 20_000 + f" {token(32)}\n")
    commit = repo.commit("big")
    result = scan_git(repo.path, engine, SecretScanOptions(workers=1, max_file_size=4096))
    assert found(result) == {("big.txt", 1, commit, True)}
    assert sorted(str(w) for w in result.warnings) == [
        f"big.txt: lines added by commit {commit[:12]} exceed the 4096-byte cap; only the first ones are scanned",
        f"one-line.min.js: lines added by commit {commit[:12]} exceed the 4096-byte cap; only the first ones "
        "are scanned",
    ]


def test_parallel_and_serial_history_scans_agree(tmp_path: Path, engine: SecretEngine) -> None:
    repo = Repo(tmp_path / "repo")
    for i in range(25):
        repo.write(f"f{i % 5}.txt", f"v{i}\n" + (f"{token(40 + i)}\n" if i % 2 else ""))
        repo.commit(f"c{i}")
    serial = scan_git(repo.path, engine, SecretScanOptions(workers=1))
    parallel = scan_git(repo.path, engine, SecretScanOptions(workers=2))
    assert (serial.stats.mode, parallel.stats.mode) == ("serial", "processes")
    assert len(serial.findings) == 12
    assert [f.to_dict() for f in serial.findings] == [f.to_dict() for f in parallel.findings]


def test_unquote_path() -> None:
    assert unquote_path(b'"b/we\\"ird\\ttab.txt"') == b'b/we"ird\ttab.txt'
    assert unquote_path(b'"b/caf\\303\\251.txt"') == "b/café.txt".encode()
    assert unquote_path(b"b/plain.txt") == b"b/plain.txt"
