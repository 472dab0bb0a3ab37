"""The command line: ``threatstryker sbom|scan|catalogers|version``.

Rich is imported only when a table or a progress display is drawn, so that a JSON run in CI starts fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from threatstryker import __version__
from threatstryker.model import Sbom

#: Exit code when the target itself cannot be opened, or an option is wrong.
EXIT_TARGET = 2
SBOM_FORMATS = ("table", "json", "cyclonedx-json", "spdx-json")
SCAN_FORMATS = ("table", "json")
SCANNERS = ("sbom",)


def _error(message: str) -> None:
    """One line on stderr, whatever the terminal width."""
    click.echo(f"error: {message}", err=True)


def _render(sbom: Sbom, fmt: str, validate: bool = False) -> str | None:
    if fmt == "json":
        from threatstryker.sbom.formats.native import write_native

        return write_native(sbom)
    if fmt == "cyclonedx-json":
        from threatstryker.sbom.formats.cyclonedx import write_cyclonedx

        return write_cyclonedx(sbom, validate=validate)
    if fmt == "spdx-json":
        from threatstryker.sbom.formats.spdx import write_spdx

        return write_spdx(sbom, validate=validate)
    return None


def _scan(target: str, catalogers: str | None, exclude: tuple[str, ...], cross_mounts: bool,
          timeout: float | None, quiet: bool) -> Sbom:
    from threatstryker.sbom.api import scan_sbom
    from threatstryker.sources import TargetError

    names = [c.strip() for c in catalogers.split(",") if c.strip()] if catalogers else None

    def run(progress: Callable[[int, str], None] | None) -> Sbom:
        try:
            return scan_sbom(target, catalogers=names, exclude=exclude, cross_mounts=cross_mounts,
                             timeout=timeout, progress=progress)
        except TargetError as exc:
            _error(str(exc))
            sys.exit(EXIT_TARGET)
        except ValueError as exc:  # unknown cataloger names
            _error(str(exc))
            sys.exit(EXIT_TARGET)

    if quiet or not sys.stderr.isatty():
        return run(None)
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"cataloging {target}", total=None)
        return run(lambda seen, path: bar.update(task, description=f"cataloging {target}: {seen} files examined"))


TARGET_HELP = ("dir:PATH, rootfs:PATH, docker-archive:FILE, oci-dir:PATH, oci-archive:FILE, container:PID, "
               "sbom:FILE, or a bare path (its kind is detected)")


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by the commands that open a target."""
    for option in reversed([
        click.option("--exclude", multiple=True, metavar="GLOB", help="Leave out matching paths (repeatable)."),
        click.option("--cross-mounts", is_flag=True, help="Walk into other file systems mounted below the root."),
        click.option("--timeout", type=float, metavar="SECONDS",
                     help="Stop after this long; the result is marked partial."),
        click.option("-q", "--quiet", is_flag=True, help="No progress display."),
    ]):
        fn = option(fn)
    return fn


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="threatstryker")
def app() -> None:
    """ThreatStryker: find packages, vulnerabilities, secrets, malware and misconfigurations."""


@app.command()
@click.argument("target", metavar="TARGET")
@click.option("-f", "--format", "fmt", type=click.Choice(SBOM_FORMATS), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to this file.")
@click.option("--catalogers", metavar="NAMES", help="Comma-separated cataloger names (see `threatstryker catalogers`).")
@click.option("--validate", is_flag=True, help="Check CycloneDX/SPDX output against its schema first (slower).")
@_common
def sbom(target: str, fmt: str, output: str | None, catalogers: str | None, validate: bool,
         exclude: tuple[str, ...], cross_mounts: bool, timeout: float | None, quiet: bool) -> None:
    """Software bill of materials of TARGET."""
    result = _scan(target, catalogers, exclude, cross_mounts, timeout, quiet)
    text = _render(result, fmt, validate)
    if text is None:
        from rich.console import Console

        from threatstryker.sbom.formats.table import render_table

        if output:
            with open(output, "w", encoding="utf-8") as fh:
                render_table(result, Console(file=fh, width=200))
        else:
            render_table(result, Console())
        return
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        if not quiet:
            click.echo(f"wrote {len(result.packages)} packages to {output}", err=True)
    else:
        sys.stdout.write(text)


@app.command()
@click.argument("target", metavar="TARGET")
@click.option("--scanners", default="sbom", show_default=True, help="Comma-separated: " + ", ".join(SCANNERS))
@click.option("-f", "--format", "fmt", type=click.Choice(SCAN_FORMATS), default="table", show_default=True)
@_common
def scan(target: str, scanners: str, fmt: str, exclude: tuple[str, ...], cross_mounts: bool,
         timeout: float | None, quiet: bool) -> None:
    """Run every requested scanner on TARGET and print a summary."""
    wanted = {s.strip() for s in scanners.split(",") if s.strip()}
    unknown = wanted - set(SCANNERS)
    if unknown:
        _error(f"unknown scanner(s): {', '.join(sorted(unknown))}; available: {', '.join(SCANNERS)}")
        sys.exit(EXIT_TARGET)
    result = _scan(target, None, exclude, cross_mounts, timeout, quiet)
    if fmt == "json":
        from threatstryker.sbom.formats.native import sbom_to_dict

        sys.stdout.write(json.dumps({"target": result.target.to_dict(), "sbom": sbom_to_dict(result)},
                                    indent=2, ensure_ascii=False) + "\n")
        return
    from rich.console import Console

    from threatstryker.sbom.formats.table import render_summary

    console = Console()
    console.print(f"[bold]ThreatStryker {__version__}[/bold] scan of {result.target.ref} "
                  f"({result.target.name}) with scanners: sbom", highlight=False, markup=True)
    render_summary(result, console)


@app.command("catalogers")
def list_catalogers() -> None:
    """List the catalogers and the paths each one reads."""
    from rich.console import Console
    from rich.table import Table

    from threatstryker.sbom.catalogers import all_catalogers

    table = Table(header_style="bold")
    for col in ("Cataloger", "Parser", "Glob", "Kind"):
        table.add_column(col)
    for cat in all_catalogers():
        for p in cat.parsers:
            table.add_row(cat.name, p.name, p.glob, "declared" if p.declared else "installed")
        if cat.binary is not None:
            table.add_row(cat.name, f"{cat.name}-binary", "(executables)", "installed")
    Console().print(table)


@app.command()
def version() -> None:
    """Print the version."""
    click.echo(f"threatstryker {__version__}")


#: The vulnerability database's default location (override with --db).
DEFAULT_DB = "~/.cache/threatstryker/vuln.db"


@app.group("db")
def db_group() -> None:
    """Build and inspect the local vulnerability database."""


@db_group.command("update")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--db", "db_path", default=DEFAULT_DB, show_default=True, type=click.Path(dir_okay=False),
              help="Database file to write (replaced atomically).")
@click.option("--feed", "feeds", multiple=True, metavar="NAME",
              help="Only read this feed (osv, debian, alpine, kev, epss); repeatable.")
@click.option("-q", "--quiet", is_flag=True, help="No per-feed summary.")
def db_update(sources: tuple[str, ...], db_path: str, feeds: tuple[str, ...], quiet: bool) -> None:
    """Build the vulnerability database from local feed copies.

    Each SOURCE is a path (an OSV directory or all.zip, a Debian tracker data directory, an Alpine secdb
    directory, a KEV json/csv, an EPSS csv.gz, or a directory holding several of them), or KIND=PATH.
    """
    import os

    from threatstryker.vulndb.build import BuildError, build_database

    dest = os.path.expanduser(db_path)
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    try:
        report = build_database(list(sources), dest, set(feeds) or None)
    except BuildError as exc:
        _error(str(exc))
        sys.exit(EXIT_TARGET)
    except OSError as exc:
        _error(f"cannot write {dest}: {exc.strerror or exc}")
        sys.exit(EXIT_TARGET)
    if not quiet:
        for feed in report.feeds.values():
            click.echo(f"{feed.name:8} {feed.records:>8} records {feed.errors:>6} errors "
                       f"{feed.duration:7.1f} s", err=True)
            for message in feed.messages[:3]:
                click.echo(f"         {message}", err=True)
        for skipped in report.skipped:
            click.echo(f"skipped  {skipped} (not a known feed)", err=True)
        click.echo(f"wrote {dest} ({report.size / 1e6:.1f} MB) in {report.duration:.1f} s", err=True)


@db_group.command("status")
@click.option("--db", "db_path", default=DEFAULT_DB, show_default=True, type=click.Path(dir_okay=False),
              help="Database file to read.")
@click.option("--max-age", type=float, default=7.0, show_default=True, metavar="DAYS",
              help="Warn about feeds older than this.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def db_status(db_path: str, max_age: float, as_json: bool) -> None:
    """Show the vulnerability database's feeds, counts and ages (warning about stale ones)."""
    import os

    from threatstryker.vulndb.store import VulnDB, VulnDBError

    try:
        with VulnDB.open(os.path.expanduser(db_path)) as db:
            status = db.status()
    except VulnDBError as exc:
        _error(str(exc))
        sys.exit(EXIT_TARGET)

    def stale(age: float | None) -> bool:
        return age is None or age > max_age * 86400

    if as_json:
        click.echo(json.dumps({
            "path": status.path, "schema_version": status.schema_version,
            "built_at": status.built_at.isoformat() if status.built_at else None,
            "tool_version": status.tool_version, "size": status.size,
            "advisories": status.advisories, "affected": status.affected,
            "feeds": [{"name": f.name, "source": f.source, "records": f.records, "errors": f.errors,
                       "fetched_at": f.fetched_at.isoformat() if f.fetched_at else None,
                       "age_seconds": f.age(), "stale": stale(f.age()), "note": f.note} for f in status.feeds],
        }, indent=2))
        return
    built = status.built_at.strftime("%Y-%m-%d %H:%M UTC") if status.built_at else "unknown"
    click.echo(f"{status.path}: schema {status.schema_version}, built {built} by threatstryker "
               f"{status.tool_version}, {status.size / 1e6:.1f} MB, {status.advisories} advisories")
    for f in status.feeds:
        age = f.age()
        days = f"{age / 86400:.1f} days old" if age is not None else "age unknown"
        click.echo(f"  {f.name:8} {f.records:>8} records {f.errors:>6} errors  {days}  {f.source}")
        if stale(age):
            click.echo(f"warning: feed {f.name} is older than {max_age:g} days; run `threatstryker db update`",
                       err=True)


if __name__ == "__main__":
    app()
