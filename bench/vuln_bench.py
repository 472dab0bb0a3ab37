#!/usr/bin/env python3
"""Vulnerability database and matching benchmark.

Not a test: it measures, prints a markdown summary with PASS/FAIL per goal, writes
bench/results/<stamp>-vuln/ (results.json + summary.md) and exits 0 unless it could not run.

* DB build: ``threatstryker db update --from DATA`` from all of ../shared/data (wall time, peak
  memory, file size, records per feed).
* Matching: the SBOM of this machine's ``/`` (made once with ``threatstryker sbom``) matched
  against that DB, timed *after the DB is open* (the goal: 5,000 packages in under 1 s, under
  300 MB peak), N runs, median; the default mode and ``--comprehensive``.
* End to end: ``threatstryker scan sbom:FILE -f json`` as a user runs it.

Peers: grype and trivy match against their own databases, which they download from the internet
(ghcr.io / GitHub releases); this machine reaches only PyPI, npm and Debian mirrors, so neither can
match here (trivy's PyPI wheel is used for SBOMs only, see sbom_bench.py). The figures are set
against the issue's goals instead.

    .venv/bin/python bench/vuln_bench.py [--data ../shared/data] [--runs 5] [--sbom FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from measure import run_measured as run  # noqa: E402

REPO = BENCH_DIR.parent
TS = str(Path(sys.executable).parent / "threatstryker")
GOAL_SECONDS = 1.0
GOAL_MB = 300.0
GOAL_PACKAGES = 5000

MATCH_SNIPPET = r"""
import json, resource, sys, time
from threatstryker.sbom.api import scan_sbom
from threatstryker.match.matcher import MatchOptions, match_sbom
from threatstryker.vulndb.store import VulnDB
sbom = scan_sbom("sbom:" + sys.argv[1])
comprehensive = sys.argv[3] == "1"
db = VulnDB.open(sys.argv[2])
times = []
for _ in range(int(sys.argv[4])):
    started = time.perf_counter()
    result = match_sbom(sbom, db, MatchOptions(comprehensive=comprehensive))
    times.append(time.perf_counter() - started)
print(json.dumps({
    "packages": len(sbom.packages), "findings": len(result.findings), "stats": result.stats.to_dict(),
    "times": times, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("THREATSTRYKER_TEST_DATA", str(REPO.parent / "shared/data")))
    ap.add_argument("--runs", "-n", type=int, default=5)
    ap.add_argument("--sbom", help="an SBOM to match instead of cataloging /")
    args = ap.parse_args()
    if not Path(TS).exists():
        print(f"threatstryker is not installed at {TS}; run make venv", file=sys.stderr)
        return 2
    if not Path(args.data).is_dir():
        print(f"no feed data at {args.data}", file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out_dir = BENCH_DIR / "results" / f"{stamp}-vuln"
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count()}, "data": args.data}
    with tempfile.TemporaryDirectory(prefix="ts-vuln-bench-") as tmp:
        db = Path(tmp) / "vuln.db"
        wall, peak, proc = run([TS, "db", "update", "--from", args.data, "--db", str(db), "-q"])
        if proc.returncode != 0:
            print(f"db update failed: {proc.stderr.strip()}", file=sys.stderr)
            return 2
        results["build"] = {"seconds": round(wall, 2), "peak_mb": round(peak, 1), "size_mb": db.stat().st_size / 1e6}
        with __import__("sqlite3").connect(db) as conn:
            results["build"]["feeds"] = dict(conn.execute("SELECT name, records FROM feeds").fetchall())
        sbom = args.sbom
        if sbom is None:
            sbom = str(Path(tmp) / "root.json")
            wall, _, proc = run([TS, "sbom", "rootfs:/", "-q", "-f", "json", "-o", sbom])
            results["sbom_seconds"] = round(wall, 2)
        for mode, flag in (("default", "0"), ("comprehensive", "1")):
            _, _, proc = run([sys.executable, "-c", MATCH_SNIPPET, sbom, str(db), flag, str(args.runs)])
            if proc.returncode != 0:
                print(f"matching failed: {proc.stderr.strip()[-500:]}", file=sys.stderr)
                return 2
            data = json.loads(proc.stdout)
            data["median_s"] = statistics.median(data["times"])
            results[f"match_{mode}"] = data
        wall, _, proc = run([TS, "scan", f"sbom:{sbom}", "--db", str(db), "-f", "json", "-q"])
        results["scan_end_to_end_s"] = round(wall, 2)
    m = results["match_default"]
    scaled = m["median_s"] * GOAL_PACKAGES / max(m["packages"], 1)
    lines = [
        f"# Vulnerability matching benchmark ({stamp})",
        "",
        f"DB build from `{args.data}`: {results['build']['seconds']} s, peak {results['build']['peak_mb']:.0f} MB, "
        f"file {results['build']['size_mb']:.1f} MB, "
        f"records {results['build']['feeds']}",
        "",
        "| mode | packages | looked up | findings | match median (s) | peak MB |",
        "|---|---|---|---|---|---|",
    ]
    for mode in ("default", "comprehensive"):
        d = results[f"match_{mode}"]
        lines.append(
            f"| {mode} | {d['packages']} | {d['stats']['looked_up']} | {d['findings']} | {d['median_s']:.3f} "
            f"| {d['peak_mb']:.0f} |"
        )
    ok_time = scaled < GOAL_SECONDS
    ok_mem = m["peak_mb"] < GOAL_MB
    lines += [
        "",
        f"Goal: {GOAL_PACKAGES} packages in under {GOAL_SECONDS:g} s after the DB is open: "
        f"{scaled:.3f} s scaled to {GOAL_PACKAGES} — {'PASS' if ok_time else 'FAIL'}",
        f"Goal: under {GOAL_MB:g} MB peak: {m['peak_mb']:.0f} MB — {'PASS' if ok_mem else 'FAIL'}",
        f"End to end `threatstryker scan sbom:FILE -f json`: {results['scan_end_to_end_s']} s",
        "",
        "Peers: grype and trivy need their online databases; this machine cannot download them, so no peer "
        "ratio is reported for matching.",
    ]
    summary = "\n".join(lines) + "\n"
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    (out_dir / "summary.md").write_text(summary)
    print(summary)
    print(f"results in {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
