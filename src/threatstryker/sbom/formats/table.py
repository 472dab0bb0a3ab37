"""Human-readable output: a Rich table of packages and a summary by ecosystem."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from threatstryker.model import Sbom


def render_table(sbom: Sbom, console: Console, limit: int | None = None) -> None:
    """Packages as a table (name, version, ecosystem, found by, location), then the summary."""
    table = Table(title=f"Packages in {sbom.target.ref}", show_lines=False, header_style="bold")
    for col in ("Name", "Version", "Ecosystem", "Found by", "Location"):
        table.add_column(col, overflow="fold")
    shown = sbom.packages if limit is None else sbom.packages[:limit]
    for p in shown:
        loc = p.locations[0].path if p.locations else ""
        table.add_row(escape(p.name), escape(p.version), p.ecosystem, p.found_by, escape(loc))
    console.print(table)
    if limit is not None and len(sbom.packages) > limit:
        console.print(f"... {len(sbom.packages) - limit} more (use --format json for all)")
    render_summary(sbom, console)


def render_summary(sbom: Sbom, console: Console) -> None:
    """Counts by ecosystem, the distro, warnings and whether the result is partial."""
    summary = Table(title="Summary", header_style="bold")
    summary.add_column("Ecosystem")
    summary.add_column("Packages", justify="right")
    for eco, n in sbom.by_ecosystem().items():
        summary.add_row(eco, str(n))
    summary.add_row("[bold]total[/bold]", f"[bold]{len(sbom.packages)}[/bold]")
    console.print(summary)
    distro = f"{sbom.distro.name or sbom.distro.id} ({sbom.distro.purl_distro})" if sbom.distro else "none detected"
    console.print(f"Distro: {distro}   Duration: {sbom.duration_s:.2f}s   Warnings: {len(sbom.warnings)}"
                  + ("   [yellow]PARTIAL RESULT[/yellow]" if sbom.partial else ""))
    for w in sbom.warnings[:10]:
        console.print(f"  [yellow]warning[/yellow] {escape(str(w))}", highlight=False)
    if len(sbom.warnings) > 10:
        console.print(f"  ... {len(sbom.warnings) - 10} more warnings (see --format json)")
