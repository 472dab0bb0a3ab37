"""The Go cataloger: go.mod files, and build info of Go programs built here with the real toolchain (a local
file:// module proxy serves a replaced dependency, so go.sum hashes are real) or found on the machine, each
cross-checked against `go version -m` (run only by the tests, never by the product)."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from tests.conftest import catalog_dir
from tests.plugins.debian_rootfs import unavailable
from threatstryker.model import Package, Sbom
from threatstryker.sbom.catalogers.golang import parse_gomod_text, parse_modinfo, stdlib_version

GO = shutil.which("go")
REAL_GO_CANDIDATES = [
    "/usr/local/bin/docker", "/usr/local/bin/terraform", "/usr/local/bin/dockerd", "/usr/local/bin/containerd",
    "/usr/local/bin/runc", "/usr/sbin/dockerd", "/usr/sbin/runc", "/usr/bin/containerd", "/usr/sbin/docker-proxy",
]

MAIN_GO = """package main

import "fmt"

func main() { fmt.Println("hello") }
"""
DEPS_GO = """package main

import (
	"fmt"

	"example.com/lib"
	"example.com/util"
)

func main() { fmt.Println(lib.Hello(), util.N()) }
"""


def packages(sbom: Sbom, found_by: str | None = None) -> dict[str, Package]:
    return {p.name: p for p in sbom.packages if found_by is None or p.found_by == found_by}


def go_env(tmp: Path, proxy: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GOFLAGS="-mod=mod -modcacherw", GOSUMDB="off", GOTOOLCHAIN="local", GOWORK="off",
               GOMODCACHE=str(tmp / "modcache"), GOPROXY=f"file://{proxy}" if proxy else "off")
    return env


def go_build(src: Path, out: Path, env: dict[str, str], *extra: str) -> Path:
    subprocess.run([GO or "go", "build", *extra, "-o", str(out), "."], cwd=src, env=env, check=True,
                   capture_output=True, timeout=600)
    return out


def go_version_m(path: Path | str) -> list[list[str]]:
    out = subprocess.run([GO or "go", "version", "-m", str(path)], capture_output=True, text=True, check=True)
    return [line.strip("\t").split("\t") for line in out.stdout.splitlines()[1:] if line.strip()]


def write_module_to_proxy(proxy: Path, path: str, version: str, files: dict[str, str]) -> None:
    """A module in the GOPROXY file:// layout: list, .info, .mod and the module zip."""
    d = proxy / path / "@v"
    d.mkdir(parents=True, exist_ok=True)
    gomod = f"module {path}\n\ngo 1.19\n"
    (d / "list").write_text(version + "\n")
    (d / f"{version}.info").write_text(json.dumps({"Version": version, "Time": "2024-01-02T03:04:05Z"}))
    (d / f"{version}.mod").write_text(gomod)
    with zipfile.ZipFile(d / f"{version}.zip", "w") as z:
        z.writestr(f"{path}@{version}/go.mod", gomod)
        for name, body in files.items():
            z.writestr(f"{path}@{version}/{name}", body)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Go programs built for this module's tests (about a second each with a warm build cache)."""
    if GO is None:
        unavailable("the Go toolchain (golang-go) is not installed")
    tmp = tmp_path_factory.mktemp("go")
    out: dict[str, Any] = {"hello_src": tmp / "hello"}
    # 1. stdlib only, in a git checkout so that the vcs settings are recorded
    hello = tmp / "hello"
    hello.mkdir()
    (hello / "go.mod").write_text("module example.com/hello\n\ngo 1.19\n")
    (hello / "main.go").write_text(MAIN_GO)
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q", "."], cwd=hello, check=True)
    subprocess.run([*git, "add", "-A"], cwd=hello, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=hello, check=True)
    out["hello_rev"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=hello, capture_output=True, text=True,
                                      check=True).stdout.strip()
    out["hello"] = go_build(hello, tmp / "bin" / "hello", go_env(tmp))
    # 2. a dependency replaced by another module version, served by a local file:// proxy
    proxy = tmp / "proxy"
    write_module_to_proxy(proxy, "example.com/fork", "v1.5.0",
                          {"lib.go": 'package lib\n\nfunc Hello() string { return "fork" }\n'})
    write_module_to_proxy(proxy, "example.com/util", "v0.3.1",
                          {"util.go": "package util\n\nfunc N() int { return 3 }\n"})
    deps = tmp / "deps"
    deps.mkdir()
    (deps / "go.mod").write_text(
        "module example.com/deps\n\ngo 1.19\n\nrequire (\n\texample.com/lib v1.2.3\n"
        "\texample.com/util v0.3.1 // indirect\n)\n\nreplace example.com/lib v1.2.3 => example.com/fork v1.5.0\n"
    )
    (deps / "main.go").write_text(DEPS_GO)
    out["deps"] = go_build(deps, tmp / "bin" / "deps", go_env(tmp, proxy), "-buildvcs=false")
    out["deps_src"] = deps
    # 3. a dependency replaced by a local directory
    local = tmp / "local"
    (local / "lib").mkdir(parents=True)
    (local / "lib" / "go.mod").write_text("module example.com/lib\n\ngo 1.19\n")
    (local / "lib" / "lib.go").write_text('package lib\n\nfunc Hello() string { return "local" }\n')
    app = local / "app"
    app.mkdir()
    (app / "go.mod").write_text("module example.com/app\n\ngo 1.19\n\nrequire example.com/lib v1.2.3\n\n"
                                "replace example.com/lib => ../lib\n")
    (app / "main.go").write_text(DEPS_GO.replace('\t"example.com/util"\n', "").replace(", util.N()", ""))
    out["local"] = go_build(app, tmp / "bin" / "local", go_env(tmp), "-buildvcs=false")
    return out


@pytest.fixture(scope="module")
def toolchain() -> dict[str, str]:
    if GO is None:
        unavailable("the Go toolchain (golang-go) is not installed")
    out = subprocess.run([GO or "go", "env", "GOVERSION", "GOOS", "GOARCH"], capture_output=True, text=True,
                         check=True).stdout.split()
    return {"version": out[0], "goos": out[1], "goarch": out[2]}


def one_binary(tmp_path: Path, src: Path, name: str | None = None) -> Path:
    d = tmp_path / "scan"
    d.mkdir(parents=True, exist_ok=True)
    dst = d / (name or src.name)
    shutil.copy2(src, dst)
    return dst


def to_pointer_format(src: Path, dst: Path) -> None:
    """Rewrite a Go >= 1.18 binary's inline build info into the Go 1.13-1.17 layout: flags 0, two pointers
    at offset 16 to Go string headers (placed at the start of .noptrdata, as runtime.buildVersion and
    runtime.modinfo were), whose data pointers address the strings left in place in .go.buildinfo."""
    data = bytearray(src.read_bytes())
    with open(src, "rb") as fh:
        elf = ELFFile(fh)
        info, noptr = elf.get_section_by_name(".go.buildinfo"), elf.get_section_by_name(".noptrdata")
        assert info is not None and noptr is not None
        base, addr = info["sh_offset"], info["sh_addr"]
        hdr_off, hdr_addr = noptr["sh_offset"], noptr["sh_addr"]
    assert data[base + 15] & 2, "expected the inline format"

    def uvarint(pos: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            b = data[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value, pos

    vlen, pos = uvarint(base + 32)
    vaddr = addr + pos - base
    mlen, pos = uvarint(pos + vlen)
    maddr = addr + pos - base
    struct.pack_into("<QQQQ", data, hdr_off, vaddr, vlen, maddr, mlen)
    data[base + 15] = 0
    struct.pack_into("<QQ", data, base + 16, hdr_addr, hdr_addr + 16)
    dst.write_bytes(bytes(data))
    dst.chmod(0o755)


# -- binaries built here -----------------------------------------------------------------------------------


def test_stdlib_only_binary(built: dict[str, Any], toolchain: dict[str, str], tmp_path: Path) -> None:
    path = one_binary(tmp_path, built["hello"])
    sbom = catalog_dir(path.parent, "golang")
    pkgs = packages(sbom)
    assert set(pkgs) == {"stdlib", "example.com/hello"}
    std = pkgs["stdlib"]
    assert std.version == toolchain["version"] and std.purl == f"pkg:golang/stdlib@{toolchain['version']}"
    main = pkgs["example.com/hello"]
    assert main.version == "(devel)" and main.purl == "pkg:golang/example.com/hello@%28devel%29"
    assert main.metadata["main"] is True and main.metadata["main_path"] == "example.com/hello"
    assert main.metadata["goos"] == toolchain["goos"] and main.metadata["goarch"] == toolchain["goarch"]
    assert main.metadata["vcs"]["vcs"] == "git"
    assert main.metadata["vcs"]["vcs.revision"] == built["hello_rev"]
    assert main.found_by == "go-binary" and main.locations[0].path == "/hello"
    assert sbom.warnings == []


def test_replaced_module_and_hashes(built: dict[str, Any], tmp_path: Path) -> None:
    sbom = catalog_dir(one_binary(tmp_path, built["deps"]).parent, "golang")
    pkgs = packages(sbom)
    assert set(pkgs) == {"stdlib", "example.com/deps", "example.com/fork", "example.com/util"}
    fork = pkgs["example.com/fork"]
    assert fork.version == "v1.5.0" and fork.purl == "pkg:golang/example.com/fork@v1.5.0"
    assert fork.metadata["replaces"] == {"path": "example.com/lib", "version": "v1.2.3"}
    go_sum = (built["deps_src"] / "go.sum").read_text().splitlines()
    sums = {tuple(line.split()[:2]): line.split()[2] for line in go_sum}
    assert fork.metadata["h1"] == sums[("example.com/fork", "v1.5.0")]
    assert pkgs["example.com/util"].metadata["h1"] == sums[("example.com/util", "v0.3.1")]
    # and the same as the Go toolchain reads it
    lines = go_version_m(built["deps"])
    assert ["=>", "example.com/fork", "v1.5.0", fork.metadata["h1"]] in lines


def test_local_directory_replacement(built: dict[str, Any], tmp_path: Path) -> None:
    pkgs = packages(catalog_dir(one_binary(tmp_path, built["local"]).parent, "golang"))
    lib = pkgs["example.com/lib"]
    assert lib.version == "(devel)"
    assert lib.metadata["replace"]["path"] == "../lib" and lib.metadata["replaces"]["version"] == "v1.2.3"


def test_pointer_format_matches_inline(built: dict[str, Any], tmp_path: Path) -> None:
    """Go 1.13-1.17 layout (the toolchain here, 1.19, only writes the inline one): converted in place."""
    old = tmp_path / "scan" / "old"
    old.parent.mkdir()
    to_pointer_format(built["deps"], old)
    assert go_version_m(old) == go_version_m(built["deps"])  # the Go toolchain reads the conversion too
    new_sbom = catalog_dir(one_binary(tmp_path / "n", built["deps"]).parent, "golang")
    old_sbom = catalog_dir(old.parent, "golang")
    assert old_sbom.warnings == []
    assert sorted(p.purl for p in old_sbom.packages) == sorted(p.purl for p in new_sbom.packages)
    assert packages(old_sbom)["example.com/fork"].metadata == packages(new_sbom)["example.com/fork"].metadata


def test_elf_without_section_headers(built: dict[str, Any], tmp_path: Path) -> None:
    """Section headers stripped (sstrip-like): the build info is found at the start of the data segment."""
    path = one_binary(tmp_path, built["deps"], "nosections")
    data = bytearray(path.read_bytes())
    struct.pack_into("<Q", data, 0x28, 0)  # e_shoff
    struct.pack_into("<HH", data, 0x3C, 0, 0)  # e_shnum, e_shstrndx
    path.write_bytes(bytes(data))
    with open(path, "rb") as fh:
        assert ELFFile(fh).num_sections() == 0
    pkgs = packages(catalog_dir(path.parent, "golang"))
    assert {"stdlib", "example.com/fork", "example.com/util"} <= set(pkgs)


def test_damaged_build_info_is_a_warning(built: dict[str, Any], tmp_path: Path) -> None:
    path = one_binary(tmp_path, built["hello"], "damaged")
    data = bytearray(path.read_bytes())
    with open(path, "rb") as fh:
        section = ELFFile(fh).get_section_by_name(".go.buildinfo")
        assert section is not None
        base = section["sh_offset"]
    data[base + 32 + 1 + data[base + 32] : base + 32 + 1 + data[base + 32] + 3] = b"\xff\xff\x7f"  # huge length
    path.write_bytes(bytes(data))
    sbom = catalog_dir(path.parent, "golang")
    assert sbom.packages == []
    assert len(sbom.warnings) == 1
    assert sbom.warnings[0].path == "/damaged" and "golang binary: malformed (ParseError" in sbom.warnings[0].reason


def test_non_go_executables_are_ignored(tmp_path: Path) -> None:
    d = tmp_path / "scan"
    d.mkdir()
    shutil.copy2("/bin/ls", d / "ls")
    (d / "script").write_text("#!/bin/sh\necho hi\n" + "#" * 5000)
    (d / "script").chmod(0o755)
    sbom = catalog_dir(d, "golang")
    assert sbom.packages == [] and sbom.warnings == []


@pytest.mark.slow
@pytest.mark.parametrize("goos", ["windows", "darwin"])
def test_pe_and_macho(built: dict[str, Any], tmp_path: Path, goos: str) -> None:
    """Cross-compiled PE and Mach-O programs (the first build compiles the standard library: ~40 s)."""
    env = go_env(tmp_path)
    env.update(GOOS=goos, GOARCH="arm64" if goos == "darwin" else "amd64")
    exe = go_build(built["hello_src"], tmp_path / "scan" / f"hello-{goos}", env)
    assert exe.read_bytes()[:2] == b"MZ" if goos == "windows" else exe.read_bytes()[:4] == b"\xcf\xfa\xed\xfe"
    pkgs = packages(catalog_dir(exe.parent, "golang"))
    assert set(pkgs) == {"stdlib", "example.com/hello"}
    assert pkgs["example.com/hello"].metadata["goos"] == goos
    assert pkgs["example.com/hello"].metadata["vcs"]["vcs.revision"] == built["hello_rev"]


# -- real Go programs on this machine ----------------------------------------------------------------------


def real_go_binaries() -> list[str]:
    found = []
    for path in REAL_GO_CANDIDATES:
        if GO and os.path.isfile(path) and not os.path.islink(path):
            ok = subprocess.run([GO, "version", "-m", path], capture_output=True).returncode == 0
            if ok:
                found.append(path)
    return found


def expected_from_go_version_m(path: str) -> tuple[set[tuple[str, str, str]], dict[str, str]]:
    """(name, version, h1) of each dependency as built, and the build settings, from `go version -m`."""
    deps: list[list[str]] = []
    settings: dict[str, str] = {}
    for f in go_version_m(path):
        if f[0] == "dep":
            deps.append(f[1:])
        elif f[0] == "=>":
            deps[-1] = f[1:] if not f[1].startswith((".", "/")) else [deps[-1][0], "(devel)", ""]
        elif f[0] == "build":
            key, _, value = f[1].partition("=")
            settings[key] = json.loads(value) if value.startswith('"') else value
    return {(d[0], d[1], d[2] if len(d) > 2 else "") for d in deps}, settings


@pytest.mark.parametrize("path", real_go_binaries() or ["(none)"])
def test_real_go_binaries_match_go_version_m(path: str, tmp_path: Path) -> None:
    if path == "(none)":
        pytest.skip("no Go program on this machine (looked at " + ", ".join(REAL_GO_CANDIDATES) + ")")
    link = tmp_path / "scan" / os.path.basename(path)
    link.parent.mkdir()
    if os.stat(path).st_dev == os.stat(tmp_path).st_dev:
        os.link(path, link)
    else:
        shutil.copy2(path, link)
    sbom = catalog_dir(link.parent, "golang")
    assert sbom.warnings == []
    want_deps, want_settings = expected_from_go_version_m(path)
    go_line = subprocess.run([GO or "go", "version", path], capture_output=True, text=True).stdout
    toolchain = go_line.split(": ", 1)[1].split()[0]
    pkgs = [p for p in sbom.packages if p.found_by == "go-binary"]
    got = {(p.name, p.version, p.metadata.get("h1", "")) for p in pkgs if p.name != "stdlib"
           and not p.metadata.get("main")}
    assert got == want_deps
    std = next(p for p in pkgs if p.name == "stdlib")
    assert std.version == stdlib_version(toolchain)
    described = next((p for p in pkgs if p.metadata.get("main")), std)
    assert described.metadata.get("build_settings", {}) == want_settings


# -- go.mod ------------------------------------------------------------------------------------------------

GO_MOD = """// a realistic go.mod
module github.com/acme/service

go 1.22

toolchain go1.22.2

require (
	github.com/google/uuid v1.6.0
	github.com/sirupsen/logrus v1.9.3
	golang.org/x/sys v0.18.0 // indirect
	"github.com/quoted/path" v0.1.0
	github.com/old/thing v1.0.0
	github.com/local/thing v0.0.0-00010101000000-000000000000
)

require gopkg.in/yaml.v3 v3.0.1 // indirect

exclude github.com/sirupsen/logrus v1.9.0

replace (
	github.com/old/thing v1.0.0 => github.com/new/thing v1.1.0
	github.com/local/thing => ../thing
)

replace golang.org/x/sys => golang.org/x/sys v0.19.0

retract v0.9.0 // published by mistake
"""

GO_SUM = """github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=
github.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=
golang.org/x/sys v0.19.0 h1:q5f1RH2jigJ1MoAWp2KTp3gm5zAGFUTarQZ5U386+4o=
"""


def test_go_mod(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(GO_MOD)
    (tmp_path / "go.sum").write_text(GO_SUM)
    sbom = catalog_dir(tmp_path, "golang")
    assert sbom.warnings == []
    pkgs = packages(sbom, "go-mod")
    assert {n: p.version for n, p in pkgs.items()} == {
        "github.com/google/uuid": "v1.6.0",
        "github.com/sirupsen/logrus": "v1.9.3",
        "golang.org/x/sys": "v0.19.0",  # path-wide replace applied
        "github.com/quoted/path": "v0.1.0",
        "github.com/new/thing": "v1.1.0",  # versioned replace applied
        "github.com/local/thing": "(devel)",  # replaced by a directory
        "gopkg.in/yaml.v3": "v3.0.1",
    }
    assert pkgs["golang.org/x/sys"].metadata["indirect"] is True
    assert pkgs["golang.org/x/sys"].metadata["h1"] == "h1:q5f1RH2jigJ1MoAWp2KTp3gm5zAGFUTarQZ5U386+4o="
    assert pkgs["gopkg.in/yaml.v3"].metadata == {"indirect": True}
    assert "indirect" not in pkgs["github.com/google/uuid"].metadata
    assert pkgs["github.com/google/uuid"].metadata["h1"].startswith("h1:NIvaJ")
    assert pkgs["github.com/new/thing"].metadata["replaces"] == {"path": "github.com/old/thing", "version": "v1.0.0"}
    assert pkgs["github.com/local/thing"].metadata["replace"]["path"] == "../thing"
    assert pkgs["github.com/google/uuid"].purl == "pkg:golang/github.com/google/uuid@v1.6.0"
    assert pkgs["gopkg.in/yaml.v3"].purl == "pkg:golang/gopkg.in/yaml.v3@v3.0.1"


def test_go_mod_empty(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text("")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "go.mod").write_text("module example.com/x\n\ngo 1.21\n")
    sbom = catalog_dir(tmp_path, "golang")
    assert sbom.packages == [] and sbom.warnings == []


def test_go_mod_malformed_lines_are_warnings(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(
        "module example.com/x\n\nrequire github.com/ok/one v1.0.0\nrequire github.com/missing/version\n"
        "frobnicate all\nrequire (\n\tgithub.com/ok/two v2.0.0\n"
    )
    sbom = catalog_dir(tmp_path, "golang")
    assert {p.name for p in sbom.packages} == {"github.com/ok/one", "github.com/ok/two"}
    reasons = [w.reason for w in sbom.warnings]
    assert any("line 4: require needs a module path and a version" in r for r in reasons)
    assert any("line 5: unknown directive 'frobnicate'" in r for r in reasons)
    assert any("unterminated require block" in r for r in reasons)


def test_go_mod_binary_garbage(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_bytes(b"\x00\x01\x02module\x00")
    sbom = catalog_dir(tmp_path, "golang")
    assert sbom.packages == []
    assert len(sbom.warnings) == 1 and "go-mod: malformed (ParseError: binary content" in sbom.warnings[0].reason


# -- decoding details --------------------------------------------------------------------------------------


def test_modinfo_quoting_and_versions() -> None:
    info = parse_modinfo("go1.22.2 X:boringcrypto", 'path\tx/cmd\nmod\tx\tv1.0.0\th1:a=\n'
                         'build\t-ldflags="-X \\"main.v=1\\" -s"\nbuild\t"we=ird"=v\nbuild\tGOOS=linux\n')
    assert info.settings == {"-ldflags": '-X "main.v=1" -s', "we=ird": "v", "GOOS": "linux"}
    assert info.main is not None and (info.main.path, info.main.version, info.main.sum) == ("x", "v1.0.0", "h1:a=")
    assert stdlib_version("go1.22.2 X:boringcrypto") == "go1.22.2"
    assert stdlib_version("go1.21rc2") == "go1.21rc2"
    assert stdlib_version("devel go1.23-abcdef Tue") == "go1.23"


def test_gomod_tokens_with_comments_and_raw_strings() -> None:
    mod = parse_gomod_text('module `example.com/raw`\nrequire example.com/a v1.0.0 // indirect; used by tests\n')
    assert mod.module == "example.com/raw"
    assert mod.requires == [("example.com/a", "v1.0.0", True)]


@pytest.mark.parametrize("ldflags,expected", [
    ("-s -w -X k8s.io/component-base/version.gitVersion=v1.28.15 -X k8s.io/x.gitCommit=abc", "v1.28.15"),
    ("-X 'main.version=0.2.56' -X main.commit=deadbeef", "v0.2.56"),
    ("-X a/version.anthoscliVersion=beta -X a/version.gitTag=0.2.56 -X a/version.buildDate=2025-04-29", "v0.2.56"),
    ('-s -w -X github.com/x/kpt/run.version=1.0.0-beta.56 -extldflags "-z noexecstack"', "v1.0.0-beta.56"),
    ("-X=main.version=1.2.3", "v1.2.3"),
    ("-X main.Version=dev", ""),
    ("-X main.commit=1.2.3", ""),      # not a version variable
    ("", ""),
])
def test_ldflags_version(ldflags: str, expected: str) -> None:
    from threatstryker.sbom.catalogers.golang import ldflags_version

    assert ldflags_version(ldflags) == expected


def test_main_module_version_stamped_by_ldflags(tmp_path: Path) -> None:
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain (Debian golang-go)")
    src = tmp_path / "src"
    src.mkdir()
    (src / "go.mod").write_text("module example.com/stamped\n\ngo 1.19\n")
    (src / "main.go").write_text('package main\n\nvar version = "dev"\n\nfunc main() { println(version) }\n')
    out = tmp_path / "bin" / "stamped"
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off", "GOTOOLCHAIN": "local",
           "GOCACHE": os.environ.get("GOCACHE", str(Path.home() / ".cache" / "go-build"))}
    subprocess.run([go, "build", "-ldflags", "-X main.version=1.4.2", "-o", str(out), "."], cwd=src, env=env,
                   check=True, capture_output=True, timeout=300)
    pkgs = {p.name: p for p in catalog_dir(out.parent, "golang").packages}
    main = pkgs["example.com/stamped"]
    assert main.version == "v1.4.2" and main.metadata["version_from"] == "ldflags"
    assert main.purl == "pkg:golang/example.com/stamped@v1.4.2"


def test_shared_library_without_execute_bit_is_read(built: dict[str, Any], tmp_path: Path) -> None:
    lib = one_binary(tmp_path, built["hello"], "libhello.so.1")
    lib.chmod(0o644)
    plain = one_binary(tmp_path, built["hello"], "hello.dat")
    plain.chmod(0o644)
    sbom = catalog_dir(lib.parent, "golang")
    paths = {p.locations[0].path for p in sbom.packages}
    assert paths == {"/libhello.so.1"}  # a non-executable file that is not a shared library is not opened
