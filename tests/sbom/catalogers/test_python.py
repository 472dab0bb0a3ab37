"""The python cataloger: this venv's and the system's real installed distributions (checked against
importlib.metadata), a real zipped egg, real lockfiles made by uv, poetry, pdm and pipenv (see
data/python/README.md), pip's own vendor.txt, file ownership by dpkg, and empty, malformed and hostile input.
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.conftest import catalog_dir
from threatstryker.model import Sbom
from threatstryker.sbom.catalogers import python as pycat

DATA = Path(__file__).parent / "data" / "python"
VENV_SITE = Path(sysconfig.get_paths()["purelib"])
SYSTEM_DIST = Path("/usr/lib/python3/dist-packages")


def found(sbom: Sbom, found_by: str | None = None) -> set[tuple[str, str]]:
    return {(p.name, p.version) for p in sbom.packages if found_by is None or p.found_by == found_by}


def by_name(sbom: Sbom, name: str, found_by: str | None = None) -> list:
    return [p for p in sbom.packages if p.name == name and (found_by is None or p.found_by == found_by)]


def warnings_text(sbom: Sbom) -> str:
    return "\n".join(str(w) for w in sbom.warnings)


def importlib_view(site: Path) -> set[tuple[str, str]]:
    """What the standard library itself reads as installed in ``site`` (its top level only)."""
    out = set()
    for dist in importlib.metadata.distributions(path=[str(site)]):
        name, version = dist.metadata["Name"], dist.version
        if name and version:
            out.add((canonicalize_name(name), version))
    return out


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- installed: real site-packages --------------------------------------------------------------------


def test_venv_site_packages_match_importlib():
    sbom = catalog_dir(VENV_SITE, "python")
    installed = found(sbom, "python-installed")
    assert installed == importlib_view(VENV_SITE)
    assert ("pytest", importlib.metadata.version("pytest")) in installed
    assert not sbom.warnings, warnings_text(sbom)
    pkg = by_name(sbom, "packaging", "python-installed")[0]
    assert pkg.purl == f"pkg:pypi/packaging@{pkg.version}"
    assert pkg.locations[0].path.endswith(".dist-info/METADATA")
    assert pkg.licenses, "packaging declares its license"
    assert pkg.metadata["format"] == "dist-info"


def test_venv_names_are_pep503_normalised():
    sbom = catalog_dir(VENV_SITE, "python")
    for pkg in sbom.packages:
        assert pkg.name == canonicalize_name(pkg.name)
        assert pkg.ecosystem == "pypi"
    names = {p.name for p in sbom.packages}
    assert "pyyaml" in names  # declared as "PyYAML"
    assert "PyYAML" not in names


def test_pips_vendor_txt_lists_vendored_packages():
    vendor = VENV_SITE / "pip" / "_vendor" / "vendor.txt"
    if not vendor.is_file():
        pytest.skip("this venv's pip has no _vendor/vendor.txt")
    expected = set()
    for line in vendor.read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z0-9._-]+)==(\S+)", line)
        if m:
            expected.add((canonicalize_name(m.group(1)), m.group(2)))
    sbom = catalog_dir(vendor.parent.parent, "python")  # the pip package
    assert found(sbom, "python-vendored") == expected
    assert len(expected) > 5
    assert all(p.locations[0].path == "/_vendor/vendor.txt" for p in sbom.packages)


@pytest.mark.skipif(not SYSTEM_DIST.is_dir(), reason="no /usr/lib/python3/dist-packages on this machine")
def test_system_dist_packages_match_importlib():
    sbom = catalog_dir(SYSTEM_DIST, "python")
    assert found(sbom, "python-installed") == importlib_view(SYSTEM_DIST)
    assert not sbom.warnings, warnings_text(sbom)
    formats = {p.metadata.get("format") for p in sbom.packages if p.found_by == "python-installed"}
    assert formats <= {"dist-info", "egg-info"}


def _dpkg_owned_metadata() -> tuple[str, str] | None:
    """(package, metadata path) of a dpkg package on this host that installed Python metadata."""
    info = Path("/var/lib/dpkg/info")
    if not info.is_dir():
        return None
    for lst in sorted(info.glob("python3-*.list")):
        for line in lst.read_text(errors="replace").splitlines():
            if re.search(r"/dist-packages/[^/]+\.(dist-info/METADATA|egg-info/PKG-INFO)$", line) \
                    and Path(line).is_file():
                return lst.name.split(":")[0].removesuffix(".list"), line
    return None


def test_dpkg_installed_distribution_gets_its_owner(tmp_path):
    hit = _dpkg_owned_metadata()
    if hit is None:
        pytest.skip("no dpkg-installed Python distribution on this host")
    deb, meta_path = hit
    status = Path("/var/lib/dpkg/status").read_text(errors="replace")
    para = next(p for p in status.split("\n\n") if re.search(rf"^Package: {re.escape(deb)}$", p, re.M))
    write(tmp_path / "var/lib/dpkg/status", para + "\n")
    (tmp_path / "var/lib/dpkg/info").mkdir()
    shutil.copy(f"/var/lib/dpkg/info/{deb}.list", tmp_path / f"var/lib/dpkg/info/{deb}.list")
    meta_dir = Path(meta_path).parent
    shutil.copytree(meta_dir, tmp_path / str(meta_dir).lstrip("/"))
    sbom = catalog_dir(tmp_path, "dpkg", "python")
    debs = [p for p in sbom.packages if p.ecosystem == "deb"]
    pys = [p for p in sbom.packages if p.ecosystem == "pypi"]
    assert len(debs) == 1 and len(pys) == 1
    assert pys[0].owner == debs[0].purl
    assert pys[0].locations[0].path == meta_path


# --- installed: eggs and egg-info ---------------------------------------------------------------------


def test_zipped_egg():
    sbom = catalog_dir(DATA / "egg", "python")
    (pkg,) = sbom.packages
    assert (pkg.name, pkg.version, pkg.purl) == ("egg-demo", "1.2.0", "pkg:pypi/egg-demo@1.2.0")
    assert pkg.locations[0].path == "/Egg_Demo-1.2.0-py3.11.egg:EGG-INFO/PKG-INFO"
    assert pkg.licenses == ["MIT"]
    assert pkg.metadata["format"] == "egg"


def test_unzipped_egg_dir_and_egg_info_file(tmp_path):
    with zipfile.ZipFile(DATA / "egg" / "Egg_Demo-1.2.0-py3.11.egg") as zf:
        zf.extractall(tmp_path / "site" / "Egg_Demo-1.2.0-py3.11.egg")
        pkg_info = zf.read("EGG-INFO/PKG-INFO")
    write(tmp_path / "site" / "Other_Thing-0.9.egg-info", pkg_info.replace(b"Egg_Demo", b"Other_Thing")
          .replace(b"1.2.0", b"0.9"))
    sbom = catalog_dir(tmp_path, "python")
    assert found(sbom) == {("egg-demo", "1.2.0"), ("other-thing", "0.9")}
    egg = by_name(sbom, "egg-demo")[0]
    assert egg.locations[0].path == "/site/Egg_Demo-1.2.0-py3.11.egg/EGG-INFO/PKG-INFO"
    assert egg.metadata == {"format": "egg", "top_level": ["eggdemo"]}
    assert by_name(sbom, "other-thing")[0].metadata == {"format": "egg-info"}


def test_vendored_dist_info_is_marked_vendored(tmp_path):
    write(tmp_path / "setuptools/_vendor/packaging-24.2.dist-info/METADATA",
          "Metadata-Version: 2.3\nName: packaging\nVersion: 24.2\n\nbody\n")
    sbom = catalog_dir(tmp_path, "python")
    (pkg,) = sbom.packages
    assert (pkg.name, pkg.version, pkg.found_by) == ("packaging", "24.2", "python-vendored")


# --- installed: licenses and headers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ("License-Expression: MIT OR Apache-2.0\nLicense: BSD\n", ["MIT OR Apache-2.0"]),
        ("License: BSD-3-Clause\nClassifier: License :: OSI Approved :: MIT License\n", ["BSD-3-Clause"]),
        ("License: UNKNOWN\nClassifier: License :: OSI Approved :: MIT License\n"
         "Classifier: License :: OSI Approved :: Apache Software License\n",
         ["MIT License", "Apache Software License"]),
        ("License: Copyright (c) 2020 Someone\n        Permission is hereby granted, free of charge\n"
         "Classifier: License :: OSI Approved\nClassifier: Programming Language :: Python\n", []),
        ("", []),
    ],
)
def test_metadata_licenses(tmp_path, headers, expected):
    write(tmp_path / "x-1.0.dist-info/METADATA", f"Metadata-Version: 2.4\nName: x\nVersion: 1.0\n{headers}\nbody")
    sbom = catalog_dir(tmp_path, "python")
    assert sbom.packages[0].licenses == expected


def test_metadata_body_is_not_read(tmp_path):
    # The body follows the first empty line; a header-looking line in it must not count.
    write(tmp_path / "x-1.0.dist-info/METADATA",
          "Metadata-Version: 2.1\nName: real-name\nVersion: 1.0\n\nName: body-name\nVersion: 9\n" + "x" * 100_000)
    sbom = catalog_dir(tmp_path, "python")
    assert found(sbom) == {("real-name", "1.0")}


def test_read_headers_stops_at_limit():
    import io

    stream = io.BytesIO(b"Name: a\nVersion: 1\nDescription: " + b"y" * 10_000_000)
    text = pycat.read_headers(stream, limit=4096)
    assert len(text) <= 4096
    assert text.startswith("Name: a\nVersion: 1\n")


# --- installed: empty, malformed, hostile -------------------------------------------------------------


def test_empty_metadata_is_reported(tmp_path):
    write(tmp_path / "x-1.0.dist-info/METADATA", "")
    write(tmp_path / "y-1.0.egg-info", "")
    sbom = catalog_dir(tmp_path, "python")
    assert sbom.packages == []
    assert len(sbom.warnings) == 2
    assert all("malformed" in w.reason and "no Name or Version" in w.reason for w in sbom.warnings)


def test_malformed_metadata_and_eggs(tmp_path):
    write(tmp_path / "a-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nVersion: 1.0\n")  # no Name
    write(tmp_path / "b-1.0.dist-info/METADATA", b"\xff\xfe\x00garbage\x00\n\x01\x02")
    write(tmp_path / "c-1.0-py3.11.egg", b"PK\x03\x04 this is not really a zip")
    with zipfile.ZipFile(tmp_path / "d-1.0-py3.11.egg", "w") as zf:
        zf.writestr("d/__init__.py", "")
    write(tmp_path / "ok-2.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: ok\nVersion: 2.0\n")
    sbom = catalog_dir(tmp_path, "python")
    assert found(sbom) == {("ok", "2.0")}
    text = warnings_text(sbom)
    assert "/a-1.0.dist-info/METADATA" in text
    assert "/b-1.0.dist-info/METADATA" in text
    assert "not a zip archive" in text
    assert "no EGG-INFO/PKG-INFO inside" in text


def test_hostile_metadata_does_not_crash(tmp_path):
    write(tmp_path / "huge-1.0.dist-info/METADATA", "Name: huge\nVersion: " + "1" * 5_000_000 + "\n")
    write(tmp_path / "ctl-1.0.dist-info/METADATA", "Name: ctl\nVersion: 1.0\x00\x1b[31m\n")
    write(tmp_path / "weird-1.0.dist-info/METADATA", "Name: ../../etc/passwd\nVersion: 1.0\n")
    write(tmp_path / "uni-1.0.dist-info/METADATA", "Name: pâckage\nVersion: 1.0\n")
    write(tmp_path / "fine-1.0.dist-info/METADATA", "Name: Fine_Pkg\nVersion: 1.0rc1+local.7\n")
    sbom = catalog_dir(tmp_path, "python")
    assert found(sbom) == {("fine-pkg", "1.0rc1+local.7")}
    assert len(sbom.warnings) == 4
    assert all("implausible" in w.reason for w in sbom.warnings)


# --- requirements -------------------------------------------------------------------------------------


def test_real_uv_compiled_requirements_with_hashes():
    sbom = catalog_dir(DATA / "requirements", "python")
    assert found(sbom, "python-requirements") == {
        ("attrs", "26.1.0"), ("pysocks", "1.7.1"), ("python-dateutil", "2.9.0.post0"),
        ("six", "1.17.0"), ("urllib3", "2.2.1"),
    }
    assert not sbom.warnings, warnings_text(sbom)


REQUIREMENTS = """\
# a comment line
Django==4.2.11          # trailing comment
requests[socks,security] == 2.31.0 ; python_version >= "3.8"
pywin32===306; sys_platform == "win32"
numpy>=1.24             # a range: not a pinned version
flask                   # no version at all
celery==5.*             # a wildcard is no pin
six==1.16.0,<2          # two specifiers: not an exact pin
-e ./local/package
-e git+https://example.invalid/repo.git#egg=repo
./wheels/some-1.0-py3-none-any.whl
https://example.invalid/pkg-2.0.tar.gz
pkg @ https://example.invalid/pkg-3.0.tar.gz
--index-url https://example.invalid/simple
-c constraints.txt
cryptography==42.0.5 \\
    --hash=sha256:aaaa \\
    --hash=sha256:bbbb
Jinja2==3.1.3 --config-settings=x=y
-r common.in
"""


def test_requirements_lines(tmp_path):
    write(tmp_path / "requirements.txt", REQUIREMENTS)
    write(tmp_path / "common.in", "attrs==23.2.0\n-r requirements.txt\n")  # an include cycle
    write(tmp_path / "constraints.txt", "idna==3.6\n")  # -c is not a requirement
    sbom = catalog_dir(tmp_path, "python")
    assert found(sbom) == {
        ("django", "4.2.11"), ("requests", "2.31.0"), ("pywin32", "306"), ("cryptography", "42.0.5"),
        ("jinja2", "3.1.3"), ("attrs", "23.2.0"),
    }
    assert not sbom.warnings, warnings_text(sbom)
    req = by_name(sbom, "requests")[0]
    assert req.metadata == {"extras": ["security", "socks"], "markers": 'python_version >= "3.8"'}
    assert by_name(sbom, "pywin32")[0].metadata["markers"] == 'sys_platform == "win32"'
    assert by_name(sbom, "attrs")[0].locations[0].path == "/common.in"
    assert by_name(sbom, "django")[0].locations[0].path == "/requirements.txt"
    assert all(p.purl == f"pkg:pypi/{p.name}@{p.version}" for p in sbom.packages)


def test_requirements_includes(tmp_path):
    write(tmp_path / "app/requirements-dev.txt", "-r requirements-base.txt\n-rshared/more.txt\n"
          "--requirement=../../../../../etc/outside.txt\n-r missing.txt\n-r https://example.invalid/r.txt\n"
          "pytest==8.0.0\n")
    write(tmp_path / "app/requirements-base.txt", "flask==3.0.2\nnot ( valid\n")
    write(tmp_path / "app/shared/more.txt", "click==8.1.7\n")
    write(tmp_path / "app/requirements/prod.txt", "gunicorn==21.2.0\n")
    sbom = catalog_dir(tmp_path, "python")
    assert found(sbom) == {("pytest", "8.0.0"), ("flask", "3.0.2"), ("click", "8.1.7"), ("gunicorn", "21.2.0")}
    # requirements-base.txt is read once, on its own; more.txt through the include
    assert [p.locations[0].path for p in by_name(sbom, "flask")] == ["/app/requirements-base.txt"]
    assert by_name(sbom, "click")[0].locations[0].path == "/app/shared/more.txt"
    text = warnings_text(sbom)
    assert text.count("outside the tree") == 2
    assert "'missing.txt' not found" in text
    assert text.count("/app/requirements-base.txt: python-requirements: 1 line(s) not understood") == 1


def test_requirements_empty_and_malformed(tmp_path):
    write(tmp_path / "empty/requirements.txt", "")
    write(tmp_path / "comments/requirements.txt", "# nothing here\n\n   \n")
    write(tmp_path / "bad/requirements.txt", "this is ( not a requirement\nok==1.0\n%%%==2\n")
    write(tmp_path / "binary/requirements.txt", b"\x00\x01\x02\xff\xfe==\x00")
    sbom = catalog_dir(tmp_path, "python")
    assert found(sbom) == {("ok", "1.0")}
    text = warnings_text(sbom)
    assert "/bad/requirements.txt: python-requirements: 2 line(s) not understood (first at line 1)" in text
    assert "/binary/requirements.txt" in text
    assert "/empty/" not in text and "/comments/" not in text


def test_requirements_hostile(tmp_path):
    write(tmp_path / "a/requirements.txt", "x==" + "9" * 1_000_000 + "\nfine==1\n")
    write(tmp_path / "b/requirements.txt", "y==1.0 \\\n" * 10_000 + "\n")
    write(tmp_path / "c/requirements.txt", "z==1\n" * 5_000_000)  # over the 4 MiB read limit
    sbom = catalog_dir(tmp_path, "python")
    assert ("fine", "1") in found(sbom)
    assert ("x", "9" * 1_000_000) not in found(sbom)
    text = warnings_text(sbom)
    assert "/a/requirements.txt" in text
    assert "/c/requirements.txt" in text and "read limit" in text


# --- lockfiles (real, made by the tools themselves) ---------------------------------------------------

LOCKED = {("attrs", "26.1.0"), ("iniconfig", "2.0.0"), ("pysocks", "1.7.1"), ("python-dateutil", "2.9.0.post0"),
          ("urllib3", "2.2.1")}


@pytest.mark.parametrize(
    ("tool", "found_by", "six"),
    [
        ("uv", "python-uv-lock", "1.16.0"),
        ("poetry", "python-poetry-lock", "1.16.0"),
        ("pdm", "python-pdm-lock", "1.16.0"),
        ("pipenv", "python-pipfile-lock", "1.17.0"),
    ],
)
def test_real_lockfiles(tool, found_by, six):
    sbom = catalog_dir(DATA / tool, "python")
    assert found(sbom, found_by) == LOCKED | {("six", six)}
    assert not sbom.warnings, warnings_text(sbom)
    assert {p.found_by for p in sbom.packages} == {found_by}
    # the project itself and its local path dependency "mylib" are the project's own code
    assert not by_name(sbom, "demo-app") and not by_name(sbom, "mylib")
    dev = {p.name for p in sbom.packages if p.metadata.get("dev")}
    assert dev == {"iniconfig"}
    lock = sbom.packages[0].locations[0].path
    assert lock in {"/uv.lock", "/poetry.lock", "/pdm.lock", "/Pipfile.lock"}


def test_pdm_extras_entry_is_not_a_second_package():
    sbom = catalog_dir(DATA / "pdm", "python")
    assert len(by_name(sbom, "urllib3")) == 1


def test_poetry_1x_lock_categories(tmp_path):
    write(tmp_path / "poetry.lock", """\
[[package]]
name = "Flask"
version = "2.0.1"
description = "A simple framework"
category = "main"
optional = false
python-versions = ">=3.6"

[[package]]
name = "pytest"
version = "7.0.0"
category = "dev"
optional = false
python-versions = ">=3.6"

[[package]]
name = "fork"
version = "1.0.0"
category = "main"
optional = true
python-versions = "*"

[package.source]
type = "git"
url = "https://example.invalid/fork.git"
reference = "main"
resolved_reference = "abc123"

[metadata]
lock-version = "1.1"
python-versions = "^3.8"
content-hash = "x"
""")
    sbom = catalog_dir(tmp_path, "python")
    assert found(sbom) == {("flask", "2.0.1"), ("pytest", "7.0.0"), ("fork", "1.0.0")}
    assert by_name(sbom, "pytest")[0].metadata == {"dev": True}
    assert by_name(sbom, "fork")[0].metadata == {"optional": True, "source": "git"}


def test_pipfile_lock_git_entries_and_custom_categories(tmp_path):
    write(tmp_path / "Pipfile.lock", """{
      "_meta": {"pipfile-spec": 6},
      "default": {"requests": {"version": "==2.31.0"}, "mylib": {"editable": true, "path": "."},
                  "forked": {"git": "https://example.invalid/x.git", "ref": "abc"}},
      "develop": {"pytest": {"version": "==8.0.0"}, "requests": {"version": "==2.31.0"}},
      "docs": {"sphinx": {"version": "===7.2.6"}}
    }""")
    sbom = catalog_dir(tmp_path, "python")
    assert found(sbom) == {("requests", "2.31.0"), ("pytest", "8.0.0"), ("sphinx", "7.2.6")}
    assert by_name(sbom, "requests")[0].metadata == {}
    assert by_name(sbom, "pytest")[0].metadata == {"dev": True}
    assert by_name(sbom, "sphinx")[0].metadata == {"category": "docs"}


@pytest.mark.parametrize("lock", ["uv.lock", "poetry.lock", "pdm.lock"])
def test_empty_toml_lockfiles(tmp_path, lock):
    write(tmp_path / lock, "")
    sbom = catalog_dir(tmp_path, "python")
    assert sbom.packages == [] and sbom.warnings == []


@pytest.mark.parametrize("lock", ["uv.lock", "poetry.lock", "pdm.lock"])
def test_malformed_toml_lockfiles(tmp_path, lock):
    write(tmp_path / "a" / lock, "[[package]\nname = 'x'\n")
    write(tmp_path / "b" / lock, "package = 'not a table'\n")
    write(tmp_path / "c" / lock, "[[package]]\nname = 'ok'\nversion = '1.0'\nsource = { registry = 'x' }\n"
                                 "[[package]]\nname = 'no-version'\n"
                                 "[[package]]\nname = 'bad name!'\nversion = '1'\n"
                                 "[[package]]\nname = 'big'\nversion = '" + "1" * 100_000 + "'\n")
    sbom = catalog_dir(tmp_path, "python")
    assert found(sbom) == {("ok", "1.0")}
    text = warnings_text(sbom)
    assert f"/a/{lock}" in text and "invalid TOML" in text
    assert f"/b/{lock}" in text and "not an array of tables" in text
    # uv skips version-less entries silently (dynamic versions); the others count them as invalid
    assert re.search(rf"/c/{re.escape(lock)}: python-\w+-lock: skipped [23] entries", text)


@pytest.mark.parametrize("content", ["", "[]", "{not json", '{"default": []}'])
def test_empty_and_malformed_pipfile_lock(tmp_path, content):
    write(tmp_path / "Pipfile.lock", content)
    sbom = catalog_dir(tmp_path, "python")
    assert sbom.packages == []
    if content == '{"default": []}':
        assert sbom.warnings == []
    else:
        assert len(sbom.warnings) == 1 and "malformed" in sbom.warnings[0].reason


# --- the whole cataloger ------------------------------------------------------------------------------


def test_cataloger_declares_its_parsers():
    declared = {p.glob for p in pycat.CATALOGER.parsers if p.declared}
    assert declared == {"**/*requirements*.txt", "**/requirements/*.txt", "**/poetry.lock", "**/Pipfile.lock",
                        "**/uv.lock", "**/pdm.lock"}
    assert pycat.CATALOGER.name == "python"


def test_markers_are_kept_not_evaluated():
    # a marker false for the scanning interpreter still lists the package: the target is not this host
    req, version = pycat.pinned('legacy==1.0 ; python_version < "3"')
    assert version == "1.0" and req is not None and str(req.marker) == 'python_version < "3"'


def test_any_requirements_txt_name_is_claimed(tmp_path: Path) -> None:
    write(tmp_path / "p/dev-requirements.txt", "flake8==5.0.4\n")
    write(tmp_path / "p/build-requirements.txt", "mypy==1.11.2; python_version >= '3.8'\n")
    write(tmp_path / "p/requirements-test.txt", "pytest==8.0.0\n")
    write(tmp_path / "p/notes.txt", "black==23.3.0\n")
    sbom = catalog_dir(tmp_path, "python")
    assert sorted((p.name, p.version) for p in sbom.packages) == [
        ("flake8", "5.0.4"), ("mypy", "1.11.2"), ("pytest", "8.0.0")]
