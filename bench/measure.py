"""One subprocess, measured: wall time and the peak RSS of the process (wait4), with its output."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time


def run_measured(cmd: list[str], timeout: float = 3600) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall seconds, peak RSS (MB) of the child process, and its exit code and output; killed after ``timeout``."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
            time.sleep(0.005)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        code = os.waitstatus_to_exitcode(status)
        return wall, usage.ru_maxrss / 1024, subprocess.CompletedProcess(cmd, code, out.read(), err.read())
