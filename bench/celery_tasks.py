"""The Celery side of bench/vs_celery.py: the app its workers load, and its client.

Runs only under the bench's own Celery virtualenv (never the project's): the workers
start as ``celery -A celery_tasks worker`` with this folder on ``PYTHONPATH``, and the
client as ``python celery_tasks.py FRAMES WORKERS TIMEOUT``. Redis is both the broker
and the result backend, at the URL in ``RENDERQ_BENCH_REDIS``.

The client speaks a line protocol with vs_celery.py over its stdin and stdout, so that
the CPU of every process can be read just before the clock starts and just after it
stops: it prints ``ready`` once every worker answered a ping, waits for a line on
stdin, sends the tasks, collects every result, and prints one JSON line with the
seconds from the first send to the last result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from celery import Celery, group
from celery.exceptions import TimeoutError as ResultsLate
from celery.signals import worker_ready

REDIS = os.environ.get("RENDERQ_BENCH_REDIS", "redis://127.0.0.1:6379/0")

app = Celery("renderq_bench", broker=REDIS, backend=REDIS)
app.conf.update(
    # As renderq: a task is acknowledged once it ended, and a worker holds no more
    # tasks than it runs (one), so a dead worker loses nothing and hoards nothing.
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    broker_connection_retry_on_startup=True,
)


@app.task(name="celery_tasks.run_true")  # the same name when this file runs as __main__
def run_true() -> None:
    """One frame: `true` as a child process, as a renderq agent runs a command task."""
    subprocess.run(["true"], check=True)


@worker_ready.connect
def announce(sender: Any = None, **_: Any) -> None:
    """Say on stderr when the consumer is up (the worker logs it as a WARNING line):
    Celery's own line is INFO, and the workers run at Celery's default level, WARNING,
    so as not to log every task."""
    print(f"{sender.hostname} ready", file=sys.stderr, flush=True)


def wait_for_workers(count: int, deadline: float) -> None:
    """Return when ``count`` workers answer one ping; exit with a message at the deadline."""
    answered: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        answered = app.control.ping(timeout=0.5)
        if len(answered) >= count:
            return
    sys.exit(f"only {len(answered)} of {count} Celery workers answered a ping in time: {answered}")


def measure(frames: int, timeout: float) -> float:
    """Seconds from the first task sent to the last result read from the backend."""
    started = time.perf_counter()
    result = group(run_true.s() for _ in range(frames)).apply_async()
    try:
        result.get(timeout=timeout)
    except ResultsLate:
        done = sum(r.ready() for r in result.results)
        sys.exit(f"only {done} of {frames} Celery results after {timeout:.0f} s")
    return time.perf_counter() - started


def main() -> None:
    frames, workers, timeout = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    wait_for_workers(workers, time.monotonic() + timeout)
    print("ready", flush=True)
    if not sys.stdin.readline():
        sys.exit("stdin closed before the go line")
    print(json.dumps({"seconds": measure(frames, timeout)}), flush=True)


if __name__ == "__main__":
    main()
