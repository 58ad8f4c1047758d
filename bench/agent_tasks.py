"""The agent's own CPU per short task: its runner from assignment to ``finished``, no link.

Runs N one-frame tasks of ``true`` one after the other through the agent's ``Attempts``
(workspace, task note, OOM count, process start and watch, output, events into the
outbox), each awaited before the next is assigned, in this one process: what a task
costs the agent besides the link's messages, which ``dispatch.py`` and ``vs_celery.py``
measure with everything else. CPU is this process's, and apart its children's (``true``
and what ran in the child before it). Run it through ``compare.py`` for a before and after.

Usage: python bench/agent_tasks.py [--tasks 3000] [--rounds 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

from renderq.agent.attempts import Attempts
from renderq.agent.child_process import watch_children_without_threads
from renderq.agent.config import AgentConfig
from renderq.agent.outbox import Outbox
from renderq.v1 import agent_service_pb2 as apb

WARM_UP = 50
"""Tasks run before the clock starts (imports, the first workspace, the OOM counter's choice)."""
DEADLINE = 60.0
"""Seconds one task may take before the bench gives up on it."""


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _task(attempt_id: int) -> apb.AssignTask:
    return apb.AssignTask(
        attempt_id=attempt_id,
        job_id=1,
        task_id=attempt_id,
        owner="bench",
        plugin="command",
        commands=[apb.Command(argv=["true"], frames=[attempt_id])],
    )


async def _run(attempts: Attempts, outbox: Outbox, first: int, count: int) -> None:
    for attempt_id in range(first, first + count):
        attempts.assign(_task(attempt_id))
        async with asyncio.timeout(DEADLINE):
            while not outbox.ends_a_task(after=outbox.last_sequence - 1):
                await outbox.wait_beyond(outbox.last_sequence)
            # Its slot frees a turn or two after its last event: no event marks it.
            while attempt_id in attempts.running_ids():  # noqa: ASYNC110
                await asyncio.sleep(0)
        outbox.ack(outbox.last_sequence)


async def _round(tasks: int) -> dict[str, float]:
    """Milliseconds per task of this process's CPU, its children's, and wall time."""
    with tempfile.TemporaryDirectory(prefix="renderq-agent-tasks-") as folder:
        outbox = Outbox()
        attempts = Attempts(AgentConfig(data_dir=Path(folder), mdns=False), outbox, None)
        await _run(attempts, outbox, 1, WARM_UP)
        cpu, children, wall = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
        await _run(attempts, outbox, WARM_UP + 1, tasks)
        spent = (
            _cpu(resource.RUSAGE_SELF) - cpu,
            _cpu(resource.RUSAGE_CHILDREN) - children,
            time.perf_counter() - wall,
        )
        await attempts.shutdown()
    return dict(zip(("cpu_ms", "children_cpu_ms", "wall_ms"), (s / tasks * 1000 for s in spent), strict=True))


async def _bench(tasks: int, rounds: int) -> list[dict[str, float]]:
    results = []
    for number in range(1, rounds + 1):
        result = await _round(tasks)
        results.append(result)
        print(
            f"round {number}: agent {result['cpu_ms']:.3f} ms of CPU per task, its children "
            f"{result['children_cpu_ms']:.3f}, wall {result['wall_ms']:.3f}",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, metavar="PATH")
    args = parser.parse_args()
    watch_children_without_threads()
    results = asyncio.run(_bench(args.tasks, args.rounds))
    medians = {key: statistics.median(r[key] for r in results) for key in results[0]}
    print(
        f"median of {args.rounds} rounds of {args.tasks} tasks: agent {medians['cpu_ms']:.3f} ms of CPU "
        f"per task, its children {medians['children_cpu_ms']:.3f}, wall {medians['wall_ms']:.3f}"
    )
    if args.json:
        result = {"tasks": args.tasks, "rounds": results, "median": medians}
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
