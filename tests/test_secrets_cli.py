"""`threatstryker scan --scanners secret` and `threatstryker secrets ...` as real subprocesses on real files."""

from __future__ import annotations

import hashlib
import json
import random
import string
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "threatstryker.cli"]
ALNUM = string.ascii_letters + string.digits


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def token(seed: int) -> str:
    """A GitHub classic PAT shape (ghp_ + 36 alphanumerics), generated: never a real key."""
    rng = random.Random(seed)
    return "ghp_" + "".join(rng.choice(ALNUM) for _ in range(36))


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, str]:
    root = tmp_path / "project"
    (root / "deploy").mkdir(parents=True)
    secret = token(1)
    (root / "deploy" / "ci.yaml").write_text(f"steps:\n  - run: publish\n    env:\n      GH_TOKEN: {secret}\n")
    placeholder = "ghp_" + "x" * 36
    (root / "README.md").write_text(f"Set GH_TOKEN=${{GITHUB_TOKEN}} in CI; never {placeholder}\n")
    return root, secret


def scan(root: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run("scan", f"dir:{root}", "--scanners", "secret", "-q", *extra, cwd=root.parent)


def test_json_finding_never_holds_the_value(project: tuple[Path, str]) -> None:
    root, secret = project
    res = scan(root, "-f", "json")
    assert res.returncode == 0, res.stderr
    assert secret not in res.stdout and secret not in res.stderr
    doc = json.loads(res.stdout)
    found = [f for f in doc["findings"] if f["kind"] == "secret" and f["family"] == "github"]
    assert len(found) == 1, doc["findings"]
    f = found[0]
    assert f["path"] == "/deploy/ci.yaml" and f["line"] == 4 and f["column"] == 17
    assert f["preview"] == secret[:4] + "***"
    assert f["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert f["confidence"] == "high" and f["severity"] in ("high", "critical")
    assert len(f["fingerprint"]) == 64
    # the placeholders in README.md are not findings
    assert not any(x["path"] == "/README.md" for x in doc["findings"])


def test_table_sarif_and_fail_on(project: tuple[Path, str]) -> None:
    root, secret = project
    res = scan(root)
    assert res.returncode == 0 and "github-pat-classic" in res.stdout and secret not in res.stdout
    assert scan(root, "--fail-on", "high").returncode == 1
    sarif = json.loads(scan(root, "-f", "sarif").stdout)
    result = next(r for r in sarif["runs"][0]["results"] if r["ruleId"] == "github-pat-classic")
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 4, "startColumn": 17}
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "deploy/ci.yaml"
    assert secret not in json.dumps(sarif)


def test_inline_allow_comment(project: tuple[Path, str]) -> None:
    root, secret = project
    (root / "deploy" / "ci.yaml").write_text(f"GH_TOKEN: {secret}  # threatstryker:allow rotated test token\n")
    doc = json.loads(scan(root, "-f", "json").stdout)
    assert not any(f["family"] == "github" for f in doc["findings"])


def test_baseline_suppresses_known_and_reports_new(project: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = project
    baseline = tmp_path / "baseline.json"
    res = run("secrets", "baseline", f"dir:{root}", "-o", str(baseline), "-q")
    assert res.returncode == 0, res.stderr
    stored = json.loads(baseline.read_text())
    assert stored["schema"] == "threatstryker-secrets-baseline/1" and stored["findings"]
    assert token(1) not in baseline.read_text()
    doc = json.loads(scan(root, "-f", "json", "--baseline", str(baseline)).stdout)
    assert doc["findings"] == [] and doc["summary"]["suppressed"] == len(stored["findings"])
    # a new secret in another file is reported; moving the old one down a line keeps it suppressed
    (root / "deploy" / "ci.yaml").write_text("# moved\n" + (root / "deploy" / "ci.yaml").read_text())
    (root / "deploy" / "other.sh").write_text(f"export GH_TOKEN={token(2)}\n")
    doc = json.loads(scan(root, "-f", "json", "--baseline", str(baseline)).stdout)
    assert [(f["path"], f["family"]) for f in doc["findings"] if f["family"] == "github"] == [
        ("/deploy/other.sh", "github")
    ]


def test_git_history_finds_a_removed_secret(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    secret = token(3)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                              env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                                   "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
                                   "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}).stdout.strip()

    git("init", "-q")
    (repo / "app.py").write_text(f'TOKEN = "{secret}"\n')
    git("add", "app.py")
    git("commit", "-q", "-m", "add")
    added = git("rev-parse", "HEAD")
    (repo / "app.py").write_text('TOKEN = os.environ["TOKEN"]\n')
    git("commit", "-q", "-am", "remove")
    plain = json.loads(run("scan", f"dir:{repo}", "--scanners", "secret", "-q", "-f", "json").stdout)
    assert not any(f["family"] == "github" for f in plain["findings"])
    res = run("scan", str(repo), "--scanners", "secret", "--git", "-q", "-f", "json")
    assert res.returncode == 0, res.stderr
    found = [f for f in json.loads(res.stdout)["findings"] if f["family"] == "github"]
    assert len(found) == 1 and found[0]["commit"] == added and found[0]["present"] is False
    assert secret not in res.stdout
    not_repo = run("scan", str(tmp_path / "nothing"), "--scanners", "secret", "--git", "-q")
    assert not_repo.returncode == 2 and len(not_repo.stderr.strip().splitlines()) == 1


def test_user_rules_gitleaks_toml_and_bad_rule_file(project: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = project
    (root / "settings.ini").write_text("internal_key = ACME-7f3a9c2e41d84b6a\n")
    rules = tmp_path / "acme.toml"
    rules.write_text(
        '[[rules]]\nid = "acme-internal-key"\ndescription = "ACME internal key"\n'
        'regex = \'\'\'(ACME-[0-9a-f]{16})\'\'\'\nkeywords = ["acme-"]\n'
    )
    doc = json.loads(scan(root, "-f", "json", "--rules", str(rules)).stdout)
    assert any(f["id"] == "acme-internal-key" and f["path"] == "/settings.ini" for f in doc["findings"])
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "family: x\nrules:\n  - id: broken\n    description: d\n    severity: high\n    regex: '(unclosed'\n"
    )
    res = scan(root, "--rules", str(bad))
    assert res.returncode == 2 and "bad.yaml" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_rules_listing() -> None:
    res = run("secrets", "rules", "--json")
    assert res.returncode == 0, res.stderr
    rules = json.loads(res.stdout)
    assert len([r for r in rules if r["family"] != "sensitive-file"]) >= 150
    assert {"aws", "github", "generic"} <= {r["family"] for r in rules}


def test_sbom_target_has_no_files_to_read(tmp_path: Path) -> None:
    bom = tmp_path / "bom.json"
    bom.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1, "components": []}))
    res = run("scan", f"sbom:{bom}", "--scanners", "secret", "-q", "-f", "json")
    assert res.returncode == 0, res.stderr
    assert any("secret scanner did not run" in w["reason"] for w in json.loads(res.stdout)["warnings"])


def test_show_secrets_only_when_asked(project: tuple[Path, str]) -> None:
    root, secret = project
    shown = scan(root, "--show-secrets")
    assert shown.returncode == 0 and secret in shown.stdout
    doc = json.loads(scan(root, "-f", "json", "--show-secrets").stdout)
    assert [f["secret"] for f in doc["findings"] if f["family"] == "github"] == [secret]
    # SARIF is meant to be uploaded: it never carries the value
    assert secret not in scan(root, "-f", "sarif", "--show-secrets").stdout


def test_decoded_base64_secret(project: tuple[Path, str]) -> None:
    import base64

    root, _ = project
    hidden = token(9)
    blob = base64.b64encode(f"token: {hidden}".encode()).decode()
    (root / "deploy" / "blob.txt").write_text(f"data={blob}\n")
    plain = json.loads(scan(root, "-f", "json").stdout)
    assert not any(f["path"] == "/deploy/blob.txt" and f["family"] == "github" for f in plain["findings"])
    decoded = json.loads(scan(root, "-f", "json", "--decode", "2").stdout)
    found = [f for f in decoded["findings"] if f["path"] == "/deploy/blob.txt" and f["family"] == "github"]
    assert len(found) == 1 and found[0]["metadata"]["decoded_from"] == "base64"
    assert found[0]["secret_sha256"] == hashlib.sha256(hidden.encode()).hexdigest()
