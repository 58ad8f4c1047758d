"""Scheduling benchmark: one controller's farm logic at the size of the biggest farms.

In one process, the controller's own ``Farm`` (state, work queue, scheduler,
dispatcher; the database writer and the network are left out: the links only count what
they are sent) holds --agents agents of --slots slots each with mixed hardware (a fifth
with 2 to 4 GPUs, in pool ``gpu``), and --jobs jobs of --tasks one-frame tasks from
--owners owners, submitted through the controller's validation: mixed requirements
(tags, GPUs, pool), reservations (cores, memory, GPUs), limits on a tenth of the jobs
and agents blocked by one job in twenty. It measures:

- **policy pass**: the scheduler alone deciding every start of a full pass (nothing
  sent);
- **full dispatch**: the dispatcher's pass that fills every free slot (attempts
  created and sent), and the longest the event loop waited meanwhile (a ticker task
  notes every gap between its wake-ups);
- **one slot frees**: after that, one running attempt is lost (its frames requeued,
  its slot freed) and the dispatcher's next pass measured, --frees times.

Runs against any revision (see compare.py); a revision without reservations or GPU
indices runs the same farm without them and says so.

Usage: python bench/scheduler.py [--agents 5000] [--slots 4] [--jobs 1000] [--tasks 100]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import logging
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from renderq.controller import main as controller_main
from renderq.controller import scheduler
from renderq.controller.bus import EventBus
from renderq.controller.farm import Farm
from renderq.controller.model import Agent
from renderq.controller.recorder import Recorder
from renderq.controller.task_logs import TaskLogs
from renderq.controller.validation import check_job
from renderq.v1 import resources_pb2 as pb

settle_restored = getattr(controller_main, "settle_restored", None)
"""What this revision's controller does once it restored its records (None: nothing)."""

GIB = 1 << 30
RESERVATIONS = "reservation" in pb.Job.DESCRIPTOR.fields_by_name


class CountingLink:
    """An agent link that only counts the requests it is sent."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, request: Any) -> None:
        self.sent += 1


def build_farm(args: argparse.Namespace, root: Path) -> Farm:
    rng = random.Random(7)
    farm = Farm(Recorder(None, EventBus()), TaskLogs(root), epoch=1, agent_timeout=1e9)  # type: ignore[arg-type]
    farm.limit_control.set("maya", args.agents // 10)
    farm.limit_control.set("nuke", args.agents // 25)
    for i in range(args.agents):
        gpus = rng.choice([2, 4]) if i % 5 == 0 else 0
        agent = Agent(
            id=f"node{i:05d}",
            status=pb.AGENT_STATUS_ONLINE,
            slots=args.slots,
            pool="gpu" if gpus else "",
            tags=["x"] if i % 3 == 0 else [],
            cost_per_hour=rng.choice([0.5, 1.0, 2.0]),
            hardware=pb.Hardware(
                cpu_cores=rng.choice([16, 32, 64]),
                ram_bytes=rng.choice([64, 128, 256]) * GIB,
                os="Linux",
                gpus=[pb.Gpu(index=g, model="RTX A6000", memory_bytes=48 * GIB) for g in range(gpus)],
            ),
        )
        farm.state.agents[agent.id] = agent
        farm.state.links[agent.id] = CountingLink()
    agent_ids = list(farm.state.agents)
    for j in range(args.jobs):
        farm.job_control.submit(check_job(job_message(j, args, rng), farm.state.jobs, farm.state.limits))
        if j % 20 == 7:
            job = farm.state.jobs[max(farm.state.jobs)]
            job.blocked = {a: "blocked after 3 failures: bench" for a in rng.sample(agent_ids, 3)}
    return farm


def job_message(j: int, args: argparse.Namespace, rng: random.Random) -> pb.Job:
    kind = j % 10
    job = pb.Job(
        plugin="command",
        frames=f"1-{args.tasks}",
        owner=f"user{j % args.owners}",
        priority=rng.choice([40, 50, 50, 60]),
        pool="gpu" if kind == 9 else "",
    )
    job.parameters.update({"argv": ["true"]})
    if kind in (1, 2):
        job.requirements.tags.append("x")
    if kind == 3:
        job.limits.append("maya")
    if kind == 4 and j % 20 == 4:
        job.limits.append("nuke")
    if RESERVATIONS:
        job.reservation.cores = rng.choice([0, 4, 8])
        job.reservation.memory_bytes = rng.choice([0, 8, 16, 40]) * GIB
        if kind == 9:
            job.reservation.gpus = 1
    elif kind == 9:
        job.requirements.min_gpu_count = 1
    return job


def dispatch_once(farm: Farm) -> None:
    """One dispatcher pass, whichever way this revision runs it."""
    result = farm.dispatcher.dispatch()
    if inspect.isgenerator(result):
        for _ in result:
            pass


class Pauses:
    """The garbage collector's pauses while it is watched."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._began = 0.0

    def __enter__(self) -> Pauses:
        gc.callbacks.append(self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._note)

    def _note(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        else:
            self.longest = max(self.longest, time.perf_counter() - self._began)


async def dispatch_on_the_loop(farm: Farm) -> tuple[float, float]:
    """A full pass run as the controller runs it, with a ticker noting how long the loop
    was held; (the pass's seconds, the longest gap between ticks)."""
    longest = 0.0
    done = False

    async def tick() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    began = time.perf_counter()
    result = farm.dispatcher.dispatch()
    if inspect.isgenerator(result):
        for _ in result:
            await asyncio.sleep(0)
    took = time.perf_counter() - began
    done = True
    await ticker
    return took, longest


def policy_pass(farm: Farm) -> tuple[float, int]:
    state = farm.state
    jobs = [state.jobs[i] for i in farm.queue.runnable]
    agents = list(state.agents.values())
    free = farm.limit_control.free()
    began = time.perf_counter()
    starts = scheduler.plan(jobs, agents, {}, free)
    return time.perf_counter() - began, len(starts)


def one_slot_frees(farm: Farm, rounds: int) -> list[float]:
    rng = random.Random(11)
    state = farm.state
    took = []
    for _ in range(rounds):
        agent = state.agents[rng.choice(list(state.agents))]
        running = getattr(agent, "holds", None) or getattr(agent, "running", {})
        if not running:
            continue
        farm.liveness.lose_attempt(agent, next(iter(running)), "bench: one slot frees")
        began = time.perf_counter()
        dispatch_once(farm)
        took.append(time.perf_counter() - began)
    return took


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=5000)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--tasks", type=int, default=100, help="one-frame tasks per job")
    parser.add_argument("--owners", type=int, default=20)
    parser.add_argument("--frees", type=int, default=50)
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # the farm's log lines are not the figures
    with tempfile.TemporaryDirectory() as root:
        began = time.perf_counter()
        farm = build_farm(args, Path(root))
        built = time.perf_counter() - began
        print(
            f"farm: {args.agents} agents x {args.slots} slots, {args.jobs} jobs x {args.tasks} tasks, "
            f"{args.owners} owners; reservations {'on' if RESERVATIONS else 'off (this revision has none)'}; "
            f"built in {built:.1f} s; load average {os.getloadavg()[0]:.2f}"
        )
        decided, starts = policy_pass(farm)
        print(f"policy pass: {ms(decided)} for {starts} starts")
        if settle_restored is not None:
            settle_restored()  # as the controller does once it restored such a farm
        with Pauses() as pauses:
            took, longest = await dispatch_on_the_loop(farm)
        sent = sum(link.sent for link in farm.state.links.values())  # type: ignore[attr-defined]
        print(
            f"full dispatch: {ms(took)} for {sent} starts sent; longest event-loop wait {ms(longest)} "
            f"(longest garbage collection {ms(pauses.longest)}; restored records frozen: "
            f"{'yes' if settle_restored else 'no, this revision does not'})"
        )
        frees = sorted(one_slot_frees(farm, args.frees))
        print(
            f"one slot frees: median {ms(statistics.median(frees))}, "
            f"p90 {ms(frees[int(len(frees) * 0.9)])}, max {ms(frees[-1])} over {len(frees)} passes"
        )


if __name__ == "__main__":
    asyncio.run(main())
