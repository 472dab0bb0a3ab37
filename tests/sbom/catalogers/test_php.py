"""The PHP cataloger on a composer.lock and installed.json written by Composer 2.5 (Debian's composer)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import catalog_dir
from threatstryker.model import Package, Sbom

DATA = Path(__file__).parent / "data" / "php"


def by_name(sbom: Sbom) -> dict[str, Package]:
    return {p.name: p for p in sbom.packages}


def write(root: Path, rel: str, content: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")


def test_composer_lock_written_by_composer() -> None:
    sbom = catalog_dir(DATA / "composer2", "php")
    locked = by_name(Sbom(sbom.target, [p for p in sbom.packages if p.found_by == "composer-lock"]))
    assert set(locked) == {"acme/log", "acme/http", "acme/testkit"}
    assert sbom.warnings == []
    log = locked["acme/log"]  # written "Acme/Log" in the lock: names are lowercased
    assert (log.ecosystem, log.version, log.licenses) == ("composer", "2.1.0", ["MIT"])
    assert log.purl == "pkg:composer/acme/log@2.1.0"
    assert log.locations[0].path == "/composer.lock"
    assert log.metadata["dev"] is False
    assert log.metadata["dist"]["reference"] == "d2842b6446548c39bd77efdd803525293481d7b1"
    http = locked["acme/http"]
    assert http.version == "v1.4.0"  # kept as written
    assert http.licenses == ["MIT", "Apache-2.0"]
    assert http.purl == "pkg:composer/acme/http@v1.4.0"
    testkit = locked["acme/testkit"]
    assert (testkit.version, testkit.metadata["dev"]) == ("0.9.0-beta2", True)


def test_composer2_installed_json() -> None:
    sbom = catalog_dir(DATA / "composer2", "php")
    installed = {p.name: p for p in sbom.packages if p.found_by == "composer-installed"}
    assert set(installed) == {"acme/log", "acme/http", "acme/testkit"}
    http = installed["acme/http"]
    assert http.locations[0].path == "/vendor/composer/installed.json"
    assert (http.version, http.metadata["version_normalized"]) == ("v1.4.0", "1.4.0.0")
    assert http.metadata["install_path"] == "../acme/http"
    assert http.metadata["dev"] is False
    assert installed["acme/testkit"].metadata["dev"] is True  # from "dev-package-names"
    assert installed["acme/testkit"].metadata["version_normalized"] == "0.9.0.0-beta2"


def test_composer1_installed_json() -> None:
    sbom = catalog_dir(DATA / "composer1", "php")
    pkgs = by_name(sbom)
    assert set(pkgs) == {"monolog/monolog", "psr/log", "symfony/polyfill-mbstring"}
    assert sbom.warnings == []
    mono = pkgs["monolog/monolog"]
    assert mono.purl == "pkg:composer/monolog/monolog@1.27.1"
    assert mono.found_by == "composer-installed"
    assert "dev" not in mono.metadata  # Composer 1 does not record it
    assert mono.metadata["source"] == {
        "type": "git", "url": "https://github.com/Seldaek/monolog.git",
        "reference": "904713c5929655dc9b97288b69cfeedad610c9a1",
    }
    poly = pkgs["symfony/polyfill-mbstring"]
    assert (poly.version, poly.licenses) == ("v1.19.0", ["MIT"])  # license given as a plain string


def test_custom_vendor_dir(tmp_path: Path) -> None:
    write(tmp_path, "app/libs/composer/installed.json",
          json.dumps({"packages": [{"name": "guzzlehttp/guzzle", "version": "7.8.1"}]}))
    sbom = catalog_dir(tmp_path, "php")
    assert [p.purl for p in sbom.packages] == ["pkg:composer/guzzlehttp/guzzle@7.8.1"]


def test_empty_inputs(tmp_path: Path) -> None:
    write(tmp_path, "a/composer.lock", "")
    write(tmp_path, "b/composer.lock", json.dumps({"packages": [], "packages-dev": []}))
    write(tmp_path, "a/vendor/composer/installed.json", "[]")
    write(tmp_path, "b/vendor/composer/installed.json", json.dumps({"packages": [], "dev": True}))
    write(tmp_path, "c/vendor/composer/installed.json", "  \n")
    sbom = catalog_dir(tmp_path, "php")
    assert sbom.packages == []
    assert sbom.warnings == []


def test_malformed_inputs(tmp_path: Path) -> None:
    write(tmp_path, "a/composer.lock", '{"packages": [')
    write(tmp_path, "b/composer.lock", '["not", "a", "lock"]')
    write(tmp_path, "c/composer.lock", '{"content-hash": "x"}')
    write(tmp_path, "a/vendor/composer/installed.json", '{"installed": []}')
    write(tmp_path, "b/vendor/composer/installed.json", '{"packages": {"a/b": "1.0"}}')
    sbom = catalog_dir(tmp_path, "php")
    assert sbom.packages == []
    warned = {w.path: w.reason for w in sbom.warnings}
    assert set(warned) == {
        "/a/composer.lock", "/b/composer.lock", "/c/composer.lock",
        "/a/vendor/composer/installed.json", "/b/vendor/composer/installed.json",
    }
    assert warned["/a/composer.lock"].startswith("composer-lock: malformed (ParseError: invalid JSON")
    assert "not an object" in warned["/b/composer.lock"]
    assert "composer-installed: malformed (ParseError" in warned["/b/vendor/composer/installed.json"]


def test_bad_entries_are_skipped_and_the_rest_kept(tmp_path: Path) -> None:
    write(tmp_path, "composer.lock", json.dumps({
        "packages": [
            {"name": "laravel/framework", "version": "v10.48.4", "license": ["MIT"]},
            {"name": "no/version"},
            "a string",
        ],
        "packages-dev": {"phpunit/phpunit": "10.5.0"},
    }))
    sbom = catalog_dir(tmp_path, "php")
    assert [(p.name, p.version) for p in sbom.packages] == [("laravel/framework", "v10.48.4")]
    reasons = sorted(w.reason for w in sbom.warnings)
    assert len(reasons) == 3
    assert any('"packages-dev" is a dict' in r for r in reasons)
    assert any("without a name and version" in r for r in reasons)
    assert any("is a str, not an object" in r for r in reasons)
