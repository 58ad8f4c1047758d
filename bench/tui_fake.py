"""The fake FarmService behind bench/tui.py: a big farm listed, then a flood of events.

It runs in its own process (``python bench/tui_fake.py``, started by bench/tui.py) so
that its CPU is not counted as the TUI's. It lists ``--jobs`` running jobs of
``--frames`` frames and ``--agents`` render nodes (names, hardware, pools, tags, costs,
states, running tasks: what a studio's farm looks like), then floods
``WatchEventBatches`` for ``--seconds`` once it reads a line on stdin:

- job and frame events at ``--rate`` a second: a frame completes, then its job's
  counts change, round-robin over every job (about half the rows change between two
  redraws: the worst case);
- agent events, one per heartbeat of each online agent every ``--heartbeat`` seconds:
  2,500 a second for 5,000 agents at the agents' default of 2 s, the most a controller
  sends (every heartbeat published, as before 4eef47a; since then a heartbeat is
  published when the load changed enough to see, else every 10 s: ``--heartbeat 10`` is
  that floor, 500 a second). Every fifth heartbeat of a busy agent also changes its
  running tasks, as frames end and others start.

The events of each 2 ms burst go in one message, as the controller sends a commit's
events together; each is stamped with the time it is handed out. ``flood`` also serves
``--direct``, where bench/tui.py hands the same events to the app without gRPC.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
from google.protobuf import timestamp_pb2

from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

BURST_SECONDS = 0.002
TASKS_EVERY = 5
"""A busy agent's running tasks change on every this many heartbeats."""
GIB = 1 << 30
UPSERTED = fpb.CHANGE_TYPE_UPSERTED


def canned_job(job_id: int, frames: int) -> pb.Job:
    start = timestamp_pb2.Timestamp()
    start.FromSeconds(int(time.time()) - 600)
    return pb.Job(
        id=job_id,
        name=f"shot{job_id:04d}_render",
        owner=("ana", "bruno", "chen", "dora")[job_id % 4],
        plugin="blender",
        frames=f"1-{frames}",
        priority=50,
        state=pb.JOB_STATE_RUNNING,
        frame_count=frames,
        start_time=start,
    )


def canned_agent(number: int, rng: random.Random) -> pb.Agent:
    """A render node as the controller lists it: most online and enabled and busy, a few
    draining, disabled, offline or refused; a third with GPUs; Linux and Windows."""
    gpus = [
        pb.Gpu(index=i, model="NVIDIA RTX A6000", memory_bytes=48 * GIB) for i in range(rng.choice((1, 2, 4)))
    ]
    if rng.random() > 0.3:
        gpus = []
    cores = rng.choice((16, 32, 64, 128))
    ram = rng.choice((64, 128, 256, 512)) * GIB
    windows = rng.random() < 0.2
    host = f"render-{number:04d}"
    roll = rng.random()
    status = pb.AGENT_STATUS_OFFLINE if roll < 0.05 else pb.AGENT_STATUS_ONLINE
    mode = (
        pb.AGENT_MODE_DRAINING
        if 0.05 <= roll < 0.08
        else pb.AGENT_MODE_DISABLED
        if 0.08 <= roll < 0.10
        else pb.AGENT_MODE_ENABLED
    )
    agent = pb.Agent(
        id=host,
        address=f"10.{number // 65536}.{number // 256 % 256}.{number % 256}:7100",
        status=status,
        mode=mode,
        hardware=pb.Hardware(
            hostname=f"{host}.farm.studio.lan",
            cpu_cores=cores,
            ram_bytes=ram,
            os="Windows" if windows else "Linux",
            arch="x86_64",
            gpus=gpus,
            renderers=[pb.Renderer(name="blender", version="4.2.3")],
        ),
        slots=rng.choice((2, 4, 8)),
        pool="gpu" if gpus else rng.choice(("default", "default", "lookdev")),
        tags=[*(["cuda"] if gpus else []), *rng.sample(("ssd", "houdini", "nuke", "10g"), 2)],
        version="0.9.0",
        cost_per_hour=round((0.4 if gpus else 0.1) + cores / 100, 2),
        problem="the agent's farm key does not match" if rng.random() < 0.002 else "",
    )
    if status == pb.AGENT_STATUS_ONLINE:
        beat(agent, rng, tasks=mode != pb.AGENT_MODE_DISABLED)
    return agent


def beat(agent: pb.Agent, rng: random.Random, tasks: bool) -> None:
    """A heartbeat's new load; with ``tasks``, a new set of running tasks too."""
    agent.load.cpu_percent = rng.uniform(60, 100) if agent.slots_used else rng.uniform(0, 5)
    agent.load.ram_used_bytes = int(agent.hardware.ram_bytes * rng.uniform(0.1, 0.9))
    agent.load.load_average = agent.load.cpu_percent * agent.hardware.cpu_cores / 100
    if tasks:
        agent.slots_used = rng.randint(0, agent.slots)
        del agent.running_task_ids[:]
        agent.running_task_ids.extend(rng.randrange(1, 1_000_000) for _ in range(agent.slots_used))


def canned_agents(count: int) -> list[pb.Agent]:
    rng = random.Random(7)
    return [canned_agent(number, rng) for number in range(1, count + 1)]


class FloodFarm(fgrpc.FarmServiceServicer):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.jobs = [canned_job(i, args.frames) for i in range(1, args.jobs + 1)]
        self.agents = canned_agents(args.agents)

    async def GetCaller(self, request: Any, context: Any) -> fpb.GetCallerResponse:
        return fpb.GetCallerResponse(name="bench", role=pb.ROLE_ADMIN)

    async def ListJobs(self, request: fpb.ListJobsRequest, context: Any) -> fpb.ListJobsResponse:
        start = int(request.page_token or 0)
        size = request.page_size or 100
        page = self.jobs[start : start + size]
        more = start + size < len(self.jobs)
        return fpb.ListJobsResponse(
            jobs=page, next_page_token=str(start + size) if more else "", event_sequence=1
        )

    async def ListAgents(self, request: Any, context: Any) -> fpb.ListAgentsResponse:
        return fpb.ListAgentsResponse(agents=self.agents, event_sequence=1)

    async def WatchEventBatches(self, request: Any, context: Any) -> Any:
        """The flood, once bench/tui.py says ``go`` on stdin (the listing is drawn); then
        quiet until the app hangs up."""
        await asyncio.to_thread(sys.stdin.readline)
        cpu0 = time.process_time()
        t0 = time.monotonic()
        sent = 0
        async for burst in flood(self.jobs, self.agents, self.args):
            yield fpb.WatchEventBatchesResponse(events=burst)
            sent += len(burst)
        elapsed = time.monotonic() - t0
        cpu = time.process_time() - cpu0
        print(f"flood done sent={sent} seconds={elapsed:.3f} cpu={cpu:.3f}", flush=True)
        await asyncio.Event().wait()


def stamped(sequence: int, **resource: Any) -> fpb.WatchEventsResponse:
    """An upsert of ``resource`` stamped with now (the constructor copies the message:
    later changes to it do not reach this event)."""
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    return fpb.WatchEventsResponse(sequence=sequence, time=now, change=UPSERTED, **resource)


def job_events(jobs: list[pb.Job], frames: int) -> Iterator[dict[str, Any]]:
    """Round-robin over the jobs, forever: a frame completes, then its job's counts."""
    done = [0] * len(jobs)
    for index in itertools.cycle(range(len(jobs))):
        job = jobs[index]
        done[index] = min(frames, done[index] + 1)
        yield {"frame": pb.Frame(job_id=job.id, number=done[index], state=pb.FRAME_STATE_COMPLETED)}
        job.frames_completed = done[index]
        job.frames_running = 1
        job.progress = done[index] / frames
        yield {"job": job}


def agent_events(agents: list[pb.Agent]) -> Iterator[dict[str, Any]]:
    """Round-robin over the online agents, forever: each heartbeat's agent."""
    rng = random.Random(11)
    online = [a for a in agents if a.status == pb.AGENT_STATUS_ONLINE and not a.problem]
    beats = 0
    while online:
        for agent in online:
            beats += 1
            busy = agent.mode != pb.AGENT_MODE_DISABLED
            beat(agent, rng, tasks=busy and beats % TASKS_EVERY == 0)
            yield {"agent": agent}


async def flood(
    jobs: list[pb.Job], agents: list[pb.Agent], args: argparse.Namespace
) -> AsyncIterator[list[fpb.WatchEventsResponse]]:
    """The events, paced in bursts every few ms: job and frame events at ``rate`` a
    second, agent events at one per online agent per ``heartbeat`` seconds."""
    online = sum(1 for a in agents if a.status == pb.AGENT_STATUS_ONLINE and not a.problem)
    streams = [
        (job_events(jobs, args.frames), float(args.rate) if jobs else 0.0),
        (agent_events(agents), online / args.heartbeat if args.heartbeat > 0 else 0.0),
    ]
    totals = [int(rate * args.seconds) for _, rate in streams]
    sent = [0, 0]
    sequence = 1
    t0 = time.monotonic()
    while sent != totals:
        elapsed = time.monotonic() - t0
        burst: list[fpb.WatchEventsResponse] = []
        for i, (events, rate) in enumerate(streams):
            due = min(totals[i], int(elapsed * rate) + 1)
            while sent[i] < due:
                sequence += 1
                burst.append(stamped(sequence, **next(events)))
                sent[i] += 1
        if burst:
            yield burst
        await asyncio.sleep(BURST_SECONDS)


async def serve(args: argparse.Namespace) -> None:
    server = grpc.aio.server(options=[("grpc.max_send_message_length", 64 << 20)])
    fgrpc.add_FarmServiceServicer_to_server(FloodFarm(args), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"listening on {port}", flush=True)
    await server.wait_for_termination()


def add_farm_arguments(parser: argparse.ArgumentParser) -> None:
    """The farm's and the flood's flags, shared with bench/tui.py, which passes them on."""
    parser.add_argument("--rate", type=int, default=10_000, help="job and frame events per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the flood")
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=1000, help="frames per job")
    parser.add_argument("--agents", type=int, default=5000, help="render nodes listed")
    parser.add_argument(
        "--heartbeat",
        type=float,
        default=2.0,
        help="seconds between an agent's heartbeats (one agent event each; 0: none)",
    )


def pass_on(args: argparse.Namespace, seconds: float) -> list[str]:
    """``args``'s farm flags as this script takes them."""
    names = ("rate", "jobs", "frames", "agents", "heartbeat")
    return [f"--seconds={seconds}", *(f"--{name}={getattr(args, name)}" for name in names)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_farm_arguments(parser)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
