"""One subprocess, measured: wall time and peak memory, with its output.

Peak memory is the larger of the child's own peak RSS (wait4) and the peak of the summed RSS of the child
and every process below it (sampled with psutil every 20 ms): a tool that spreads its work over worker
processes is charged for all of them, as a multi-threaded tool is for its threads.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time

import psutil

SAMPLE_SECONDS = 0.02


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in members:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def run_measured(cmd: list[str], timeout: float = 3600) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds, peak memory (MB) of the process tree, and its exit code and output; killed after ``timeout``."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        watched = psutil.Process(proc.pid)
        deadline = started + timeout
        tree_peak = 0
        next_sample = started
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            now = time.perf_counter()
            if now >= next_sample:
                tree_peak = max(tree_peak, _tree_rss(watched))
                next_sample = now + SAMPLE_SECONDS
            if now > deadline:
                proc.kill()
            time.sleep(0.005)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        code = os.waitstatus_to_exitcode(status)
        peak_mb = max(usage.ru_maxrss / 1024, tree_peak / (1024 * 1024))
        return wall, peak_mb, subprocess.CompletedProcess(cmd, code, out.read(), err.read())
