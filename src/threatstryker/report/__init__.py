"""Scan report output: render a :class:`~threatstryker.model.finding.ScanReport` in one of :data:`FORMATS`,
and the ``--fail-on`` exit code.

``--fail-on`` takes a severity word other than ``unknown`` (``negligible``, ``low``, ``medium``, ``high``,
``critical``, any case); the exit code is 1 when an *active* finding (not suppressed) is at least that
severe. A finding of ``unknown`` severity ranks below every threshold, so it never fails a build. A
``partial`` report does not change the exit code: it is about findings only; the caller prints the
warnings (:func:`~threatstryker.report.notes.note_lines`; the table format includes them).

Each format's module is imported only when used, so a JSON run does not load Rich or cyclonedx-python-lib.
"""

from __future__ import annotations

from threatstryker.model.finding import SEVERITIES, ScanReport, severity_rank

__all__ = ["FAIL_ON_CHOICES", "FORMATS", "exit_code", "parse_fail_on", "render"]

FORMATS: tuple[str, ...] = ("table", "json", "sarif", "cyclonedx-json")
#: The words ``--fail-on`` accepts, lowest first (``unknown`` is not one: nothing can be "at least unknown").
FAIL_ON_CHOICES: tuple[str, ...] = tuple(s for s in SEVERITIES if s != "unknown")

#: Exit code when an active finding is at or above the ``--fail-on`` severity.
EXIT_FINDINGS = 1


def parse_fail_on(text: str) -> str:
    """The severity word ``text`` names (case and surrounding spaces ignored); ValueError names the choices."""
    word = text.strip().lower()
    if word not in FAIL_ON_CHOICES:
        raise ValueError(f"--fail-on must be one of {', '.join(FAIL_ON_CHOICES)}, not {text!r}")
    return word


def exit_code(report: ScanReport, fail_on: str | None) -> int:
    """0, or 1 when any active finding's severity is at least ``fail_on`` (None: never fail).

    ``unknown`` findings never count; suppressed findings never count; ``partial`` does not count.
    Raises ValueError when ``fail_on`` is not one of :data:`FAIL_ON_CHOICES`.
    """
    if fail_on is None:
        return 0
    threshold = severity_rank(parse_fail_on(fail_on))
    failing = any(f.suppressed is None and f.rank >= threshold for f in report.findings)
    return EXIT_FINDINGS if failing else 0


def render(report: ScanReport, fmt: str, *, show_suppressed: bool = False, console_width: int | None = None,
           color: bool = False) -> str:
    """The report as text in format ``fmt`` (one of :data:`FORMATS`).

    ``show_suppressed`` adds the suppressed findings (a second table; a ``suppressed`` list in JSON;
    results with ``suppressions`` in SARIF; vulnerabilities with an ``analysis`` in CycloneDX).
    ``console_width`` and ``color`` apply to the table only (Rich picks the width when None).
    """
    if fmt == "table":
        from threatstryker.report.table import render_table

        return render_table(report, show_suppressed=show_suppressed, width=console_width, color=color)
    if fmt == "json":
        from threatstryker.report.json_report import render_json

        return render_json(report, show_suppressed=show_suppressed)
    if fmt == "sarif":
        from threatstryker.report.sarif import render_sarif

        return render_sarif(report, show_suppressed=show_suppressed)
    if fmt == "cyclonedx-json":
        from threatstryker.report.cyclonedx import render_cyclonedx

        return render_cyclonedx(report, show_suppressed=show_suppressed)
    raise ValueError(f"unknown report format {fmt!r}: choose one of {', '.join(FORMATS)}")
