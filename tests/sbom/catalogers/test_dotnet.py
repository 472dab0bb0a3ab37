"""The .NET cataloger on NuGet lockfiles, packages.config and a real deps.json (pythonnet's, from PyPI).

The deps.json is not kept in the repository: the test downloads the pythonnet wheel with pip at test time
(cached under ${THREATSTRYKER_TEST_CACHE:-~/.cache/threatstryker-tests}/wheels) and reads the file out of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import catalog_dir
from tests.plugins.debian_rootfs import cache_dir, file_lock, unavailable
from threatstryker.model import Package, Sbom

DATA = Path(__file__).parent / "data" / "dotnet"
PYTHONNET_VERSION = "3.2.1"
PYTHONNET_DEPS_JSON = "pythonnet/runtime/Python.Runtime.deps.json"  # its path inside the wheel


def by_name(sbom: Sbom) -> dict[str, Package]:
    return {p.name: p for p in sbom.packages}


def write(root: Path, rel: str, content: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


def pythonnet_wheel() -> Path:
    """The pythonnet wheel from PyPI, downloaded by pip once into the test cache and reused."""
    wheels = cache_dir() / "wheels"
    pattern = f"pythonnet-{PYTHONNET_VERSION}-*.whl"
    found = sorted(wheels.glob(pattern))
    if found:
        return found[0]
    with file_lock(wheels / ".pythonnet.lock"):
        found = sorted(wheels.glob(pattern))
        if found:
            return found[0]
        # into a temporary directory first, so that an interrupted download never looks like a wheel
        with tempfile.TemporaryDirectory(prefix=".pip-download-", dir=wheels) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "--no-input", "-d", tmp, f"pythonnet=={PYTHONNET_VERSION}"]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                outcome = f"exit {proc.returncode}: " + " | ".join(tail)
            except subprocess.TimeoutExpired:
                outcome = "took more than 5 minutes"
            got = sorted(Path(tmp).glob(pattern))
            if not got:
                unavailable(f"pip download pythonnet=={PYTHONNET_VERSION} failed ({outcome})")
                raise AssertionError("unreachable")  # unavailable() skips or fails the test
            dest = wheels / got[0].name
            got[0].replace(dest)
            return dest


@pytest.fixture
def pythonnet_deps_json(tmp_path: Path) -> dict[str, object]:
    """pythonnet's Python.Runtime.deps.json, read from the wheel into tmp_path/runtime/; returns its JSON."""
    wheel = pythonnet_wheel()
    try:
        with zipfile.ZipFile(wheel) as zf:
            data = zf.read(PYTHONNET_DEPS_JSON)
    except (zipfile.BadZipFile, KeyError) as exc:
        pytest.fail(f"{wheel} is not the pythonnet wheel with {PYTHONNET_DEPS_JSON} (delete it to download again): "
                    f"{exc}")
    write(tmp_path, "runtime/Python.Runtime.deps.json", data)
    doc = json.loads(data)
    assert isinstance(doc, dict)
    return doc


def test_packages_lock_json() -> None:
    sbom = catalog_dir(DATA / "app", "dotnet")
    lock = by_name(Sbom(sbom.target, [p for p in sbom.packages if p.found_by == "nuget-lock"]))
    assert set(lock) == {"Newtonsoft.Json", "Serilog.Sinks.Console", "Serilog", "System.Text.Encodings.Web",
                         "System.Buffers"}  # "App.Core" is a Project reference
    assert sbom.warnings == []
    nj = lock["Newtonsoft.Json"]
    assert (nj.ecosystem, nj.version, nj.purl) == ("nuget", "13.0.3", "pkg:nuget/Newtonsoft.Json@13.0.3")
    assert nj.locations[0].path == "/packages.lock.json"
    assert nj.metadata["direct"] is True
    assert nj.metadata["requested"] == "[13.0.3, )"
    assert nj.metadata["target_frameworks"] == ["net8.0", "net48"]
    assert nj.metadata["content_hash"].startswith("HrC5BXdl")
    assert lock["Serilog"].metadata["direct"] is False
    enc = lock["System.Text.Encodings.Web"]
    assert enc.metadata["target_frameworks"] == ["net8.0", "net8.0/linux-x64"]
    assert enc.metadata["direct"] is False  # CentralTransitive
    assert lock["System.Buffers"].metadata["target_frameworks"] == ["net48"]


def test_packages_config() -> None:
    sbom = catalog_dir(DATA / "legacy", "dotnet")
    pkgs = by_name(sbom)
    assert {(p.name, p.version) for p in sbom.packages} == {
        ("Newtonsoft.Json", "12.0.3"), ("log4net", "2.0.8"), ("NUnit", "3.13.3"),
    }
    assert sbom.warnings == []
    assert pkgs["log4net"].purl == "pkg:nuget/log4net@2.0.8"
    assert pkgs["log4net"].found_by == "packages-config"
    assert pkgs["log4net"].metadata == {"target_framework": "net472", "dev": False}
    assert pkgs["NUnit"].metadata["dev"] is True


def test_real_deps_json(tmp_path: Path, pythonnet_deps_json: dict[str, object]) -> None:
    """pythonnet 3.2.1's Python.Runtime.deps.json: "project" skipped, every "package" kept with its hashes."""
    libraries = pythonnet_deps_json["libraries"]
    target = pythonnet_deps_json["runtimeTarget"]
    assert isinstance(libraries, dict) and isinstance(target, dict)
    packages = {k: v for k, v in libraries.items() if v["type"] == "package"}
    assert libraries["Python.Runtime/3.2.1"]["type"] == "project"
    assert "System.Memory/4.6.3" in packages  # the pinned wheel's content, so the test is not vacuous
    sbom = catalog_dir(tmp_path, "dotnet")
    pkgs = by_name(sbom)
    assert sbom.warnings == []
    assert {f"{p.name}/{p.version}" for p in sbom.packages} == set(packages)
    assert "Python.Runtime" not in pkgs
    for key, lib in packages.items():
        name, _, version = key.rpartition("/")
        pkg = pkgs[name]
        assert (pkg.ecosystem, pkg.found_by) == ("nuget", "deps-json")
        assert pkg.purl == f"pkg:nuget/{name}@{version}"
        assert pkg.locations[0].path == "/runtime/Python.Runtime.deps.json"
        assert pkg.metadata == {"type": "package", "sha512": lib["sha512"], "path": lib["path"],
                                "hash_path": lib["hashPath"], "runtime_target": target["name"]}


def test_self_contained_deps_json(tmp_path: Path) -> None:
    write(tmp_path, "app/api.deps.json", json.dumps({
        "runtimeTarget": {"name": ".NETCoreApp,Version=v8.0/linux-x64"},
        "libraries": {
            "api/1.0.0": {"type": "project", "serviceable": False, "sha512": ""},
            "runtimepack.Microsoft.NETCore.App.Runtime.linux-x64/8.0.4": {"type": "runtimepack", "serviceable": False,
                                                                           "sha512": ""},
            "System.Drawing.Common/4.0.0.0": {"type": "reference", "serviceable": False, "sha512": ""},
            "Azure.Identity/1.10.2": {"type": "package", "serviceable": True, "sha512": "sha512-abc",
                                      "path": "azure.identity/1.10.2"},
        },
    }))
    sbom = catalog_dir(tmp_path, "dotnet")
    assert {(p.name, p.version) for p in sbom.packages} == {
        ("Microsoft.NETCore.App.Runtime.linux-x64", "8.0.4"), ("Azure.Identity", "1.10.2"),
    }
    runtime = by_name(sbom)["Microsoft.NETCore.App.Runtime.linux-x64"]
    assert runtime.metadata == {"type": "runtimepack", "runtime_target": ".NETCoreApp,Version=v8.0/linux-x64"}


def test_empty_inputs(tmp_path: Path) -> None:
    write(tmp_path, "a/packages.lock.json", "")
    write(tmp_path, "b/packages.lock.json", json.dumps({"version": 1, "dependencies": {"net8.0": {}}}))
    write(tmp_path, "a/app.deps.json", "\n")
    write(tmp_path, "b/app.deps.json", json.dumps({"runtimeTarget": {"name": "x"}, "libraries": {}}))
    write(tmp_path, "a/packages.config", "")
    write(tmp_path, "b/packages.config", '<?xml version="1.0" encoding="utf-8"?>\n<packages />\n')
    sbom = catalog_dir(tmp_path, "dotnet")
    assert sbom.packages == []
    assert sbom.warnings == []


def test_malformed_inputs(tmp_path: Path) -> None:
    write(tmp_path, "a/packages.lock.json", '{"version": 1, "dependencies": {')
    write(tmp_path, "b/packages.lock.json", '{"version": 1}')
    write(tmp_path, "a/app.deps.json", '{"libraries": []}')
    write(tmp_path, "b/app.deps.json", b"\xff\xfe{\x00")
    write(tmp_path, "a/packages.config", "<packages><package id='x' version='1'>")
    write(tmp_path, "b/packages.config", "<configuration />")
    write(tmp_path, "c/packages.config", '<?xml version="1.0"?>\n<!DOCTYPE p [<!ENTITY a "aaaa">]>\n'
          '<packages><package id="&a;" version="1"/></packages>')
    sbom = catalog_dir(tmp_path, "dotnet")
    assert sbom.packages == []
    warned = {w.path: w.reason for w in sbom.warnings}
    assert len(warned) == 7
    assert warned["/a/packages.lock.json"].startswith("nuget-lock: malformed (ParseError: invalid JSON")
    assert "not a NuGet packages.lock.json" in warned["/b/packages.lock.json"]
    assert "not a .NET deps.json" in warned["/a/app.deps.json"]
    assert "not UTF-8" in warned["/b/app.deps.json"]
    assert "invalid XML" in warned["/a/packages.config"]
    assert "not <packages>" in warned["/b/packages.config"]
    assert "document type declarations" in warned["/c/packages.config"]


def test_partial_problems_keep_the_rest(tmp_path: Path) -> None:
    write(tmp_path, "packages.lock.json", json.dumps({"version": 1, "dependencies": {
        "net8.0": {
            "Dapper": {"type": "Direct", "requested": "[2.1.28, )", "resolved": "2.1.28"},
            "Broken": {"type": "Transitive"},
        },
        "net6.0": ["not", "an", "object"],
    }}))
    write(tmp_path, "packages.config",
          '<packages><package id="jQuery" version="3.5.1" /><package id="NoVersion" /></packages>')
    sbom = catalog_dir(tmp_path, "dotnet")
    assert {(p.name, p.version) for p in sbom.packages} == {("Dapper", "2.1.28"), ("jQuery", "3.5.1")}
    reasons = sorted(w.reason for w in sbom.warnings)
    assert len(reasons) == 3
    assert any("Broken has no resolved version" in r for r in reasons)
    assert any("'net6.0' is not an object" in r for r in reasons)
    assert any("without id and version" in r for r in reasons)
