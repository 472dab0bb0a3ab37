"""The javascript cataloger: real lockfiles made by npm 6/8/current, yarn 1 and 4, and pnpm 7/8/9 (lockfile
versions 1, 2, 3, yarn classic and berry, pnpm 5.4, 6.0 and 9.0) for one small project, a real node_modules
tree made by npm install, and written files for every corner, empty, malformed and hostile input.

The real inputs are made once with the tools from the npm registry and cached under
``${THREATSTRYKER_TEST_CACHE:-~/.cache/threatstryker-tests}/javascript`` (npm's own cache beside it); without
npm or the registry these tests are skipped (they fail under CI=true, like other real-input tests).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import catalog_dir
from tests.plugins.debian_rootfs import cache_dir, file_lock, unavailable
from threatstryker.model import Sbom
from threatstryker.sbom.catalogers import javascript as jscat

# --- real inputs, made by the tools -------------------------------------------------------------------

PROJECT = {
    "name": "demo",
    "version": "1.0.0",
    "private": True,
    "workspaces": ["packages/*"],
    "dependencies": {"is-odd": "3.0.1", "@types/node": "20.11.0", "debug": "2.6.9", "my-alias": "npm:ms@2.0.0"},
    "devDependencies": {"ms": "2.1.3"},
}
WORKSPACE = {"name": "@demo/w", "version": "0.1.0", "dependencies": {"is-number": "6.0.0"}}
#: What every tool resolves PROJECT to (undici-types floats within ~5.26.4, so only its prefix is fixed).
EXPECTED = {("@types/node", "20.11.0"), ("is-odd", "3.0.1"), ("is-number", "6.0.0"), ("debug", "2.6.9"),
            ("ms", "2.0.0"), ("ms", "2.1.3")}

NPX = ["npx", "--yes"]
SCENARIOS: dict[str, dict] = {
    "npm-v1": {"cmd": [*NPX, "npm@6.14.18", "install", "--package-lock-only", "--ignore-scripts", "--no-audit"],
               "lock": "package-lock.json"},
    "npm-v2": {"cmd": [*NPX, "npm@8.19.4", "install", "--package-lock-only", "--ignore-scripts", "--no-audit"],
               "lock": "package-lock.json"},
    "npm-v3": {"cmd": ["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", "--lockfile-version=3"],
               "lock": "package-lock.json", "keep": "node_modules"},
    "yarn-classic": {"cmd": [*NPX, "yarn@1.22.22", "install", "--ignore-scripts", "--non-interactive",
                             "--no-progress"], "lock": "yarn.lock"},
    "yarn-berry": {"cmd": [*NPX, "-p", "@yarnpkg/cli-dist@4.5.3", "yarn", "install", "--mode=update-lockfile"],
                   "lock": "yarn.lock", "extra": {"resolve": "1.22.8"}},
    "pnpm-v5": {"cmd": [*NPX, "pnpm@7.33.7", "install", "--lockfile-only", "--ignore-scripts",
                         "--no-frozen-lockfile"],
                "lock": "pnpm-lock.yaml"},
    "pnpm-v6": {"cmd": [*NPX, "pnpm@8.15.9", "install", "--lockfile-only", "--ignore-scripts",
                         "--no-frozen-lockfile"],
                "lock": "pnpm-lock.yaml"},
    "pnpm-v9": {"cmd": [*NPX, "pnpm@9.15.9", "install", "--lockfile-only", "--ignore-scripts",
                         "--no-frozen-lockfile"],
                "lock": "pnpm-lock.yaml"},
}
_UNREACHABLE = ("ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNREFUSED", "ECONNRESET", "network", "getaddrinfo")


def _tool_env(root: Path) -> dict[str, str]:
    # Without CI=true: under it yarn berry and pnpm refuse to write a lockfile (immutable/frozen installs).
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "CONTINUOUS_INTEGRATION")}
    return {
        **env,
        "npm_config_cache": str(root / "npm-cache"),
        "npm_config_update_notifier": "false",
        "npm_config_store_dir": str(root / "pnpm-store"),
        "npm_config_cache_dir": str(root / "pnpm-cache"),
        "npm_config_state_dir": str(root / "pnpm-state"),
        "YARN_ENABLE_TELEMETRY": "0",
        "YARN_ENABLE_GLOBAL_CACHE": "0",
        "YARN_GLOBAL_FOLDER": str(root / "yarn-berry"),
        "YARN_CACHE_FOLDER": str(root / "yarn-cache"),
        "YARN_ENABLE_IMMUTABLE_INSTALLS": "false",
    }


def _write_project(work: Path, extra: dict[str, str]) -> None:
    project = {**PROJECT, "dependencies": {**PROJECT["dependencies"], **extra}}
    (work / "package.json").write_text(json.dumps(project, indent=2))
    (work / "packages" / "w").mkdir(parents=True)
    (work / "packages" / "w" / "package.json").write_text(json.dumps(WORKSPACE, indent=2))
    (work / "pnpm-workspace.yaml").write_text("packages:\n  - 'packages/*'\n")


def real_project(name: str) -> Path:
    """A project directory whose lockfile (and node_modules, for npm-v3) the named tool made; cached."""
    spec = SCENARIOS[name]
    if shutil.which("npm") is None or shutil.which("npx") is None:
        pytest.skip("npm is not installed on this machine")
    digest = hashlib.sha256(json.dumps([spec, PROJECT, WORKSPACE], sort_keys=True).encode()).hexdigest()[:10]
    root = cache_dir() / "javascript"
    dest = root / f"{name}-{digest}"
    if (dest / spec["lock"]).is_file():
        return dest
    with file_lock(root / f"{name}.lock"):
        if (dest / spec["lock"]).is_file():
            return dest
        work = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
        try:
            _write_project(work, spec.get("extra", {}))
            try:
                proc = subprocess.run(spec["cmd"], cwd=work, env=_tool_env(root), capture_output=True, text=True,
                                      stdin=subprocess.DEVNULL, timeout=600)
            except subprocess.TimeoutExpired:
                unavailable(f"{name}: {' '.join(spec['cmd'][:4])} took more than 10 minutes")
            if proc.returncode != 0 or not (work / spec["lock"]).is_file():
                tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-4:])
                why = "the npm registry is unreachable" if any(u in tail for u in _UNREACHABLE) else "it failed"
                unavailable(f"{name}: cannot make the lockfile, {why}: exit {proc.returncode}: {tail}")
            for child in list(work.iterdir()):
                if child.name not in ("package.json", "packages", spec["lock"], spec.get("keep", "")):
                    shutil.rmtree(child) if child.is_dir() else child.unlink()
            os.rename(work, dest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return dest


def found(sbom: Sbom, found_by: str | None = None) -> set[tuple[str, str]]:
    return {(p.name, p.version) for p in sbom.packages if found_by is None or p.found_by == found_by}


def warnings_text(sbom: Sbom) -> str:
    return "\n".join(str(w) for w in sbom.warnings)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def check_expected(sbom: Sbom, found_by: str) -> None:
    got = found(sbom, found_by)
    assert got >= EXPECTED
    undici = {v for n, v in got if n == "undici-types"}
    assert len(undici) == 1 and next(iter(undici)).startswith("5.26.")
    assert not any(n in ("demo", "@demo/w", "my-alias") for n, _ in got)  # the project, its workspace, an alias
    assert not sbom.warnings, warnings_text(sbom)
    types = next(p for p in sbom.packages if p.name == "@types/node")
    assert types.purl == "pkg:npm/%40types/node@20.11.0"
    assert types.ecosystem == "npm"


# --- real lockfiles -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["npm-v1", "npm-v2", "npm-v3"])
def test_real_package_lock(scenario):
    project = real_project(scenario)
    assert json.loads((project / "package-lock.json").read_text())["lockfileVersion"] == int(scenario[-1])
    sbom = catalog_dir(project, "javascript")
    lock = [p for p in sbom.packages if p.found_by == "javascript-package-lock"]
    check_expected(sbom, "javascript-package-lock")
    assert len(found(sbom, "javascript-package-lock")) == len(EXPECTED) + 1
    dev = {(p.name, p.version) for p in lock if p.metadata.get("dev")}
    assert dev == {("ms", "2.1.3")}
    if scenario != "npm-v1":  # v2 and v3 entries carry the license
        assert all(p.licenses == ["MIT"] for p in lock)


def test_real_node_modules_matches_its_lockfile():
    project = real_project("npm-v3")
    sbom = catalog_dir(project, "javascript")
    installed = found(sbom, "javascript-installed")
    assert installed == found(sbom, "javascript-package-lock")
    by_path = {loc.path: p for p in sbom.packages if p.found_by == "javascript-installed" for loc in p.locations}
    assert by_path["/node_modules/my-alias/package.json"].name == "ms"  # an alias installs the real package
    assert by_path["/node_modules/debug/node_modules/ms/package.json"].version == "2.0.0"
    assert by_path["/node_modules/@types/node/package.json"].licenses == ["MIT"]
    assert not any(p.name == "demo" for p in sbom.packages)  # the root package.json is no package


@pytest.mark.parametrize("scenario", ["yarn-classic", "yarn-berry"])
def test_real_yarn_lock(scenario):
    project = real_project(scenario)
    text = (project / "yarn.lock").read_text()
    assert ("__metadata:" in text) == (scenario == "yarn-berry")
    sbom = catalog_dir(project, "javascript")
    check_expected(sbom, "javascript-yarn-lock")
    if scenario == "yarn-berry":
        assert "resolve@patch:" in text and "@demo/w@workspace:" in text
        resolve = [p for p in sbom.packages if p.name == "resolve"]
        assert [p.version for p in resolve] == ["1.22.8"]  # the patched copy is not a second package


@pytest.mark.parametrize(("scenario", "version"), [("pnpm-v5", "5.4"), ("pnpm-v6", "6.0"), ("pnpm-v9", "9.0")])
def test_real_pnpm_lock(scenario, version):
    project = real_project(scenario)
    assert f"lockfileVersion: {version}" in (project / "pnpm-lock.yaml").read_text().replace("'", "")
    sbom = catalog_dir(project, "javascript")
    check_expected(sbom, "javascript-pnpm-lock")
    assert len(found(sbom)) == len(EXPECTED) + 1
    dev = {(p.name, p.version) for p in sbom.packages if p.metadata.get("dev")}
    assert dev == {("ms", "2.1.3")}


# --- installed node_modules: every corner -------------------------------------------------------------


def test_installed_tree_corners(tmp_path):
    write(tmp_path / "package.json", '{"name": "root-app", "version": "1.0.0", "dependencies": {"a": "^1"}}')
    write(tmp_path / "node_modules/a/package.json", '{"name": "a", "version": "1.0.0", "license": "MIT"}')
    write(tmp_path / "node_modules/a/test/fixtures/package.json", '{"name": "fixture", "version": "0.0.1"}')
    write(tmp_path / "node_modules/a/node_modules/b/package.json",
          '{"name": "b", "version": "2.0.0", "license": {"type": "ISC", "url": "x"}}')
    write(tmp_path / "node_modules/@scope/c/package.json",
          '{"name": "@scope/c", "version": "3.0.0", "licenses": [{"type": "MIT"}, {"type": "Apache-2.0"}]}')
    write(tmp_path / "node_modules/@scope/package.json", '{"name": "not-a-package", "version": "1.0.0"}')
    write(tmp_path / "node_modules/.bin/package.json", '{"name": "dot", "version": "1.0.0"}')
    write(tmp_path / "node_modules/priv/package.json", '{"name": "priv", "private": true}')
    write(tmp_path / "node_modules/noname/package.json", '{"version": "4.0.0"}')
    write(tmp_path / "node_modules/.pnpm/d@5.0.0/node_modules/d/package.json", '{"name": "d", "version": "5.0.0"}')
    write(tmp_path / "node_modules/aliased/package.json", '{"name": "real", "version": "6.0.0"}')
    sbom = catalog_dir(tmp_path, "javascript")
    assert found(sbom) == {("a", "1.0.0"), ("b", "2.0.0"), ("@scope/c", "3.0.0"), ("noname", "4.0.0"),
                           ("d", "5.0.0"), ("real", "6.0.0")}
    lic = {p.name: p.licenses for p in sbom.packages}
    assert lic == {"a": ["MIT"], "b": ["ISC"], "@scope/c": ["MIT", "Apache-2.0"], "noname": [], "d": [],
                   "real": []}
    assert {p.purl for p in sbom.packages if p.name == "@scope/c"} == {"pkg:npm/%40scope/c@3.0.0"}
    assert not sbom.warnings, warnings_text(sbom)


def test_installed_empty_malformed_hostile(tmp_path):
    write(tmp_path / "node_modules/empty/package.json", "")
    write(tmp_path / "node_modules/array/package.json", "[1, 2]")
    write(tmp_path / "node_modules/broken/package.json", '{"name": "broken", "version": ')
    write(tmp_path / "node_modules/nover/package.json", '{"name": "nover"}')
    write(tmp_path / "node_modules/huge/package.json", json.dumps({"name": "huge", "version": "1" * 1_000_000}))
    write(tmp_path / "node_modules/spacey/package.json", '{"name": "a b\\nc", "version": "1.0.0"}')
    write(tmp_path / "node_modules/typed/package.json", '{"name": 42, "version": ["1"]}')
    write(tmp_path / "node_modules/ok/package.json", '{"name": "ok", "version": "1.0.0", "license": 7}')
    sbom = catalog_dir(tmp_path, "javascript")
    assert found(sbom) == {("ok", "1.0.0")}
    assert sbom.packages[0].licenses == []
    text = warnings_text(sbom)
    for name in ("empty", "array", "broken", "nover", "huge", "spacey", "typed"):
        assert f"/node_modules/{name}/package.json: javascript-installed: malformed" in text
    assert len(sbom.warnings) == 7


# --- package-lock.json: written corners ---------------------------------------------------------------


def test_package_lock_v3_workspaces_links_aliases(tmp_path):
    write(tmp_path / "package-lock.json", json.dumps({
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "app", "version": "1.0.0"},
            "packages/lib": {"name": "@app/lib", "version": "0.0.1"},
            "node_modules/@app/lib": {"resolved": "packages/lib", "link": True},
            "node_modules/alias": {"name": "real-pkg", "version": "1.2.3", "license": "BSD-2-Clause"},
            "node_modules/x": {"version": "1.0.0", "dev": True},
            "node_modules/y/node_modules/x": {"version": "1.0.0"},
            "packages/lib/node_modules/z": {"version": "2.0.0", "devOptional": True},
            "node_modules/gitdep": {"version": "0.5.0", "resolved": "git+ssh://git@example.invalid/g.git#abc"},
            "node_modules/@s/n": {"version": "3.0.0"},
            "node_modules/nover": {"resolved": "https://example.invalid/nover.tgz"},
            "node_modules/odd": "not an object",
        },
        "dependencies": {"ignored": {"version": "9.9.9"}},
    }))
    sbom = catalog_dir(tmp_path, "javascript")
    assert found(sbom) == {("real-pkg", "1.2.3"), ("x", "1.0.0"), ("z", "2.0.0"), ("gitdep", "0.5.0"),
                           ("@s/n", "3.0.0")}
    x = next(p for p in sbom.packages if p.name == "x")
    assert x.metadata == {}  # needed outside development too (the nested copy)
    assert next(p for p in sbom.packages if p.name == "real-pkg").licenses == ["BSD-2-Clause"]
    assert "skipped 1 entries" in warnings_text(sbom)  # nover


def test_package_lock_v1_nested_git_and_aliases(tmp_path):
    write(tmp_path / "npm-shrinkwrap.json", json.dumps({
        "lockfileVersion": 1,
        "dependencies": {
            "a": {"version": "1.0.0", "dependencies": {"b": {"version": "2.0.0", "dev": True,
                                                             "dependencies": {"c": {"version": "3.0.0"}}}}},
            "al": {"version": "npm:@real/pkg@4.0.0"},
            "g": {"version": "git+https://example.invalid/g.git#abcdef", "from": "git+https://example.invalid/g"},
            "f": {"version": "file:../f"},
            "t": {"version": "https://example.invalid/t.tgz"},
        },
    }))
    sbom = catalog_dir(tmp_path, "javascript")
    assert found(sbom) == {("a", "1.0.0"), ("b", "2.0.0"), ("c", "3.0.0"), ("@real/pkg", "4.0.0")}
    assert [p.name for p in sbom.packages if p.metadata.get("dev")] == ["b"]
    assert not sbom.warnings


def test_package_lock_deeply_nested_v1(tmp_path):
    level: dict = {}
    top = level
    for i in range(400):
        nxt: dict = {}
        level[f"p{i}"] = {"version": "1.0.0", "dependencies": nxt}
        level = nxt
    write(tmp_path / "a/package-lock.json", json.dumps({"lockfileVersion": 1, "dependencies": top}))
    write(tmp_path / "b/package-lock.json", '{"dependencies": ' * 200_000 + "{}" + "}" * 200_000)
    sbom = catalog_dir(tmp_path, "javascript")
    assert len(found(sbom)) == 400
    assert "/b/package-lock.json: javascript-package-lock: malformed" in warnings_text(sbom)


@pytest.mark.parametrize(
    ("content", "warned"),
    [("", True), ("{}", False), ('{"lockfileVersion": 3, "packages": {}}', False), ("[]", True),
     ('{"dependencies": []}', True), ("{broken", True), (b"\xff\xfe{}", True)],
)
def test_package_lock_empty_and_malformed(tmp_path, content, warned):
    write(tmp_path / "package-lock.json", content)
    sbom = catalog_dir(tmp_path, "javascript")
    assert sbom.packages == []
    assert bool(sbom.warnings) == warned


def test_package_lock_hostile_names_and_versions(tmp_path):
    write(tmp_path / "package-lock.json", json.dumps({"lockfileVersion": 3, "packages": {
        "node_modules/huge": {"version": "1." * 500_000},
        "node_modules/ctl": {"version": "1.0.0\u0000\u001b[2J"},
        "node_modules/sp ace": {"version": "1.0.0"},
        "node_modules/" + "n" * 300: {"version": "1.0.0"},
        "node_modules/@/x": {"version": "1.0.0"},
        "node_modules/ünï-cødé": {"version": "1.0.0"},
        "node_modules/fine": {"version": "1.0.0-beta.1+build.5"},
    }}))
    sbom = catalog_dir(tmp_path, "javascript")
    assert found(sbom) == {("ünï-cødé", "1.0.0"), ("fine", "1.0.0-beta.1+build.5")}
    assert "skipped 5 entries" in warnings_text(sbom)
    uni = next(p for p in sbom.packages if p.name == "ünï-cødé")
    assert uni.purl.lower().startswith("pkg:npm/%c3%bcn")  # percent-encoded, not raw


# --- yarn.lock: written corners -----------------------------------------------------------------------

YARN_CLASSIC = """\
# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.
# yarn lockfile v1


"@babel/code-frame@^7.0.0", "@babel/code-frame@^7.10.4":
  version "7.12.13"
  resolved "https://registry.yarnpkg.com/@babel/code-frame/-/code-frame-7.12.13.tgz#dcfc826beef65e75c50e21d3837d7d95798dd658"
  integrity sha512-HV1Cm0Q3ZrpCR93tkWOYiuYIgLxZXZFVG2VgK+MBWjUqZTundupbfx2aXarXuw5Ko5aMcjtJgbSs4vUGBS5v6g==
  dependencies:
    "@babel/highlight" "^7.12.13"

abbrev@1, abbrev@^1.0.0:
  version "1.1.1"
  resolved "https://registry.yarnpkg.com/abbrev/-/abbrev-1.1.1.tgz"

my-alias@npm:left-pad@1.3.0:
  version "1.3.0"

local-lib@file:./libs/local:
  version "0.0.1"

linked@link:../linked:
  version "0.0.0"

gitdep@https://example.invalid/gitdep.git#v2.0.0:
  version "2.0.0"
  resolved "https://example.invalid/gitdep.git#abcdef"

noversion@^1.0.0:
  resolved "https://registry.yarnpkg.com/noversion/-/noversion-1.0.0.tgz"
"""


def test_yarn_classic_corners(tmp_path):
    write(tmp_path / "yarn.lock", YARN_CLASSIC)
    sbom = catalog_dir(tmp_path, "javascript")
    assert found(sbom) == {("@babel/code-frame", "7.12.13"), ("abbrev", "1.1.1"), ("left-pad", "1.3.0"),
                           ("gitdep", "2.0.0")}
    assert "skipped 1 entries" in warnings_text(sbom)  # noversion


def test_yarn_classic_stray_lines_keep_the_rest(tmp_path):
    write(tmp_path / "yarn.lock", 'a@^1:\n  version "1.0.0"\n\nthis line is junk\n  version "6.6.6"\n'
                                  '  resolved "x"\n\nb@^2:\n  version "2.0.0"\n')
    sbom = catalog_dir(tmp_path, "javascript")
    assert found(sbom) == {("a", "1.0.0"), ("b", "2.0.0")}
    assert [w.reason for w in sbom.warnings] == ["javascript-yarn-lock: 1 line(s) not understood (first at line 4)"]


YARN_BERRY = """\
__metadata:
  version: 8
  cacheKey: 10c0

"app@workspace:.":
  version: 0.0.0-use.local
  resolution: "app@workspace:."
  languageName: unknown
  linkType: soft

"@scope/pkg@npm:^1.0.0, @scope/pkg@npm:^1.1.0":
  version: 1.2.0
  resolution: "@scope/pkg@npm:1.2.0"
  languageName: node
  linkType: hard

"typescript@patch:typescript@npm%3A^5.0.0#optional!builtin<compat/typescript>":
  version: 5.4.5
  resolution: "typescript@patch:typescript@npm%3A5.4.5#optional!builtin<compat/typescript>::version=5.4.5&hash=5adc0c"
  languageName: node
  linkType: hard

"typescript@npm:^5.0.0":
  version: 5.4.5
  resolution: "typescript@npm:5.4.5"
  languageName: node
  linkType: hard

"lnk@link:../lnk::locator=app%40workspace%3A.":
  version: 0.0.0-use.local
  resolution: "lnk@link:../lnk::locator=app%40workspace%3A."
  languageName: node
  linkType: soft

"ptl@portal:../ptl::locator=app%40workspace%3A.":
  version: 0.0.0-use.local
  resolution: "ptl@portal:../ptl::locator=app%40workspace%3A."
  languageName: node
  linkType: soft

"gitdep@https://example.invalid/gitdep.git#commit=abc":
  version: 2.1.0
  resolution: "gitdep@https://example.invalid/gitdep.git#commit=abc"
  languageName: node
  linkType: hard

"alias@npm:left-pad@1.3.0":
  version: 1.3.0
  resolution: "left-pad@npm:1.3.0"
  languageName: node
  linkType: hard

"nores@npm:1.0.0":
  version: 1.0.0
"""


def test_yarn_berry_corners(tmp_path):
    write(tmp_path / "yarn.lock", YARN_BERRY)
    sbom = catalog_dir(tmp_path, "javascript")
    assert found(sbom) == {("@scope/pkg", "1.2.0"), ("typescript", "5.4.5"), ("gitdep", "2.1.0"),
                           ("left-pad", "1.3.0")}
    assert "skipped 1 entries" in warnings_text(sbom)  # nores


@pytest.mark.parametrize(
    ("content", "warned"),
    [("", False), ("# yarn lockfile v1\n\n", False), ("__metadata:\n  version: 8\n", False),
     ("this is not a lockfile {{{", True), ("  indented: first\n", True), ("__metadata:\n  - [unclosed\n", True),
     ("__metadata: 1\n---\n- a\n", False)],
)
def test_yarn_lock_empty_and_malformed(tmp_path, content, warned):
    write(tmp_path / "yarn.lock", content)
    sbom = catalog_dir(tmp_path, "javascript")
    assert sbom.packages == []
    assert bool(sbom.warnings) == warned, warnings_text(sbom)


def test_yarn_lock_hostile(tmp_path):
    write(tmp_path / "a/yarn.lock", 'x@^1:\n  version "' + "9" * 2_000_000 + '"\nok@^1:\n  version "1.0.0"\n')
    write(tmp_path / "b/yarn.lock", "__metadata:\n  version: 8\n"
          + "".join(f'"p{i}@npm:1": {{resolution: "p{i} @npm:1.0.0", version: "1.0.0"}}\n' for i in range(3))
          + '"q@npm:1": {resolution: "q@npm:1.0.0"}\n')
    sbom = catalog_dir(tmp_path, "javascript")
    assert found(sbom) == {("ok", "1.0.0"), ("q", "1.0.0")}
    text = warnings_text(sbom)
    assert "/a/yarn.lock: javascript-yarn-lock: skipped 1 entries" in text
    assert "/b/yarn.lock: javascript-yarn-lock: skipped 3 entries" in text


# --- pnpm-lock.yaml: written corners ------------------------------------------------------------------

PNPM_V5 = """\
lockfileVersion: 5.4

importers:
  .:
    specifiers:
      react-dom: 18.2.0
    dependencies:
      react-dom: 18.2.0_react@18.2.0
      lib: link:packages/lib

packages:

  /react-dom/18.2.0_react@18.2.0:
    resolution: {integrity: sha512-x}
    dev: false

  /@types/react/18.0.0_@types+prop-types@15.7.5:
    resolution: {integrity: sha512-x}
    dev: true

  /react/18.2.0:
    resolution: {integrity: sha512-x}

  registry.example.invalid/private-pkg/1.0.0:
    resolution: {tarball: https://registry.example.invalid/private-pkg/-/private-pkg-1.0.0.tgz}
    name: private-pkg
    version: 1.0.0

  github.com/user/repo/abcdef:
    resolution: {tarball: https://codeload.github.com/user/repo/tar.gz/abcdef}
    name: repo-pkg
    version: 0.3.0

  file:packages/local:
    resolution: {directory: packages/local, type: directory}
    name: local
    version: 0.0.1

  example.invalid/nameless/1.0.0:
    resolution: {tarball: x}
"""

PNPM_V6 = """\
lockfileVersion: '6.0'

dependencies:
  '@scope/a':
    specifier: ^1.0.0
    version: 1.0.0(react@18.2.0)

packages:

  /@scope/a@1.0.0(react@18.2.0)(react-dom@18.2.0):
    resolution: {integrity: sha512-x}
    dev: false

  /b@2.0.0:
    resolution: {integrity: sha512-x}
    dev: true

  /c@3.0.0-rc.1:
    resolution: {integrity: sha512-x}

  '@registry.example.invalid/d@4.0.0':
    resolution: {tarball: x}
    name: d
    version: 4.0.0
"""

PNPM_V9 = """\
lockfileVersion: '9.0'

importers:
  .:
    dependencies:
      a:
        specifier: ^1.0.0
        version: 1.0.0(b@2.0.0)
      al:
        specifier: npm:real@3.0.0
        version: real@3.0.0
      lib:
        specifier: workspace:*
        version: link:packages/lib
    devDependencies:
      b:
        specifier: 2.0.0
        version: 2.0.0
      d:
        specifier: 5.0.0
        version: 5.0.0

packages:

  a@1.0.0:
    resolution: {integrity: sha512-x}
    peerDependencies:
      b: '*'

  b@2.0.0:
    resolution: {integrity: sha512-x}

  real@3.0.0:
    resolution: {integrity: sha512-x}

  d@5.0.0:
    resolution: {integrity: sha512-x}

  e@6.0.0:
    resolution: {integrity: sha512-x}

  gitdep@https://codeload.github.com/u/r/tar.gz/abc:
    resolution: {tarball: https://codeload.github.com/u/r/tar.gz/abc}
    version: 7.0.0

  loc@file:packages/loc:
    resolution: {directory: packages/loc, type: directory}
    version: 0.0.1

snapshots:

  a@1.0.0(b@2.0.0):
    dependencies:
      b: 2.0.0

  b@2.0.0: {}

  real@3.0.0: {}

  d@5.0.0:
    dependencies:
      e: 6.0.0

  e@6.0.0: {}
"""


def test_pnpm_v5_corners(tmp_path):
    write(tmp_path / "pnpm-lock.yaml", PNPM_V5)
    sbom = catalog_dir(tmp_path, "javascript")
    assert found(sbom) == {("react-dom", "18.2.0"), ("@types/react", "18.0.0"), ("react", "18.2.0"),
                           ("private-pkg", "1.0.0"), ("repo-pkg", "0.3.0")}
    assert [p.name for p in sbom.packages if p.metadata.get("dev")] == ["@types/react"]
    assert "skipped 1 entries" in warnings_text(sbom)  # nameless


def test_pnpm_v6_corners(tmp_path):
    write(tmp_path / "pnpm-lock.yaml", PNPM_V6)
    sbom = catalog_dir(tmp_path, "javascript")
    assert found(sbom) == {("@scope/a", "1.0.0"), ("b", "2.0.0"), ("c", "3.0.0-rc.1"), ("d", "4.0.0")}
    assert [p.name for p in sbom.packages if p.metadata.get("dev")] == ["b"]
    assert not sbom.warnings


def test_pnpm_v9_corners_and_dev_reachability(tmp_path):
    write(tmp_path / "pnpm-lock.yaml", PNPM_V9)
    sbom = catalog_dir(tmp_path, "javascript")
    assert found(sbom) == {("a", "1.0.0"), ("b", "2.0.0"), ("real", "3.0.0"), ("d", "5.0.0"), ("e", "6.0.0"),
                           ("gitdep", "7.0.0")}
    # b is a peer of a production dependency; d and e are reached only from devDependencies
    assert sorted(p.name for p in sbom.packages if p.metadata.get("dev")) == ["d", "e"]
    assert not sbom.warnings


@pytest.mark.parametrize(
    ("content", "warned"),
    [("", True), ("lockfileVersion: '9.0'\n", False), ("lockfileVersion: '9.0'\npackages: {}\n", False),
     ("packages:\n  /a@1.0.0: {}\n", True), ("lockfileVersion: 5.4\npackages: [1, 2]\n", True),
     ("lockfileVersion: '9.0'\npackages:\n  a@1.0.0: [unclosed\n", True), ("- just\n- a list\n", True)],
)
def test_pnpm_lock_empty_and_malformed(tmp_path, content, warned):
    write(tmp_path / "pnpm-lock.yaml", content)
    sbom = catalog_dir(tmp_path, "javascript")
    assert sbom.packages == []
    assert bool(sbom.warnings) == warned, warnings_text(sbom)


def test_pnpm_lock_hostile(tmp_path):
    laughs = "lockfileVersion: '9.0'\na: &a ['x', 'x', 'x', 'x', 'x', 'x', 'x', 'x', 'x']\n"
    for i in range(1, 9):
        laughs += f"l{i}: &l{i} [*{'a' if i == 1 else f'l{i - 1}'}, *{'a' if i == 1 else f'l{i - 1}'}, " \
                  f"*{'a' if i == 1 else f'l{i - 1}'}, *{'a' if i == 1 else f'l{i - 1}'}]\n"
    laughs += "importers:\n  .:\n    devDependencies: *l8\nsnapshots: *l8\npackages:\n  ok@1.0.0: {}\n"
    write(tmp_path / "a/pnpm-lock.yaml", laughs)
    write(tmp_path / "b/pnpm-lock.yaml", "lockfileVersion: '9.0'\npackages:\n  '" + "x" * 1000 + "@1.0.0': {}\n"
          "  'bad name@1.0.0': {}\n  'good@1.0.0': {}\n  '@1.0.0': {}\n  '!!python/object:os.system': {}\n")
    sbom = catalog_dir(tmp_path, "javascript")
    assert found(sbom) == {("ok", "1.0.0"), ("good", "1.0.0")}
    text = warnings_text(sbom)
    assert "/b/pnpm-lock.yaml: javascript-pnpm-lock: skipped 4 entries" in text


# --- the whole cataloger ------------------------------------------------------------------------------


def test_cataloger_declares_its_parsers():
    declared = {p.glob for p in jscat.CATALOGER.parsers if p.declared}
    assert declared == {"**/package-lock.json", "**/npm-shrinkwrap.json", "**/yarn.lock", "**/pnpm-lock.yaml"}
    installed = [p for p in jscat.CATALOGER.parsers if not p.declared]
    assert {p.name for p in installed} == {"javascript-installed"}


@pytest.mark.parametrize(
    ("path", "name"),
    [("/app/node_modules/a/package.json", "a"), ("/node_modules/@s/b/package.json", "@s/b"),
     ("/node_modules/a/node_modules/@s/c/package.json", "@s/c"), ("/node_modules/@s/package.json", None),
     ("/node_modules/a/lib/package.json", None), ("/node_modules/.bin/package.json", None),
     ("/node_modules/@s/.x/package.json", None), ("/package.json", None)],
)
def test_installed_name(path, name):
    assert jscat.installed_name(path) == name


@pytest.mark.parametrize(
    ("key", "major", "expected"),
    [("/a/1.0.0", 5, ("a", "1.0.0")), ("/@s/b/2.0.0_react@18.2.0", 5, ("@s/b", "2.0.0")),
     ("/a@1.0.0", 6, ("a", "1.0.0")), ("/@s/b@2.0.0(react@18.2.0)(x@1)", 6, ("@s/b", "2.0.0")),
     ("c@3.0.0", 9, ("c", "3.0.0")), ("@s/d@4.0.0", 9, ("@s/d", "4.0.0")), ("/@s", 5, ("", "")),
     ("nover", 9, ("nover", ""))],
)
def test_pnpm_key(key, major, expected):
    assert jscat.pnpm_key(key, major) == expected


def test_lockfiles_shipped_inside_installed_packages_are_not_read(tmp_path: Path) -> None:
    pkg_dir = tmp_path / "app/node_modules/uri-js"
    pkg_dir.mkdir(parents=True)
    (pkg_dir / "package.json").write_text('{"name": "uri-js", "version": "4.4.1", "license": "BSD-2-Clause"}')
    (pkg_dir / "yarn.lock").write_text('# yarn lockfile v1\n\n\nmocha@^5.0.0:\n  version "5.2.0"\n'
                                       '  resolved "https://registry.yarnpkg.com/mocha/-/mocha-5.2.0.tgz"\n')
    (pkg_dir / "package-lock.json").write_text(
        '{"lockfileVersion": 3, "packages": {"": {}, "node_modules/chai": {"version": "4.0.0"}}}')
    sbom = catalog_dir(tmp_path, "javascript")
    assert [(p.name, p.version, p.found_by) for p in sbom.packages] == [("uri-js", "4.4.1", "javascript-installed")]
    assert sbom.warnings == []
