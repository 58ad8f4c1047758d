"""Recovery benchmark: how long the farm takes to get over a dead agent and a dead controller.

Real processes on loopback, default settings but no mDNS:

1. requeue: a controller (agent timeout 10 s) and two agents (heartbeat every 2 s); a
   one-frame job runs on one agent, which is killed with SIGKILL. Measured from the
   kill to the frame's dispatch to the other agent, as a WatchEvents subscriber sees
   it. Repeated --rounds times (the killed agent is restarted in between).
2. submit: one job of --frames frames (one per task) submitted to a controller over an
   empty database; measured until CreateJob answers, which it does once the job is stored,
   in seconds and in the controller's CPU seconds meanwhile (all its threads: a figure other
   loads of a shared machine disturb less).
3. restart: that controller killed with SIGKILL and started again, --rounds times, with one
   agent waiting. Measured from the process's start to the farm restored from the database
   (its ``restored`` log line), to the first ListJobs it answers, and to its first dispatch
   (its first ``assigned`` line); and to ListJobs over an empty database, for scale. Its
   resident memory once it dispatched, whole and per 100,000 frames above that of the same
   controller over the empty database.

Usage: python bench/recovery.py [--rounds 3] [--frames 100000] [--no-requeue]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import grpc
import psutil
from dispatch import READY, command_job, online

from renderq import farm_key, tokens
from renderq.cli.children import Child
from renderq.client.channel import open_channel
from renderq.client.credentials import Credentials
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

RENDERQ = [sys.executable, "-m", "renderq"]
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
EAGER_CHANNEL = [
    # Find the controller within milliseconds of it listening, not after a backoff.
    ("grpc.initial_reconnect_backoff_ms", 10),
    ("grpc.min_reconnect_backoff_ms", 10),
    ("grpc.max_reconnect_backoff_ms", 20),
]


class Bench:
    """The processes of one benchmark, all under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        key = farm_key.load_or_create(root / "controller" / farm_key.FILE_NAME)
        self.join = {"RENDERQ_JOIN_TOKEN": farm_key.to_token(key)}
        self.children: list[Child] = []

    async def agent(self, name: str, listen: str = "127.0.0.1:0") -> tuple[Child, str]:
        """A started agent and the address it serves on, once it serves."""
        argv = [*RENDERQ, "agent", "--listen", listen, "--data-dir", str(self.root / name), "--no-mdns"]
        child = Child(name, argv, self.root / f"{name}.log", READY, self.join)
        await child.start()
        self.children.append(child)
        return child, await child.ready()

    async def controller(self, listen: str, agents: list[str], log: str = "controller") -> Child:
        """A controller just started (``ready()`` waits until it serves)."""
        argv = [
            *RENDERQ,
            "controller",
            "--listen",
            listen,
            "--data-dir",
            str(self.root / "controller"),
            "--no-mdns",
            "--log-level",
            "DEBUG",  # each assignment's line marks the first dispatch
            *(f"--agent={a}" for a in agents),
        ]
        child = Child("controller", argv, self.root / f"{log}.log", READY)
        await child.start()
        self.children.append(child)
        return child

    def client(self, address: str) -> grpc.aio.Channel:
        """A channel to the controller with its local admin token, as the CLI has."""
        return open_channel(address, Credentials(token=tokens.read_local(self.root / "controller")))

    async def stop(self) -> None:
        for child in self.children:
            await child.stop(10)


async def kill(child: Child) -> None:
    """SIGKILL, as a crash or the OOM killer would."""
    os.kill(child.pid, signal.SIGKILL)
    await child.stop(10)


async def watch_until_assigned_elsewhere(
    stub: fgrpc.FarmServiceStub, job_id: int, after: int, victim: str
) -> None:
    """Return when a frame of ``job_id`` is dispatched to an agent other than ``victim``."""
    async for event in stub.WatchEvents(fpb.WatchEventsRequest(after_sequence=after, job_id=job_id)):
        frame = event.frame
        if (
            event.WhichOneof("resource") == "frame"
            and frame.agent_id not in ("", victim)
            and frame.state in (pb.FRAME_STATE_ASSIGNED, pb.FRAME_STATE_RENDERING)
        ):
            return


async def rendering_on(stub: fgrpc.FarmServiceStub, job_id: int, after: int) -> str:
    """The agent the job's frame renders on, once it does."""
    async for event in stub.WatchEvents(fpb.WatchEventsRequest(after_sequence=after, job_id=job_id)):
        if event.WhichOneof("resource") == "frame" and event.frame.state == pb.FRAME_STATE_RENDERING:
            return event.frame.agent_id
    raise SystemExit(f"the event stream ended before job {job_id} rendered")


async def event_cursor(stub: fgrpc.FarmServiceStub) -> int:
    return (await stub.ListJobs(fpb.ListJobsRequest(page_size=1))).event_sequence


async def requeue_times(rounds: int) -> list[float]:
    bench = Bench(Path(tempfile.mkdtemp(prefix="renderq-bench-requeue-")))
    # The tasks wait for this file, made at the end: those of killed agents end with it.
    release = bench.root / "release"
    hold = ["sh", "-c", f"while [ ! -e {release} ]; do sleep 0.2; done"]
    try:
        agents = {address: child for child, address in [await bench.agent("a1"), await bench.agent("a2")]}
        controller = await bench.controller("127.0.0.1:0", list(agents))
        times: list[float] = []
        async with bench.client(await controller.ready()) as channel:
            stub = fgrpc.FarmServiceStub(channel)
            while await online(stub) < 2:  # noqa: ASYNC110 (a one-off wait at start)
                await asyncio.sleep(0.05)
            for _ in range(rounds):
                after = await event_cursor(stub)
                job = (await stub.CreateJob(fpb.CreateJobRequest(job=command_job(hold, "1")))).job
                victim_id = await rendering_on(stub, job.id, after)
                listed = (await stub.ListAgents(fpb.ListAgentsRequest())).agents
                address = next(a.address for a in listed if a.id == victim_id)
                after = await event_cursor(stub)
                moved = asyncio.create_task(watch_until_assigned_elsewhere(stub, job.id, after, victim_id))
                killed_at = time.perf_counter()
                await kill(agents[address])
                await moved
                times.append(time.perf_counter() - killed_at)
                print(f"  requeue after kill -9: {times[-1]:5.2f} s", flush=True)
                await stub.CancelJob(fpb.CancelJobRequest(job_id=job.id))
                agents[address], _ = await bench.agent(agents[address].name, address)
                while await online(stub) < 2:  # noqa: ASYNC110 (the restarted agent links again)
                    await asyncio.sleep(0.05)
    finally:
        release.touch()
        await bench.stop()
    return times


@dataclass
class Restarts:
    """What restart_times measured."""

    times: list[tuple[float, float, float]]
    """Per restart: seconds to the farm restored, to ListJobs served, to the first dispatch."""
    rss: list[int]
    """Per restart: the controller's resident bytes once it dispatched."""
    empty: float
    """Seconds to ListJobs over an empty database."""
    empty_rss: int
    """The resident bytes of that controller, with nothing stored."""
    submit: float
    """Seconds from CreateJob of the job to its answer (the job stored)."""
    submit_cpu: float
    """The controller's CPU seconds meanwhile."""


async def restart_times(rounds: int, frames: int) -> Restarts:
    """Submit a job of ``frames`` frames, then restart the controller over it ``rounds`` times."""
    bench = Bench(Path(tempfile.mkdtemp(prefix="renderq-bench-restart-")))
    listen = f"127.0.0.1:{free_port()}"
    try:
        _, agent = await bench.agent("a1")
        # Over an empty database, and dialling no agent: the job waits in the database.
        empty, _, controller = await serving_time(bench, listen, [], "controller-empty")
        empty_rss = psutil.Process(controller.pid).memory_info().rss
        async with bench.client(listen) as channel:
            stub = fgrpc.FarmServiceStub(channel)
            job = command_job(["true"], f"1-{frames}")
            cpu = cpu_seconds(controller)
            started = time.perf_counter()
            # CreateJob answers once the job is stored.
            await stub.CreateJob(fpb.CreateJobRequest(job=job), timeout=600)
            submit = time.perf_counter() - started
            submit_cpu = cpu_seconds(controller) - cpu
            print(
                f"  submitted and stored {frames} frames in {submit:.1f} s ({submit_cpu:.1f} s of CPU)",
                flush=True,
            )
        await kill(controller)
        files = (bench.root / "controller").glob("renderq.duckdb*")
        print(f"  database and its log: {sum(f.stat().st_size for f in files) / 1e6:.0f} MB", flush=True)
        results = Restarts([], [], empty, empty_rss, submit, submit_cpu)
        for n in range(1, rounds + 1):
            serve, started_at, controller = await serving_time(bench, listen, [agent], f"controller-{n}")
            restored = await logged_at(controller, " restored jobs=") - started_at
            dispatch = await logged_at(controller, " assigned job=") - started_at
            results.times.append((restored, serve, dispatch))
            results.rss.append(psutil.Process(controller.pid).memory_info().rss)
            print(
                f"  restart {n}: restored after {restored:5.2f} s, ListJobs after {serve:5.2f} s,"
                f" first dispatch after {dispatch:5.2f} s, {results.rss[-1] / 2**20:.0f} MiB resident",
                flush=True,
            )
            await kill(controller)
    finally:
        await bench.stop()
    return results


def cpu_seconds(child: Child) -> float:
    """The user and system CPU seconds of ``child`` so far, all its threads."""
    times = psutil.Process(child.pid).cpu_times()
    return float(times.user + times.system)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serving_time(bench: Bench, listen: str, agents: list[str], log: str) -> tuple[float, float, Child]:
    """Start a controller; return the seconds from its start to the first ListJobs it
    answers, the wall-clock time of its start, and the controller."""
    async with grpc.aio.insecure_channel(listen, options=EAGER_CHANNEL) as channel:
        stub = fgrpc.FarmServiceStub(channel)
        started_at = time.time()
        started = time.perf_counter()
        child = await bench.controller(listen, agents, log)
        token = tokens.read_local(bench.root / "controller")
        try:
            await stub.ListJobs(
                fpb.ListJobsRequest(page_size=1),
                wait_for_ready=True,
                timeout=600,
                metadata=[(tokens.METADATA_KEY, f"Bearer {token}")] if token else None,
            )
        except grpc.aio.AioRpcError as error:
            # A first start writes its token as it starts: a refusal is an answer too.
            if error.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
        return time.perf_counter() - started, started_at, child


async def logged_at(controller: Child, words: str) -> float:
    """The wall-clock time of the controller's first log line holding ``words``."""
    while True:  # a bench may poll: read the log until the line is there
        for line in controller.log_path.read_text().splitlines():
            match = LOG_TIME.match(line)
            if match and words in line:
                return datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        await asyncio.sleep(0.05)


def report(frames: int, restarts: Restarts) -> None:
    print(
        f"submit of {frames} frames, stored: {restarts.submit:5.2f} s, the controller's CPU"
        f" {restarts.submit_cpu:5.2f} s  (target < 10 s at 1,000,000)"
    )
    for name, seconds in zip(
        ("restored", "ListJobs", "first dispatch"), zip(*restarts.times, strict=True), strict=True
    ):
        print(
            f"restart over {frames} frames, {name}: median {statistics.median(seconds):5.2f} s"
            f"  max {max(seconds):5.2f} s"
        )
    print(f"restart over an empty database, ListJobs: {restarts.empty:5.2f} s")
    rss = statistics.median(restarts.rss)
    per = (rss - restarts.empty_rss) / frames * 100_000
    print(
        f"controller resident after restart over {frames} frames: {rss / 2**20:.0f} MiB"
        f" (over an empty database {restarts.empty_rss / 2**20:.0f} MiB):"
        f" {per / 2**20:.0f} MiB per 100,000 frames"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--no-requeue", action="store_true", help="only the submit and the restarts")
    args = parser.parse_args()
    requeues: list[float] = []
    if not args.no_requeue:
        print("requeue: 2 agents, default agent timeout (10 s) and heartbeat (2 s)", flush=True)
        requeues = await requeue_times(args.rounds)
    print(f"restart: controller over {args.frames} frames, 1 agent", flush=True)
    restarts = await restart_times(args.rounds, args.frames)
    print()
    if requeues:
        median = statistics.median(requeues)
        print(
            f"requeue after agent kill -9: min {min(requeues):5.2f} s  median {median:5.2f} s"
            f"  max {max(requeues):5.2f} s  (target < 15 s)"
        )
    report(args.frames, restarts)


if __name__ == "__main__":
    asyncio.run(main())
