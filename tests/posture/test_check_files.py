"""Every built-in check, run on the root filesystems its ``examples`` describe: PASS on ``pass``, FAIL on
``fail``, never PASS on an empty root filesystem (a missing file is never a pass unless the check says so
and it cannot be), and the status each extra case names."""

from __future__ import annotations

from pathlib import Path

import pytest

from threatstryker.posture.engine import evaluate, load_checks
from threatstryker.posture.model import PASS, STATUSES, Check

from .rootfs import build, context

CHECKS = load_checks()


def test_check_files_load_with_unique_ids_and_enough_checks() -> None:
    ids = [c.id for c in CHECKS]
    assert len(ids) == len(set(ids))
    linux = [c for c in CHECKS if c.benchmark == "linux" and c.probe["type"] != "manual"]
    assert len(linux) >= 150, f"{len(linux)} automated Linux checks"


@pytest.mark.parametrize("check", CHECKS, ids=[c.id for c in CHECKS])
def test_examples(check: Check, tmp_path: Path) -> None:
    examples = check.examples
    if check.probe["type"] == "manual":
        assert evaluate(check, context(build(tmp_path / "empty", {}))).status == "MANUAL"
        return
    assert "pass" in examples and "fail" in examples, f"{check.id}: examples need pass and fail"
    passed = evaluate(check, context(build(tmp_path / "pass", examples["pass"]), examples["pass"]))
    assert passed.status == PASS, f"pass example: {passed.status} {passed.reason}"
    failed = evaluate(check, context(build(tmp_path / "fail", examples["fail"]), examples["fail"]))
    assert failed.status == "FAIL", f"fail example: {failed.status} {failed.reason}"
    assert failed.reason and failed.evidence, "a FAIL says why and shows the evidence"
    empty = evaluate(check, context(build(tmp_path / "empty", {})))
    assert empty.status != PASS, "an empty root filesystem must not pass"
    for i, case in enumerate(examples.get("cases") or []):
        assert case["status"] in STATUSES
        got = evaluate(check, context(build(tmp_path / f"case{i}", case["files"]), case["files"]))
        assert got.status == case["status"], f"case {i}: {got.status} {got.reason}"
