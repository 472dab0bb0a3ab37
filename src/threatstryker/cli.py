"""The command line: ``threatstryker sbom|scan|catalogers|version``.

Rich is imported only when a table or a progress display is drawn, so that a JSON run in CI starts fast.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from threatstryker import __version__
from threatstryker.model import Sbom
from threatstryker.report import FAIL_ON_CHOICES
from threatstryker.scan import DEFAULT_DB, DEFAULT_IGNORE_FILE, SCANNERS

#: Exit code when the target itself cannot be opened, or an option is wrong.
EXIT_TARGET = 2
SBOM_FORMATS = ("table", "json", "cyclonedx-json", "spdx-json")
SCAN_FORMATS = ("table", "json", "sarif", "cyclonedx-json")


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


def _run_scan(target: str, options: Any, quiet: bool) -> Any:
    """``scan_target`` with a spinner while cataloging and a progress bar while reading files for secrets."""
    from threatstryker.scan import ScanError, scan_target
    from threatstryker.sources import TargetError

    def run(catalog: Any, secret: Any, malware: Any = None) -> Any:
        try:
            return scan_target(target, options, catalog_progress=catalog, secret_progress=secret,
                               malware_progress=malware)
        except (TargetError, ScanError) as exc:
            _error(str(exc))
            sys.exit(EXIT_TARGET)

    if quiet or not sys.stderr.isatty():
        return run(None, None)
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        cat_task = bar.add_task(f"cataloging {target}", total=None, visible=False)
        sec_task = bar.add_task(f"secrets in {target}", total=None, visible=False)
        mal_task = bar.add_task(f"malware in {target}", total=None, visible=False)

        def catalog(seen: int, path: str) -> None:
            bar.update(cat_task, visible=True, description=f"cataloging {target}: {seen} files examined")

        def secret(p: Any) -> None:
            bar.update(cat_task, visible=False)
            bar.update(sec_task, visible=True, total=p.bytes_total or None, completed=p.bytes_done,
                       description=f"secrets: {p.files_done}/{p.files_total} files")

        def malware(p: Any) -> None:
            bar.update(cat_task, visible=False)
            bar.update(sec_task, visible=False)
            bar.update(mal_task, visible=True, total=p.bytes_total or None, completed=p.bytes_done,
                       description=f"malware: {p.files_done}/{p.files_total} files")

        return run(catalog, secret, malware)


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
@click.option("--scanners", default="vuln", show_default=True, help="Comma-separated: " + ", ".join(SCANNERS))
@click.option("-f", "--format", "fmt", type=click.Choice(SCAN_FORMATS), default="table", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write the report to this file.")
@click.option("--db", "db_path", default=DEFAULT_DB, show_default=True, type=click.Path(dir_okay=False),
              help="Vulnerability database (see `threatstryker db update`).")
@click.option("--fail-on", type=click.Choice(FAIL_ON_CHOICES, case_sensitive=False), metavar="SEVERITY",
              help="Exit 1 when an active finding is at least this severe (" + ", ".join(FAIL_ON_CHOICES) + ").")
@click.option("--ignore-unfixed", is_flag=True, help="Leave out vulnerabilities with no fixed version.")
@click.option("--comprehensive", is_flag=True,
              help="Also match language packages installed by the OS package manager against their ecosystem.")
@click.option("--ignore-file", "ignore_files", multiple=True, type=click.Path(dir_okay=False),
              help=f"Ignore file (default: ./{DEFAULT_IGNORE_FILE} when present); repeatable.")
@click.option("--vex", "vex_files", multiple=True, type=click.Path(dir_okay=False),
              help="OpenVEX or CycloneDX VEX document; repeatable.")
@click.option("--show-suppressed", is_flag=True, help="List suppressed findings too.")
@click.option("--max-db-age", type=float, default=7.0, show_default=True, metavar="DAYS",
              help="Warn when vulnerability data is older than this.")
@click.option("--rules", "rule_paths", multiple=True, type=click.Path(exists=True),
              help="Secret rules: a YAML rule file, a gitleaks TOML config, or a directory of them; repeatable.")
@click.option("--replace-rules", is_flag=True, help="Use only the --rules given, not the built-in secret rules.")
@click.option("--baseline", type=click.Path(dir_okay=False),
              help="Suppress the secret findings listed in this baseline (see `threatstryker secrets baseline`).")
@click.option("--git", "git_history", is_flag=True, help="Scan a git repository's history for secrets.")
@click.option("--binaries", is_flag=True, help="Scan the printable strings of binary files for secrets.")
@click.option("--max-file-size", type=float, metavar="MiB",
              help="Skip larger files (reported as warnings); default 10 for secrets, 256 for malware.")
@click.option("--workers", type=int, default=0, show_default=True,
              help="Secret and malware scan worker processes (0: chosen from the amount of work).")
@click.option("--archive-depth", type=click.IntRange(0, 10), default=3, show_default=True, metavar="N",
              help="Open archives (zip, jar, tar, gz...) nested up to N deep for secrets and malware; 0: never.")
@click.option("--file-timeout", type=float, default=60.0, show_default=True, metavar="SECONDS",
              help="Give up on one file after this long (reported; the result is partial).")
@click.option("--malware-rules", "malware_rules", multiple=True, type=click.Path(exists=True),
              help="YARA rules: a .yar/.yara file or a directory of them; repeatable.")
@click.option("--no-builtin-malware-rules", is_flag=True,
              help="Use only --malware-rules, not the built-in rules and the installed rule feed.")
@click.option("--executables-only", is_flag=True,
              help="Malware: scan only executables (exec bit, ELF, PE, Mach-O, #! scripts); archives not opened.")
@click.option("--include", "include", multiple=True, metavar="GLOB",
              help="Malware: scan only paths matching this glob (repeatable).")
@click.option("--ext", "extensions", multiple=True, metavar="EXT",
              help="Malware: scan only files with this extension (repeatable, or comma-separated).")
@click.option("--file-type", "file_types", multiple=True, metavar="TYPE",
              help="Malware: scan only contents of this type: ELF, PE, Mach-O, script, text, data (repeatable).")
@click.option("--decode", "decode_depth", type=click.IntRange(0, 5), default=0, show_default=True, metavar="DEPTH",
              help="Also decode base64/hex runs this many levels deep and scan the result for secrets.")
@click.option("--show-secrets", is_flag=True,
              help="Print the clear secret values (table and JSON only; never stored anywhere else). Use with care.")
@click.option("--docker-host", metavar="URL",
              help="Posture: the Docker Engine API whose containers to check (unix:///PATH or tcp://HOST:PORT; "
                   "default on the live host: $DOCKER_HOST, else /var/run/docker.sock when present).")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), metavar="FILE",
              help="Posture: also check the workloads of the cluster this kubeconfig points at.")
@click.option("--kube-context", metavar="NAME", help="Posture: the kubeconfig context to use (default: current).")
@click.option("--framework", "frameworks", multiple=True, metavar="NAME",
              help="Posture: report per requirement of this framework (repeatable; see `threatstryker frameworks`).")
@_common
def scan(target: str, scanners: str, fmt: str, output: str | None, db_path: str, fail_on: str | None,
         ignore_unfixed: bool, comprehensive: bool, ignore_files: tuple[str, ...], vex_files: tuple[str, ...],
         show_suppressed: bool, max_db_age: float, rule_paths: tuple[str, ...], replace_rules: bool,
         baseline: str | None, git_history: bool, binaries: bool, max_file_size: float | None, workers: int,
         archive_depth: int, file_timeout: float, malware_rules: tuple[str, ...], no_builtin_malware_rules: bool,
         executables_only: bool, include: tuple[str, ...], extensions: tuple[str, ...],
         file_types: tuple[str, ...], decode_depth: int, show_secrets: bool, docker_host: str | None,
         kubeconfig: str | None, kube_context: str | None, frameworks: tuple[str, ...], exclude: tuple[str, ...],
         cross_mounts: bool, timeout: float | None, quiet: bool) -> None:
    """Run the requested scanners on TARGET and report the findings.

    Exit codes: 0 done, 1 a finding at or above --fail-on, 2 the target, an option, the database
    or an ignore/VEX file is unusable (one line on stderr says which).
    """
    from threatstryker.report import exit_code, render
    from threatstryker.report.notes import note_lines
    from threatstryker.scan import ScanOptions
    from threatstryker.secrets.scanner import SecretScanOptions

    wanted = tuple(s.strip() for s in scanners.split(",") if s.strip())
    unknown = set(wanted) - set(SCANNERS)
    if unknown or not wanted:
        _error(f"unknown scanner(s): {', '.join(sorted(unknown)) or '(none)'}; available: {', '.join(SCANNERS)}")
        sys.exit(EXIT_TARGET)
    if replace_rules and not rule_paths:
        _error("--replace-rules needs --rules")
        sys.exit(EXIT_TARGET)
    if no_builtin_malware_rules and not malware_rules:
        _error("--no-builtin-malware-rules needs --malware-rules")
        sys.exit(EXIT_TARGET)
    file_cap = int(max_file_size * 1024 * 1024) if max_file_size is not None else None
    options = ScanOptions(
        scanners=wanted, db_path=db_path, comprehensive=comprehensive, ignore_unfixed=ignore_unfixed,
        suppressions=(*ignore_files, *vex_files), max_db_age_days=max_db_age,
        secret_rules=rule_paths, replace_rules=replace_rules, baseline=baseline, git=git_history,
        exclude=exclude, cross_mounts=cross_mounts, timeout=timeout,
        secret_options=SecretScanOptions(binaries=binaries, max_file_size=file_cap or 10 * 1024 * 1024,
                                         exclude=exclude, workers=workers, timeout=timeout, reveal=show_secrets,
                                         file_timeout=file_timeout or None, archive_depth=archive_depth),
        decode_depth=decode_depth,
        malware_rules=malware_rules, builtin_malware_rules=not no_builtin_malware_rules,
        malware_options=_malware_options(wanted, file_cap, exclude, include, extensions, file_types,
                                         executables_only, workers, file_timeout, timeout, archive_depth),
        docker_host=docker_host, kubeconfig=kubeconfig, kube_context=kube_context, frameworks=frameworks,
    )
    if "vuln" in wanted:  # fail before a long catalog walk when the database is unusable
        from threatstryker.vulndb.store import VulnDB, VulnDBError

        try:
            VulnDB.open(os.path.expanduser(db_path)).close()
        except VulnDBError as exc:
            _error(str(exc))
            sys.exit(EXIT_TARGET)
    report = _run_scan(target, options, quiet)
    sbom = report.sbom
    to_terminal = output is None and sys.stdout.isatty()
    if fmt == "table":
        text = ""
        if "sbom" in wanted:
            from rich.console import Console

            from threatstryker.sbom.formats.table import render_summary

            console = Console(record=True, file=io.StringIO(), force_terminal=to_terminal,
                              width=None if to_terminal else 120)
            console.print(f"[bold]ThreatStryker {__version__}[/bold] scan of {sbom.target.ref} "
                          f"({sbom.target.name}) with scanners: {', '.join(report.scanners)}", highlight=False)
            render_summary(sbom, console)
            text = console.export_text(styles=to_terminal)
        if {"vuln", "secret", "malware", "posture"} & set(wanted):
            text += render(report, "table", show_suppressed=show_suppressed, color=to_terminal,
                           console_width=None if to_terminal else 160)
    else:
        text = render(report, fmt, show_suppressed=show_suppressed)
        if fmt == "json" and "sbom" in wanted:
            from threatstryker.sbom.formats.native import sbom_to_dict

            doc = json.loads(text)
            doc["sbom"] = sbom_to_dict(sbom)
            text = json.dumps(doc, indent=2, ensure_ascii=False)
        for line in note_lines(report):
            click.echo(line, err=True)
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text if text.endswith("\n") else text + "\n")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.exit(exit_code(report, fail_on))


def _malware_options(wanted: tuple[str, ...], file_cap: int | None, exclude: tuple[str, ...],
                     include: tuple[str, ...], extensions: tuple[str, ...], file_types: tuple[str, ...],
                     executables_only: bool, workers: int,
                     file_timeout: float, timeout: float | None, archive_depth: int) -> Any:
    """The malware scan's options (None when the malware scanner is not asked for: yara-x is not loaded)."""
    if "malware" not in wanted:
        return None
    from threatstryker.malware.scanner import DEFAULT_MAX_FILE_SIZE, MalwareScanOptions

    known = {"elf", "pe", "mach-o", "script", "text", "data"}
    types = tuple(t.strip().lower() for ft in file_types for t in ft.split(",") if t.strip())
    if set(types) - known:
        _error(f"unknown --file-type {', '.join(sorted(set(types) - known))}; known: ELF, PE, Mach-O, script, "
               "text, data")
        sys.exit(EXIT_TARGET)
    return MalwareScanOptions(
        max_file_size=file_cap or DEFAULT_MAX_FILE_SIZE, exclude=exclude, include=include, file_types=types,
        extensions=tuple(e.strip().lower().lstrip(".") for ext in extensions for e in ext.split(",") if e.strip()),
        executables_only=executables_only, workers=workers, file_timeout=file_timeout or None, timeout=timeout,
        archive_depth=archive_depth)


@app.group("rules")
def rules_group() -> None:
    """Rule sets: install a malware (YARA) rule feed, show what is installed."""


@rules_group.command("update")
@click.option("--malware", "source", required=True, metavar="URL|FILE|DIR",
              help="A YARA rule set: an https:// URL or a local archive (zip, tar.gz) or directory.")
@click.option("--sha256", metavar="HEX", help="The expected SHA-256 (of the archive, or the directory's set digest).")
@click.option("--json", "as_json", is_flag=True, help="Print what was installed as JSON.")
def rules_update(source: str, sha256: str | None, as_json: bool) -> None:
    """Download or copy a YARA rule set, verify its checksum, compile it and make it the installed feed that
    every malware scan uses with the built-in rules (swapped in atomically; a failure keeps the previous set).

    Exit codes: 0 installed, 2 not installed (one line on stderr says why)."""
    from threatstryker.malware.feed import FeedError, update

    try:
        installed = update(source, sha256=sha256)
    except (FeedError, OSError) as exc:
        _error(str(exc))
        sys.exit(EXIT_TARGET)
    info = {"path": str(installed.path), "source": installed.source, "sha256": installed.sha256,
            "verified_by": installed.verified_by, "rule_files": installed.files, "left_out": installed.errors}
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"installed {installed.files} rule files from {source} at {installed.path}")
    click.echo(f"sha256 {installed.sha256} (verified by: {installed.verified_by})")
    for error in installed.errors:
        click.echo(f"left out (does not compile): {error}", err=True)


@rules_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def rules_status(as_json: bool) -> None:
    """Show the built-in malware rules and the installed rule feed."""
    from threatstryker.malware.feed import installed_rules_dir, manifest
    from threatstryker.malware.ruleset import builtin_rules_dir, find_rule_files

    builtin, _ = find_rule_files([builtin_rules_dir()])
    current = installed_rules_dir()
    info = {"builtin": {"path": str(builtin_rules_dir()), "rule_files": len(builtin)},
            "feed": {"path": str(current), **(manifest(current) or {})} if current else None}
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"built-in malware rules: {len(builtin)} files at {builtin_rules_dir()}")
    if current is None:
        click.echo("rule feed: none installed (threatstryker rules update --malware URL|FILE|DIR)")
        return
    m = manifest(current) or {}
    click.echo(f"rule feed: {m.get('rule_files', '?')} files at {current} from {m.get('source', '?')}, "
               f"installed {m.get('installed', '?')}, sha256 {m.get('sha256', '?')}")


@app.group("secrets")
def secrets_group() -> None:
    """Secret scanner helpers: baselines and the rule set."""


@secrets_group.command("baseline")
@click.argument("target", metavar="TARGET")
@click.option("-o", "--output", default=".threatstryker-secrets-baseline.json", show_default=True,
              type=click.Path(dir_okay=False), help="Baseline file to write (replaced atomically).")
@click.option("--rules", "rule_paths", multiple=True, type=click.Path(exists=True),
              help="Extra secret rules (YAML or gitleaks TOML); repeatable.")
@click.option("--git", "git_history", is_flag=True, help="Take the findings of the repository's history.")
@_common
def secrets_baseline(target: str, output: str, rule_paths: tuple[str, ...], git_history: bool,
                     exclude: tuple[str, ...], cross_mounts: bool, timeout: float | None, quiet: bool) -> None:
    """Record TARGET's current secret findings (fingerprints and previews, never values) as accepted, so that
    `threatstryker scan --scanners secret --baseline FILE` reports only new ones."""
    from threatstryker.scan import ScanOptions
    from threatstryker.secrets.baseline import write_baseline

    options = ScanOptions(scanners=("secret",), secret_rules=rule_paths, git=git_history, exclude=exclude,
                          cross_mounts=cross_mounts, timeout=timeout)
    report = _run_scan(target, options, quiet)
    count = write_baseline([*report.findings, *report.suppressed], output)
    click.echo(f"wrote {count} secret findings to {output}", err=True)


@secrets_group.command("rules")
@click.option("--rules", "rule_paths", multiple=True, type=click.Path(exists=True),
              help="Extra secret rules (YAML or gitleaks TOML); repeatable.")
@click.option("--json", "as_json", is_flag=True, help="Print the rules as JSON.")
def secrets_rules(rule_paths: tuple[str, ...], as_json: bool) -> None:
    """List the secret rules (built-in plus --rules) and the sensitive-file rules."""
    from threatstryker.scan import ScanError, ScanOptions, load_engine

    try:
        engine = load_engine(ScanOptions(secret_rules=rule_paths))
    except ScanError as exc:
        _error(str(exc))
        sys.exit(EXIT_TARGET)
    ruleset = engine.ruleset
    rows = [(r.id, r.family, r.severity, r.confidence, r.description) for r in ruleset.rules]
    files = [(r.id, "sensitive-file", r.severity, r.confidence, r.description) for r in ruleset.files]
    if as_json:
        keys = ("id", "family", "severity", "confidence", "description")
        click.echo(json.dumps([dict(zip(keys, row, strict=True)) for row in rows + files], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(header_style="bold", title=f"{len(rows)} secret rules, {len(files)} sensitive-file rules")
    for col in ("Rule", "Family", "Severity", "Confidence", "Description"):
        table.add_column(col)
    for row in rows + files:
        table.add_row(*row)
    Console().print(table)


@app.command("frameworks")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON, with each requirement's checks.")
def list_frameworks(as_json: bool) -> None:
    """List the compliance frameworks the posture checks map to, with their requirements and checks."""
    from threatstryker.posture.crosswalk import load_frameworks
    from threatstryker.posture.engine import load_checks

    checks = load_checks()
    frameworks = load_frameworks(checks)
    covered = {fw.id: [[c.id for c in checks if r.covers(c)] for r in fw.requirements] for fw in frameworks}
    if as_json:
        click.echo(json.dumps([{"id": fw.id, "name": fw.name, "version": fw.version, "url": fw.url,
                                "requirements": [{"id": r.id, "title": r.title, "checks": ids}
                                                 for r, ids in zip(fw.requirements, covered[fw.id], strict=True)]}
                               for fw in frameworks], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(header_style="bold", title=f"{len(frameworks)} frameworks, {len(checks)} checks")
    for col in ("Framework", "Name", "Version", "Requirements", "Checks mapped"):
        table.add_column(col)
    for fw in frameworks:
        mapped = {i for ids in covered[fw.id] for i in ids}
        table.add_row(fw.id, fw.name, fw.version, str(len(fw.requirements)), str(len(mapped)))
    Console().print(table)


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




@app.group("db")
def db_group() -> None:
    """Build and inspect the local vulnerability database."""


#: Where downloaded feeds are kept (override with --cache); the same as threatstryker.vulndb.fetch.DEFAULT_CACHE.
DEFAULT_FEED_CACHE = "~/.cache/threatstryker/feeds"


@db_group.command("update")
@click.argument("sources", nargs=-1, metavar="[SOURCE]...")
@click.option("--from", "froms", multiple=True, metavar="DIR|FILE|URL",
              help="A feed to read: a path, an http(s) URL (downloaded into --cache), or KIND=PATH / KIND=URL; "
                   "repeatable. Positional SOURCEs mean the same.")
@click.option("--feeds", "feed_names", multiple=True, metavar="LIST",
              help="Download these named feeds, comma-separated (osv:PyPI,osv:npm,kev,epss,alpine:v3.20,"
                   "debian-tracker,nvd; `default` for the default set). With no source and no --feeds, the "
                   "default set is downloaded.")
@click.option("--db", "db_path", default=DEFAULT_DB, show_default=True, type=click.Path(dir_okay=False),
              help="Database file to write (replaced atomically).")
@click.option("--cache", "cache_dir", default=DEFAULT_FEED_CACHE, show_default=True,
              type=click.Path(file_okay=False), help="Where downloads are kept between updates.")
@click.option("--offline", is_flag=True, help="Never download: URLs are refused, named feeds come from --cache.")
@click.option("--feed", "feeds", multiple=True, metavar="KIND",
              help="Only read this kind of feed (osv, debian, debian-tracker, alpine, nvd, kev, epss); repeatable.")
@click.option("-q", "--quiet", is_flag=True, help="No per-feed summary.")
def db_update(sources: tuple[str, ...], froms: tuple[str, ...], feed_names: tuple[str, ...], db_path: str,
              cache_dir: str, offline: bool, feeds: tuple[str, ...], quiet: bool) -> None:
    """Build the vulnerability database from local feed copies and downloads.

    Each SOURCE (or --from) is a path (an OSV directory or all.zip, a Debian tracker data directory or JSON
    export, an Alpine secdb directory, a KEV json/csv, an EPSS csv.gz, or a directory holding several of them),
    an http(s) URL, or KIND=PATH / KIND=URL. A failed download or build leaves the previous database as it was.
    """
    import os

    from threatstryker.vulndb.build import BuildError, build_database
    from threatstryker.vulndb.fetch import Fetcher, FetchError, build_sources

    dest = os.path.expanduser(db_path)
    try:
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        with Fetcher(cache_dir, offline=offline) as fetcher:
            local, downloads = _db_fetch(fetcher, [*sources, *froms], feed_names, set(feeds), quiet)
            with fetcher.staging() as stage:
                report = build_database([*local, *build_sources(downloads, stage)], dest, set(feeds) or None)
    except (BuildError, FetchError) as exc:
        _error(str(exc))
        sys.exit(EXIT_TARGET)
    except OSError as exc:
        _error(f"cannot write {exc.filename or dest}: {exc.strerror or exc}")
        sys.exit(EXIT_TARGET)
    if not quiet:
        _db_update_summary(report, downloads)
        click.echo(f"wrote {dest} ({report.size / 1e6:.1f} MB) in {report.duration:.1f} s", err=True)


def _db_fetch(fetcher: Any, values: list[str], feed_names: tuple[str, ...], kinds: set[str],
              quiet: bool) -> tuple[list[str], list[Any]]:
    """Split `db update` sources into local ones and downloads, and download (or, offline, look up) the latter."""
    from threatstryker.vulndb.fetch import (
        Downloaded,
        FetchError,
        RemoteSource,
        default_feeds,
        kind_of,
        parse_source,
        resolve_feeds,
    )

    parsed = [parse_source(v) for v in values]
    local = [p for p in parsed if isinstance(p, str)]
    remotes = [p for p in parsed if isinstance(p, RemoteSource)]
    named = resolve_feeds(feed_names) if feed_names else ([] if parsed else default_feeds())
    if kinds:
        named = [f for f in named if f.kind in kinds]
    if fetcher.offline and remotes:
        raise FetchError(f"--offline: refusing to download {remotes[0].url}")
    downloads: list[Downloaded] = []
    status = None
    if (remotes or named) and not quiet and sys.stderr.isatty():
        from rich.console import Console

        status = Console(stderr=True).status("downloading")
        status.start()
    try:
        for remote in remotes:
            if status is not None:
                status.update(f"downloading {remote.url}")
            res = fetcher.fetch(remote.url)
            downloads.append(Downloaded(remote.url, kind_of(res, remote.kind), res))
        for feed in named:
            if status is not None:
                status.update(f"downloading {feed.name}")
            downloads.extend(Downloaded(feed.name, feed.kind, res) for res in fetcher.fetch_feed(feed))
    finally:
        if status is not None:
            status.stop()
    return local, downloads


def _db_update_summary(report: Any, downloads: list[Any]) -> None:
    """The per-feed table of a finished `db update` (and what was downloaded), on stderr."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    if downloads:
        fetched = Table(title="downloads", header_style="bold", title_justify="left")
        for col in ("Feed", "Status", "Size", "URL"):
            fetched.add_column(col, justify="right" if col == "Size" else "left", overflow="fold")
        for d in downloads:
            size = f"{d.result.size / 1e6:.1f} MB" if d.result.size else ""
            fetched.add_row(d.feed if d.feed != d.result.url else d.kind, d.result.status, size, d.result.url)
        console.print(fetched)
    table = Table(title="feeds", header_style="bold", title_justify="left")
    for col in ("Feed", "Records", "Errors", "Duplicates", "Time"):
        table.add_column(col, justify="left" if col == "Feed" else "right")
    for feed in report.feeds.values():
        table.add_row(feed.name, str(feed.records), str(feed.errors), str(feed.duplicates), f"{feed.duration:.1f} s")
    console.print(table)
    for feed in report.feeds.values():
        for message in feed.messages[:3]:
            click.echo(f"{feed.name}: {message}", err=True)
    for skipped in report.skipped:
        click.echo(f"skipped  {skipped} (not a known feed)", err=True)


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
