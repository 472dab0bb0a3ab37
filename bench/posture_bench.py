#!/usr/bin/env python3
"""Posture (configuration benchmark) benchmark: ThreatStryker next to Lynis on the live host and on an offline
root filesystem, side by side in one run, plus the number of automated checks per benchmark next to Lynis's
test count and kube-bench's published CIS Kubernetes check counts.

Not a test: it measures, prints a markdown summary and writes bench/results/<stamp>-posture/ (results.json,
summary.md); it exits 0 unless it could not run at all.

    .venv/bin/python bench/posture_bench.py [--runs 3] [--lynis-runs 1] [--rootfs DIR] [--no-lynis]

**Cases.** ``live``: this host (``rootfs:/``; running values from /proc, processes, mounts). ``offline``: a
Debian root filesystem on disk (``--rootfs DIR``; default the debootstrap root filesystem the tests cache in
``~/.cache/threatstryker-tests/debian-bookworm-minbase``; the case is skipped with the reason when absent).

**Tools**, each run as a subprocess (bench/measure.py: wall time and peak RSS of the process tree):

* ThreatStryker: ``threatstryker scan rootfs:TARGET --scanners posture -f json -q -o F`` (every benchmark:
  Linux, Docker, Kubernetes, image). Wall time includes the interpreter's start; the report's own
  ``duration_s`` (loading and evaluating the checks) is given beside it. Median of ``--runs``.
* Lynis (Debian package ``lynis``): ``lynis audit system --quick --no-colors --log-file T --report-file R``
  live, and with ``--rootdir TARGET --forensics`` offline (Lynis's forensics mode still runs some host
  commands, so its offline figure is indicative). Median of ``--lynis-runs`` (default 1: a run takes a minute).
  Lynis is not a CIS benchmark; its ``lynis show tests`` count and the tests it reports as done
  (``lynis_tests_done``) are given as its check counts.

**Check counts**: ThreatStryker's automated and manual checks per benchmark (from the check files), Lynis's test
count, and kube-bench's CIS Kubernetes 1.8 check counts as published in its configuration files
(aquasecurity/kube-bench ``cfg/cis-1.8/*.yaml``; counted by hand from the repository, numbers below).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import run_measured

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
TS = [sys.executable, "-m", "threatstryker.cli"]
DEFAULT_ROOTFS = Path(os.environ.get("THREATSTRYKER_TEST_CACHE") or "~/.cache/threatstryker-tests").expanduser() \
    / "debian-bookworm-minbase"

#: kube-bench's CIS Kubernetes Benchmark 1.8 configuration (aquasecurity/kube-bench, cfg/cis-1.8/*.yaml): checks
#: per file, how many are ``type: manual`` and how many automated ones are ``scored: true``. Counted from the
#: files (master.yaml at 15e07656, etcd.yaml and controlplane.yaml at c0da1522, node.yaml at 0c553cd2,
#: policies.yaml at c40b2a72). All of section 5 (policies: pods, RBAC, network policies) is manual there.
KUBE_BENCH_CIS_1_8: dict[str, dict[str, int]] = {
    "master": {"checks": 60, "manual": 1, "automated": 59, "scored": 46},
    "etcd": {"checks": 7, "manual": 0, "automated": 7, "scored": 6},
    "controlplane": {"checks": 5, "manual": 4, "automated": 1, "scored": 0},
    "node": {"checks": 23, "manual": 0, "automated": 23, "scored": 11},
    "policies": {"checks": 35, "manual": 35, "automated": 0, "scored": 0},
    "total": {"checks": 130, "manual": 40, "automated": 90, "scored": 63},
}


def our_check_counts() -> dict[str, dict[str, int]]:
    sys.path.insert(0, str(REPO / "src"))
    from threatstryker.posture.engine import load_checks

    out: dict[str, dict[str, int]] = {}
    for c in load_checks():
        row = out.setdefault(c.benchmark, {"automated": 0, "manual": 0})
        row["manual" if c.probe["type"] == "manual" else "automated"] += 1
    return out


def run_ours(target: str, runs: int) -> dict[str, Any]:
    walls, mems, inner = [], [], []
    doc: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        for _ in range(runs):
            wall, mem, proc = run_measured([*TS, "scan", f"rootfs:{target}", "--scanners", "posture", "-f", "json",
                                            "-q", "-o", str(out)], timeout=600)
            if proc.returncode not in (0, 1):
                return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
            doc = json.loads(out.read_text())
            walls.append(wall)
            mems.append(mem)
            inner.append(doc["db"]["posture"]["duration_s"])
    posture = doc["db"]["posture"]
    errors = [{"id": r["id"], "reason": r["reason"]} for r in posture["results"] if r["status"] == "ERROR"]
    by_benchmark: dict[str, Counter[str]] = {}
    for r in posture["results"]:
        by_benchmark.setdefault(r["benchmark"], Counter())[r["status"]] += 1
    return {"wall_s": statistics.median(walls), "walls": walls, "peak_mb": max(mems),
            "duration_s": statistics.median(inner), "checks": posture["checks"], "by_status": posture["by_status"],
            "by_benchmark": {b: dict(c) for b, c in by_benchmark.items()}, "errors": errors,
            "scores": {k: v["score"] for k, v in posture.get("frameworks", {}).items()}}


def run_lynis(target: str, runs: int) -> dict[str, Any]:
    lynis = shutil.which("lynis") or ("/usr/sbin/lynis" if os.path.exists("/usr/sbin/lynis") else None)
    if lynis is None:
        return {"error": "lynis is not installed (Debian package lynis; `make bench` installs it)"}
    walls, mems = [], []
    report: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            log, dat = Path(tmp) / "lynis.log", Path(tmp) / "report.dat"
            cmd = [lynis, "audit", "system", "--quick", "--no-colors", "--log-file", str(log), "--report-file",
                   str(dat)]
            if target != "/":
                cmd += ["--rootdir", target, "--forensics"]
            # Lynis looks for its include files relative to the working directory first
            wall, mem, proc = run_measured(cmd, timeout=1800)
            if proc.returncode != 0 or not dat.exists():
                return {"error": f"lynis exited {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-300:]}"}
            walls.append(wall)
            mems.append(mem)
            report = {}
            for line in dat.read_text(errors="replace").splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    report.setdefault(key, []).append(value)
    done = int((report.get("lynis_tests_done") or ["0"])[-1] or 0)
    executed = [t for t in (report.get("tests_executed") or [""])[-1].split("|") if t]
    skipped = [t for t in (report.get("tests_skipped") or [""])[-1].split("|") if t]
    return {"wall_s": statistics.median(walls), "walls": walls, "peak_mb": max(mems), "tests_done": done,
            "tests_executed": len(executed), "tests_skipped": len(skipped),
            "warnings": len(report.get("warning[]", [])), "suggestions": len(report.get("suggestion[]", [])),
            "hardening_index": (report.get("hardening_index") or [None])[-1]}


def lynis_test_count() -> int | None:
    lynis = shutil.which("lynis") or ("/usr/sbin/lynis" if os.path.exists("/usr/sbin/lynis") else None)
    if lynis is None:
        return None
    proc = subprocess.run([lynis, "show", "tests"], capture_output=True, text=True, timeout=120)
    return len([line for line in proc.stdout.splitlines() if line.strip()]) if proc.returncode == 0 else None


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def summary(results: dict[str, Any]) -> str:
    lines = ["# Posture benchmark", "", f"{results['when']}, {results['cpus']} CPUs, runs: {results['runs']} "
             f"(Lynis {results['lynis_runs']}). Ratio = ThreatStryker wall / Lynis wall (lower is faster).", "",
             "| case | ThreatStryker wall (checks only) | memory | Lynis wall | memory | ratio |",
             "|---|---|---|---|---|---|"]
    for case, row in results["cases"].items():
        ours, lyn = row.get("threatstryker", {}), row.get("lynis", {})
        if "error" in ours or not ours:
            lines.append(f"| {case} | {ours.get('error', row.get('skipped', 'skipped'))} | | | | |")
            continue
        lyn_text = (f"{lyn['wall_s']:.1f} s | {lyn['peak_mb']:.0f} MB" if "wall_s" in lyn
                    else f"{lyn.get('error', 'not run')} | ")
        lines.append(f"| {case} | {ours['wall_s']:.2f} s ({ours['duration_s']:.2f} s) | {ours['peak_mb']:.0f} MB | "
                     f"{lyn_text} | {_ratio(ours['wall_s'], lyn.get('wall_s'))} |")
    lines += ["", "Outcomes:", ""]
    for case, row in results["cases"].items():
        ours, lyn = row.get("threatstryker", {}), row.get("lynis", {})
        if "by_status" in ours:
            lines.append(f"- {case}: ThreatStryker {ours['checks']} checks: "
                         + ", ".join(f"{n} {s}" for s, n in ours["by_status"].items())
                         + (f"; ERROR: {', '.join(e['id'] + ' (' + e['reason'] + ')' for e in ours['errors'])}"
                            if ours["errors"] else ""))
        if "tests_done" in lyn:
            lines.append(f"- {case}: Lynis {lyn['tests_done']} tests done ({lyn['tests_executed']} executed, "
                         f"{lyn['tests_skipped']} skipped), {lyn['warnings']} warnings, {lyn['suggestions']} "
                         f"suggestions, hardening index {lyn['hardening_index']}")
    lines += ["", "## Checks per benchmark", "", "| benchmark | ThreatStryker automated | manual | peer | peer count |",
              "|---|---|---|---|---|"]
    ours_counts = results["check_counts"]["threatstryker"]
    kb = results["check_counts"]["kube_bench_cis_1_8"]
    for bench, row in sorted(ours_counts.items()):
        peer, count = "", ""
        if bench == "linux":
            peer, count = "Lynis 3.0.8 tests (all platforms; `lynis show tests`)", str(results["check_counts"]["lynis"])
        if bench == "kubernetes" and kb:
            total = kb.get("total", {})
            peer = "kube-bench CIS 1.8 (master, etcd, controlplane, node, policies)"
            count = f"{total.get('automated', '?')} automated + {total.get('manual', '?')} manual"
        lines.append(f"| {bench} | {row['automated']} | {row['manual']} | {peer} | {count} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lynis-runs", type=int, default=1)
    parser.add_argument("--rootfs", type=Path, default=DEFAULT_ROOTFS)
    parser.add_argument("--no-lynis", action="store_true")
    args = parser.parse_args()
    cases: dict[str, dict[str, Any]] = {"live": {"target": "/"}}
    if args.rootfs.is_dir():
        cases["offline"] = {"target": str(args.rootfs)}
    else:
        cases["offline"] = {"skipped": f"no root filesystem at {args.rootfs} (run the tests once, or --rootfs DIR)"}
    for name, case in cases.items():
        if "target" not in case:
            continue
        print(f"{name}: ThreatStryker ...", file=sys.stderr)
        case["threatstryker"] = run_ours(case["target"], args.runs)
        if not args.no_lynis:
            print(f"{name}: Lynis ...", file=sys.stderr)
            case["lynis"] = run_lynis(case["target"], args.lynis_runs)
    results = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(), "runs": args.runs,
               "lynis_runs": args.lynis_runs, "cases": cases,
               "check_counts": {"threatstryker": our_check_counts(), "lynis": lynis_test_count(),
                                "kube_bench_cis_1_8": KUBE_BENCH_CIS_1_8}}
    out = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-posture"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    text = summary(results)
    (out / "summary.md").write_text(text)
    print(text)
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
