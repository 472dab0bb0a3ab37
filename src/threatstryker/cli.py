"""The command line: ``threatstryker sbom|scan|catalogers|version``."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from threatstryker import __version__
from threatstryker.model import Sbom
from threatstryker.sbom.api import scan_sbom
from threatstryker.sbom.catalogers import all_catalogers
from threatstryker.sources import TargetError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="ThreatStryker: find packages, vulnerabilities, secrets, malware and misconfigurations.",
)
err = Console(stderr=True)

#: Exit code when the target itself cannot be opened.
EXIT_TARGET = 2


class SbomFormat(StrEnum):
    table = "table"
    json = "json"
    cyclonedx_json = "cyclonedx-json"
    spdx_json = "spdx-json"


def _error(message: str) -> None:
    """One line on stderr, never wrapped, whatever the terminal width."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def _render(sbom: Sbom, fmt: SbomFormat, validate: bool = False) -> str | None:
    if fmt is SbomFormat.json:
        from threatstryker.sbom.formats.native import write_native

        return write_native(sbom)
    if fmt is SbomFormat.cyclonedx_json:
        from threatstryker.sbom.formats.cyclonedx import write_cyclonedx

        return write_cyclonedx(sbom, validate=validate)
    if fmt is SbomFormat.spdx_json:
        from threatstryker.sbom.formats.spdx import write_spdx

        return write_spdx(sbom, validate=validate)
    return None


def _scan(target: str, catalogers: str | None, exclude: list[str] | None, cross_mounts: bool,
          timeout: float | None, quiet: bool) -> Sbom:
    names = [c.strip() for c in catalogers.split(",") if c.strip()] if catalogers else None
    show = not quiet and err.is_terminal
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=err, transient=True, disable=not show) as progress:
        task = progress.add_task(f"cataloging {target}", total=None)

        def tick(seen: int, path: str) -> None:
            progress.update(task, description=f"cataloging {target}: {seen} files examined")

        try:
            return scan_sbom(target, catalogers=names, exclude=exclude or (), cross_mounts=cross_mounts,
                             timeout=timeout, progress=tick)
        except TargetError as exc:
            _error(str(exc))
            raise typer.Exit(EXIT_TARGET) from None
        except ValueError as exc:  # unknown cataloger names
            _error(str(exc))
            raise typer.Exit(EXIT_TARGET) from None


TargetArg = Annotated[str, typer.Argument(help="dir:PATH, rootfs:PATH, docker-archive:FILE, oci-dir:PATH, "
                                               "oci-archive:FILE, container:PID, sbom:FILE, or a bare path")]
CatalogersOpt = Annotated[str | None, typer.Option("--catalogers", help="Comma-separated cataloger names "
                                                                      "(see `threatstryker catalogers`)")]
ExcludeOpt = Annotated[list[str] | None, typer.Option("--exclude", help="Glob of paths to leave out (repeatable)")]
CrossOpt = Annotated[bool, typer.Option("--cross-mounts", help="Walk into other file systems mounted below the root")]
TimeoutOpt = Annotated[float | None, typer.Option("--timeout", help="Stop after this many seconds; result is "
                                                                   "marked partial")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display")]


@app.command()
def sbom(
    target: TargetArg,
    format: Annotated[SbomFormat, typer.Option("--format", "-f", help="Output format")] = SbomFormat.table,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file")] = None,
    catalogers: CatalogersOpt = None,
    exclude: ExcludeOpt = None,
    cross_mounts: CrossOpt = False,
    timeout: TimeoutOpt = None,
    quiet: QuietOpt = False,
    validate: Annotated[bool, typer.Option("--validate", help="Check CycloneDX/SPDX output against its schema "
                                                              "before writing it (slower)")] = False,
) -> None:
    """Software bill of materials of a target."""
    result = _scan(target, catalogers, exclude, cross_mounts, timeout, quiet)
    text = _render(result, format, validate)
    if text is None:
        console = Console(file=open(output, "w", encoding="utf-8") if output else sys.stdout)  # noqa: SIM115
        from threatstryker.sbom.formats.table import render_table

        render_table(result, console)
        if output:
            console.file.close()
        return
    if output:
        output.write_text(text, encoding="utf-8")
        if not quiet:
            err.print(f"wrote {len(result.packages)} packages to {output}", highlight=False)
    else:
        sys.stdout.write(text)


class ScanFormat(StrEnum):
    table = "table"
    json = "json"


@app.command()
def scan(
    target: TargetArg,
    scanners: Annotated[str, typer.Option("--scanners", help="Comma-separated: sbom")] = "sbom",
    format: Annotated[ScanFormat, typer.Option("--format", "-f")] = ScanFormat.table,
    exclude: ExcludeOpt = None,
    cross_mounts: CrossOpt = False,
    timeout: TimeoutOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run every requested scanner on a target and print a summary."""
    wanted = {s.strip() for s in scanners.split(",") if s.strip()}
    unknown = wanted - {"sbom"}
    if unknown:
        _error(f"unknown scanner(s): {', '.join(sorted(unknown))}; available: sbom")
        raise typer.Exit(EXIT_TARGET)
    result = _scan(target, None, exclude, cross_mounts, timeout, quiet)
    if format is ScanFormat.json:
        import json

        from threatstryker.sbom.formats.native import sbom_to_dict

        sys.stdout.write(json.dumps({"target": result.target.to_dict(), "sbom": sbom_to_dict(result)},
                                    indent=2) + "\n")
        return
    from threatstryker.sbom.formats.table import render_summary

    console = Console()
    console.print(f"[bold]ThreatStryker {__version__}[/bold] scan of {result.target.ref} "
                  f"({result.target.name}) with scanners: sbom", highlight=False)
    render_summary(result, console)


@app.command("catalogers")
def list_catalogers() -> None:
    """List the catalogers and the paths each one reads."""
    console = Console()
    from rich.table import Table

    table = Table(header_style="bold")
    table.add_column("Cataloger")
    table.add_column("Parser")
    table.add_column("Glob")
    table.add_column("Kind")
    for cat in all_catalogers():
        for p in cat.parsers:
            table.add_row(cat.name, p.name, p.glob, "declared" if p.declared else "installed")
        if cat.binary is not None:
            table.add_row(cat.name, f"{cat.name}-binary", "(executables)", "installed")
    console.print(table)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(f"threatstryker {__version__}")


if __name__ == "__main__":
    app()
