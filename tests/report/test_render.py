"""``render``: every format renders an empty report and a full one; an unknown format is a clear error."""

from __future__ import annotations

import json

import pytest

from threatstryker.model.finding import ScanReport
from threatstryker.report import FORMATS, render
from threatstryker.report.notes import note_lines

from .conftest import empty_report


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_both_reports(fmt: str, report: ScanReport) -> None:
    empty = render(empty_report(), fmt, console_width=100)
    full = render(report, fmt, show_suppressed=True, console_width=100)
    assert empty.endswith("\n") and full.endswith("\n")
    assert "CVE-2021-44228" not in empty and "CVE-2021-44228" in full
    assert "CVE-2023-45853" in full  # the suppressed one, shown
    if fmt != "table":
        assert isinstance(json.loads(empty), dict) and isinstance(json.loads(full), dict)


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown report format 'xml': choose one of table, json, sarif"):
        render(empty_report(), "xml")


def test_note_lines_for_stderr(report: ScanReport) -> None:
    assert note_lines(report) == [
        "Notices: 1",
        "  notice: ignore entry for CVE-2020-1234 (.threatstryker-ignore.yaml:4) expired on 2025-01-01",
        "Warnings: 1",
        "  warning: /usr/lib/x86_64-linux-gnu/libbroken.so.1: truncated ELF header",
    ]
    assert note_lines(empty_report()) == []
