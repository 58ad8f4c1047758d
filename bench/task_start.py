"""Task start benchmark: the agent's own CPU to start a task's process and learn of its end.

Runs N processes of ``true`` one after the other, each started, its output read to the end
and its exit awaited as the agent's runner does, through each way the agent has: on Linux
a pidfd and the pipe read from the event loop (``child_process.PidfdChild``), elsewhere
asyncio's subprocess transport (``TransportChild``, which every system used before). The
two alternate in rounds, in one run, so both see the same machine. CPU is this process's
(the agent's) and, apart, its children's: ``true`` and what ran in the child before it.

Usage: python bench/task_start.py [--processes 1000] [--rounds 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from renderq.agent.child_process import (
    ChildProcess,
    PidfdChild,
    TransportChild,
    watch_children_without_threads,
)

Start = Callable[[list[str], Path, dict[str, str]], Awaitable[ChildProcess]]


async def _pidfd(argv: list[str], cwd: Path, env: dict[str, str]) -> ChildProcess:
    return PidfdChild(argv, cwd, env)


WAYS: dict[str, Start] = {"pidfd": _pidfd, "asyncio transport": TransportChild.start}
FIGURES = ("cpu_ms", "children_cpu_ms", "wall_ms")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def _run(start: Start, processes: int) -> tuple[float, float, float]:
    """Milliseconds per process of this process's CPU, of its children's, and of wall time."""
    cwd, env = Path.cwd(), dict(os.environ)
    cpu, children, wall = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN), time.perf_counter()
    for _ in range(processes):
        child = await start(["true"], cwd, env)
        while await child.read(65536):
            pass
        await child.exited.wait()
        if child.returncode != 0:
            raise SystemExit(f"true exited with {child.returncode}")
    spent = (
        _cpu(resource.RUSAGE_SELF) - cpu,
        _cpu(resource.RUSAGE_CHILDREN) - children,
        time.perf_counter() - wall,
    )
    return spent[0] / processes * 1e3, spent[1] / processes * 1e3, spent[2] / processes * 1e3


async def _bench(processes: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {name: {f: [] for f in FIGURES} for name in WAYS}
    for round_ in range(1, rounds + 1):
        for name, start in WAYS.items():
            figures = await _run(start, processes)
            for figure, value in zip(FIGURES, figures, strict=True):
                results[name][figure].append(value)
            print(
                f"round {round_}: {name:18s} CPU {figures[0]:.3f} ms, children {figures[1]:.3f} ms,"
                f" wall {figures[2]:.3f} ms per process",
                flush=True,
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    args = parser.parse_args()
    if not hasattr(os, "pidfd_open"):
        raise SystemExit("the pidfd path needs Linux 5.3 or newer")
    watch_children_without_threads()
    load = os.getloadavg()
    results = asyncio.run(_bench(args.processes, args.rounds))
    for name, figures in results.items():
        print(
            f"median: {name:18s} CPU {statistics.median(figures['cpu_ms']):.3f} ms, "
            f"children {statistics.median(figures['children_cpu_ms']):.3f} ms, "
            f"wall {statistics.median(figures['wall_ms']):.3f} ms per process"
        )
    print(f"load average {load[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    if args.json:
        figures = {"processes": args.processes, "ways": results, "load": load}
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
