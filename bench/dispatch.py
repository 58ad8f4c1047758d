"""Dispatch benchmark: no-op frames over real agents on loopback.

Starts a real controller and K real agents (separate processes, default settings but
no mDNS), then measures:

1. throughput: N frames of `true` (one frame per task) from submit to job completed;
2. idle gap: on each agent, from a task's process ending to the next task's process
   starting (the agent's own clock, read back from the attempts table in DuckDB);
3. log delay: a task prints its clock every 20 ms; a TailLog follower measures how long
   each line takes to arrive.

Usage: python bench/dispatch.py [--frames 5000] [--agents 2] [--slots 4] [--tls]

``--tls`` runs the same farm with TLS on every link (the API and the agent links), with
certificates made for the run in its temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import psutil
from google.protobuf import struct_pb2

from renderq import farm_key, tls, tokens
from renderq.cli.children import Child
from renderq.client.channel import open_channel
from renderq.client.credentials import Credentials
from renderq.parent_watch import ENV as STOP_WITH_PARENT
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

READY = re.compile(r"listening on (\S+)")
JOBS_ONLY = {"jobs_only": True} if "jobs_only" in fpb.WatchEventsRequest.DESCRIPTOR.fields_by_name else {}
"""Watch only the job's own changes where the revision under test offers it (``compare.py``
also runs older ones): a waiting client needs no task or frame events."""
LOG_LINES = 200
PRINT_CLOCK = "\n".join(
    [
        "import time",
        f"for _ in range({LOG_LINES}):",
        "    print(repr(time.time()), flush=True)",
        "    time.sleep(0.02)",
    ]
)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:6.1f}"


def command_job(argv: list[str], frames: str) -> pb.Job:
    params = struct_pb2.Struct()
    params.update({"argv": argv})
    return pb.Job(name="bench", owner="bench", plugin="command", parameters=params, frames=frames)


async def wait_completed(stub: fgrpc.FarmServiceStub, job_id: int) -> None:
    after = (await stub.ListJobs(fpb.ListJobsRequest(page_size=1))).event_sequence
    job = (await stub.GetJob(fpb.GetJobRequest(job_id=job_id))).job
    if job.state == pb.JOB_STATE_COMPLETED:
        return
    async for event in stub.WatchEvents(
        fpb.WatchEventsRequest(after_sequence=after, job_id=job_id, **JOBS_ONLY)
    ):
        if event.WhichOneof("resource") == "resync":
            job = (await stub.GetJob(fpb.GetJobRequest(job_id=job_id))).job
        elif event.WhichOneof("resource") == "job":
            job = event.job
        if job.state == pb.JOB_STATE_COMPLETED:
            return
        if job.state in (pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED):
            raise SystemExit(f"bench job {job_id} ended {pb.JobState.Name(job.state)}: {job.last_error}")


async def log_delays(stub: fgrpc.FarmServiceStub) -> list[float]:
    job = (
        await stub.CreateJob(fpb.CreateJobRequest(job=command_job([sys.executable, "-c", PRINT_CLOCK], "1")))
    ).job
    delays: list[float] = []
    pending = b""
    async for chunk in stub.TailLog(fpb.TailLogRequest(job_id=job.id, frame=1, follow=True)):
        arrived = time.time()
        pending += chunk.data
        *lines, pending = pending.split(b"\n")
        delays += [arrived - float(line) for line in lines if line.strip()]
    return delays


async def online(stub: fgrpc.FarmServiceStub) -> int:
    agents = (await stub.ListAgents(fpb.ListAgentsRequest())).agents
    return sum(a.status == pb.AGENT_STATUS_ONLINE for a in agents)


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its children it has reaped (the agents' tasks)."""
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def own_cpu_seconds() -> float:
    """CPU time of this process: the bench's client shares the machine with the farm."""
    t = psutil.Process().cpu_times()
    return t.user + t.system


def idle_gaps(db: Path) -> list[float]:
    """Per agent: from each attempt's end to the next start on that agent (agent clock)."""
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT agent_id, start_time, end_time FROM attempts"
        " WHERE state = 'completed' ORDER BY agent_id, start_time"
    ).fetchall()
    con.close()
    gaps: list[float] = []
    by_agent: dict[str, list[tuple[float, float]]] = {}
    for agent, start, end in rows:
        by_agent.setdefault(agent, []).append((start, end))
    for spans in by_agent.values():
        starts = sorted(s for s, _ in spans)
        ends = sorted(e for _, e in spans)
        j = 0
        for end in ends:
            while j < len(starts) and starts[j] < end:
                j += 1
            if j == len(starts):
                break
            gaps.append(starts[j] - end)
            j += 1
    return gaps


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--agents", type=int, default=2)
    parser.add_argument("--slots", type=int, default=4)
    parser.add_argument("--tls", action="store_true", help="TLS on the API and the agent links")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="renderq-bench-"))
    renderq = [sys.executable, "-m", "renderq"]
    tls_dir = root / "tls" if args.tls else None
    if tls_dir is not None:
        tls.ensure_ca(tls_dir)
        tls.issue_node(tls_dir, tls_dir, tls.node_names([]))
    tls_flag = ["--tls", str(tls_dir)] if tls_dir else []
    key = farm_key.load_or_create(root / "controller" / farm_key.FILE_NAME)
    # The servers stop with this process however it ends (killed while waiting for one, too).
    join = {"RENDERQ_JOIN_TOKEN": farm_key.to_token(key), STOP_WITH_PARENT: str(os.getpid())}
    agents = [
        Child(
            f"agent{i}",
            [
                *renderq,
                "agent",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                str(root / f"agent{i}"),
                "--no-mdns",
                "--slots",
                str(args.slots),
                *tls_flag,
            ],
            root / f"agent{i}.log",
            READY,
            join,
        )
        for i in range(args.agents)
    ]
    children: list[Child] = []
    """Those started so far: stopped however the run ends, a failed start included."""
    try:
        for agent in agents:
            await agent.start()
            children.append(agent)
        addresses = [await agent.ready() for agent in agents]
        controller = Child(
            "controller",
            [
                *renderq,
                "controller",
                "--listen",
                "127.0.0.1:0",
                "--data-dir",
                str(root / "controller"),
                "--no-mdns",
                *(f"--agent={a}" for a in addresses),
                *tls_flag,
            ],
            root / "controller.log",
            READY,
        )
        await controller.start()
        children.append(controller)
        address = await controller.ready()
        credentials = Credentials(token=tokens.read_local(root / "controller"), tls_dir=tls_dir)
        async with open_channel(address, credentials) as channel:
            stub = fgrpc.FarmServiceStub(channel)
            while await online(stub) < args.agents:  # noqa: ASYNC110 (a one-off wait at start)
                await asyncio.sleep(0.05)
            cpu_before = [cpu_seconds(c.pid) for c in (controller, *agents)]
            client_before = own_cpu_seconds()
            started = time.perf_counter()
            job = (
                await stub.CreateJob(fpb.CreateJobRequest(job=command_job(["true"], f"1-{args.frames}")))
            ).job
            await wait_completed(stub, job.id)
            elapsed = time.perf_counter() - started
            cpu = [cpu_seconds(c.pid) - b for c, b in zip((controller, *agents), cpu_before, strict=True)]
            client_cpu = own_cpu_seconds() - client_before
            delays = await log_delays(stub)
    finally:
        for child in reversed(children):
            await child.stop(10)
    gaps = idle_gaps(root / "controller" / "renderq.duckdb")
    print(
        f"dispatch: {args.frames} no-op frames, {args.agents} agents x {args.slots} slots, loopback"
        + (", TLS" if tls_dir else "")
    )
    print(f"  throughput      {args.frames / elapsed:8.0f} frames/s  ({elapsed:.2f} s)")
    print(
        f"  idle gap        p50 {ms(percentile(gaps, 50))} ms   p99 {ms(percentile(gaps, 99))} ms"
        f"   ({len(gaps)} gaps)"
    )
    print(
        f"  log line delay  p50 {ms(percentile(delays, 50))} ms   p99 {ms(percentile(delays, 99))} ms"
        f"   ({len(delays)} lines)"
    )
    per_frame = [seconds / args.frames * 1000 for seconds in cpu]
    print(
        f"  CPU per frame   controller {per_frame[0]:.2f} ms, agents (with their tasks) "
        + ", ".join(f"{ms_:.2f}" for ms_ in per_frame[1:])
        + f" ms; {sum(cpu) / elapsed * 100:.0f}% of one core"
    )
    print(
        f"                  this bench's client (a watcher; it copies the farm's logs) "
        f"{client_cpu / args.frames * 1000:.2f} ms"
    )
    print(f"  mean gap {statistics.mean(gaps) * 1000:.1f} ms; logs and database in {root}")


if __name__ == "__main__":
    asyncio.run(main())
