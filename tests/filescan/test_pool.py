"""The engine pool on its own: a scan function run in worker processes, this process scanning while slow
workers start, and the outcome for every task whatever ran it."""

from __future__ import annotations

import time
from typing import Any

from threatstryker.filescan.pool import Origin, ProcessRunner, SerialRunner, Task, run_tasks


class SlowToRebuild:
    """An engine a worker needs a while to rebuild (as a large YARA rule set does)."""

    delay = 1.5

    def serialize(self) -> float:
        return self.delay

    @classmethod
    def from_serialized(cls, delay: float) -> SlowToRebuild:
        time.sleep(delay)
        return cls()


def upper(engine: Any, task: Task) -> list[bytes]:
    return [task.data.upper()]


def tasks(n: int) -> list[Task]:
    return [Task(i, Origin(f"/f{i}"), f"content {i}".encode()) for i in range(n)]


def test_this_process_scans_while_the_workers_start() -> None:
    engine = SlowToRebuild()
    pool = ProcessRunner(engine, upper, 2, 30, local=SerialRunner(engine, upper, 30))
    outcomes = list(pool.run(tasks(200), lambda: False))
    assert sorted(o.task.id for o in outcomes) == list(range(200))
    assert all(o.hits == (f"CONTENT {o.task.id}".encode(),) for o in outcomes)
    assert pool.local_tasks == 200 and pool.ready_workers == 0  # all done before a worker was ready


def test_without_local_scanning_the_workers_do_everything() -> None:
    engine = SlowToRebuild()
    engine.delay = 0.0
    pool = ProcessRunner(engine, upper, 2, 30)
    outcomes = list(pool.run(tasks(50), lambda: False))
    assert sorted(o.task.id for o in outcomes) == list(range(50)) and pool.local_tasks == 0
    assert pool.ready_workers >= 1


def test_run_tasks_reports_how_it_ran() -> None:
    engine = SlowToRebuild()
    engine.delay = 0.0
    got: list[bytes] = []
    info = run_tasks(engine, upper, tasks(20), lambda o: got.extend(o.hits), workers=2, file_timeout=30,
                     stop=lambda: False, warn=lambda path, reason: None)
    assert (info.mode, info.workers) == ("processes", 2) and len(got) == 20
    info = run_tasks(engine, upper, tasks(20), lambda o: got.extend(o.hits), workers=1, file_timeout=30,
                     stop=lambda: False, warn=lambda path, reason: None)
    assert (info.mode, info.workers) == ("serial", 1) and len(got) == 40
