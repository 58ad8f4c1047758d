"""Scale benchmark: thousands of simulated agents against the real controller.

The real controller runs as its own process (temporary data folder, mDNS off, its
agents listed in a config file, not on its command line); --agents simulated agents
(sim_agents.py: each its own gRPC server on its own loopback port, serving the real
agent's Link with its own id, farm-key proofs and heartbeats at the agent's default
interval) run in --procs processes. Measured, in this order:

1. link: until ListAgents shows every agent online (``link_seconds``, ``agents_linked``);
2. idle: the controller's CPU seconds per wall second over --seconds while every agent
   is linked and idle (``controller_cpu_cores``; ``controller_loop_cpu_cores`` its event
   loop's thread alone, saturated at 1), its resident memory (``controller_rss_bytes``) and
   the events it publishes per second to WatchEvents clients (``events_per_s_idle``);
   ``sim_cpu_cores`` and ``bench_cpu_cores`` say what the simulation and this bench take
   from the same machine (the dispatch window reports the same, ``_dispatching``);
3. dispatch: one job of --tasks one-frame tasks of the ``command`` plugin (argv
   ``true``), more than the farm's slots; after the ramp-up (every slot assigned once),
   the assignments the simulated agents receive per second over --seconds
   (``assignments_per_s``), while a client calls ListJobs and GetJob in a loop
   (``api_p99_ms`` of the calls answered in the window; ``api_calls`` how many); the
   job must still have queued tasks when the window ends (``dispatch_saturated``), else
   the farm ran out of work, not the controller of speed;
4. false offline: agents the controller marked offline (its ``agent offline`` and
   ``agent link lost`` lines, and ListAgents at the end) while every simulated agent's
   process was alive (``false_offline``; ``false_offline_idle`` and
   ``false_offline_dispatching`` by phase, ``attempts_lost`` the attempts it gave up on).

Usage: python bench/scale.py --agents N [--slots K] [--seconds S] [--render-seconds R]
       [--tasks T] [--procs P] [--json [PATH]]

``--json`` alone prints one JSON object on stdout (the rest goes to stderr); with a PATH
it is written there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import sim_agents
from dispatch import READY, command_job, percentile

from renderq import farm_key, tokens
from renderq.agent.config import AgentConfig
from renderq.agent.hardware import probe_hardware
from renderq.cli.children import Child
from renderq.client.channel import open_channel
from renderq.client.credentials import Credentials
from renderq.controller.config import ControllerConfig
from renderq.parent_watch import ENV as STOP_WITH_PARENT
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

OFFLINE_LINE = re.compile(r" agent (?:offline|link lost) agent=(\S+)")
SETTLE_SECONDS = 2.0
"""Pause after the last agent linked, so the link storm's tail is not counted as idle."""
TASKS_PER_SECOND = 1500
"""Tasks submitted per second of the window and its ramp-up, by default: above the rate
seen here, so the queue lasts; a larger job would only stall the controller longer at
its submit (it builds and stores every task at once)."""
RAMP_EXTRA_SECONDS = 1.0
"""Pause after every slot was assigned once, before the dispatch window opens."""


class BenchError(Exception):
    """The benchmark cannot go on; the message says what it waited for or found."""


@contextlib.asynccontextmanager
async def deadline(seconds: float, what: str) -> AsyncIterator[None]:
    """Fail with BenchError naming ``what`` unless the block ends within ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise BenchError(f"gave up after {seconds:.0f} s waiting for {what}") from None


class SimProcesses:
    """The processes of simulated agents, with their shared counters."""

    def __init__(self, specs: list[sim_agents.SimSpec]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._assigned = [ctx.Value("q", 0, lock=False) for _ in specs]
        self._running = [ctx.Value("q", 0, lock=False) for _ in specs]
        self._pipes = [ctx.Pipe() for _ in specs]
        self._processes = [
            ctx.Process(
                target=sim_agents.serve,
                args=(spec, child, assigned, running),
                name=f"sim-agents-{n}",
                daemon=True,
            )
            for n, (spec, (_, child), assigned, running) in enumerate(
                zip(specs, self._pipes, self._assigned, self._running, strict=True)
            )
        ]

    async def start(self, seconds: float) -> list[str]:
        """Every simulated agent's address, once all serve."""
        for process in self._processes:
            process.start()
        addresses: list[str] = []
        async with deadline(seconds, "the simulated agents to serve"):
            for process, (conn, _) in zip(self._processes, self._pipes, strict=True):
                while not await asyncio.to_thread(conn.poll, 0.5):
                    if not process.is_alive():
                        raise BenchError(f"{process.name} exited with code {process.exitcode} before serving")
                answer = conn.recv()
                if isinstance(answer, str):
                    raise BenchError(f"{process.name} failed: {answer}")
                addresses += answer
        return addresses

    def assigned(self) -> int:
        return sum(value.value for value in self._assigned)

    def running(self) -> int:
        return sum(value.value for value in self._running)

    def processes(self) -> list[psutil.Process]:
        return [psutil.Process(p.pid) for p in self._processes if p.pid is not None]

    def dead(self) -> list[str]:
        return [p.name for p in self._processes if p.exitcode is not None]

    async def stop(self) -> None:
        """Tell each to stop; kill those that do not end within 15 s."""
        for conn, _ in self._pipes:
            with contextlib.suppress(OSError):
                conn.send("stop")
        for process in self._processes:
            if process.pid is None:
                continue
            await asyncio.to_thread(process.join, 15)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 5)


def sim_specs(args: argparse.Namespace, root: Path, hardware: pb.Hardware) -> list[sim_agents.SimSpec]:
    """The agents split evenly over the processes, each with this machine's hardware."""
    procs = max(1, min(args.procs, args.agents))
    heartbeat = AgentConfig().heartbeat_interval
    key_file = root / "controller" / farm_key.FILE_NAME
    bounds = [args.agents * n // procs for n in range(procs + 1)]
    return [
        sim_agents.SimSpec(
            first=bounds[n],
            count=bounds[n + 1] - bounds[n],
            slots=args.slots,
            render_seconds=args.render_seconds,
            heartbeat_interval=heartbeat,
            key_file=key_file,
            hardware=hardware.SerializeToString(),
            root=root / "agents",
            log_file=root / f"sim-agents-{n}.log",
        )
        for n in range(procs)
    ]


def controller_child(root: Path, addresses: list[str]) -> Child:
    """The real controller, its agents listed in its config file (5,000 would be a long argv)."""
    config = root / "controller.toml"
    listed = ",\n".join(f"  {json.dumps(a)}" for a in addresses)
    config.write_text(
        f'listen = "127.0.0.1:0"\ndata_dir = {json.dumps(str(root / "controller"))}\n'
        f"mdns = false\nagent = [\n{listed}\n]\n",
        encoding="utf-8",
    )
    argv = [sys.executable, "-m", "renderq", "controller", "--config", str(config)]
    # A bench killed with SIGKILL must not leave the controller behind.
    return Child("controller", argv, root / "controller.log", READY, {STOP_WITH_PARENT: str(os.getpid())})


async def list_agents(stub: fgrpc.FarmServiceStub) -> list[pb.Agent]:
    """Every agent the controller knows, page after page."""
    agents: list[pb.Agent] = []
    token = ""
    while True:
        page = await stub.ListAgents(fpb.ListAgentsRequest(page_size=1000, page_token=token))
        agents += page.agents
        token = page.next_page_token
        if not token:
            return agents


async def count_online(stub: fgrpc.FarmServiceStub) -> int:
    return sum(a.status == pb.AGENT_STATUS_ONLINE for a in await list_agents(stub))


async def wait_linked(stub: fgrpc.FarmServiceStub, agents: int, seconds: float) -> int:
    """Wait until ListAgents shows ``agents`` online; how many it shows."""
    online = 0
    try:
        async with asyncio.timeout(seconds):
            while (online := await count_online(stub)) < agents:  # noqa: ASYNC110 (polled over the API)
                await asyncio.sleep(0.5)
    except TimeoutError:
        raise BenchError(
            f"gave up after {seconds:.0f} s waiting for {agents} agents online; {online} were"
        ) from None
    return online


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def loop_seconds(process: psutil.Process) -> float:
    """CPU seconds of the process's main thread, which runs its event loop: at one second
    per second, the loop is saturated whatever the process's total says."""
    main = next(t for t in process.threads() if t.id == process.pid)
    return main.user_time + main.system_time


class CpuMeter:
    """CPU seconds per wall second over a window: the controller, its event loop's
    thread, the simulated agents' processes and this bench's own."""

    def __init__(self, controller: psutil.Process, sims: list[psutil.Process]) -> None:
        self._controller = controller
        self._sims = sims
        self._bench = psutil.Process()
        self._start = self._sample()

    def _sample(self) -> tuple[float, ...]:
        return (
            time.perf_counter(),
            cpu_seconds(self._controller),
            loop_seconds(self._controller),
            sum(cpu_seconds(p) for p in self._sims),
            cpu_seconds(self._bench),
        )

    def read(self, suffix: str = "") -> dict[str, float]:
        """The cores used since the meter was made, keyed ``controller_cpu_cores`` + suffix and so on."""
        now = self._sample()
        elapsed = now[0] - self._start[0]
        names = ("controller_cpu_cores", "controller_loop_cpu_cores", "sim_cpu_cores", "bench_cpu_cores")
        return {
            name + suffix: round((end - begin) / elapsed, 3)
            for name, begin, end in zip(names, self._start[1:], now[1:], strict=True)
        }


async def event_sequence(stub: fgrpc.FarmServiceStub) -> int:
    async with deadline(60, "ListJobs for the event sequence"):
        return (await stub.ListJobs(fpb.ListJobsRequest(page_size=1))).event_sequence


async def idle_phase(
    stub: fgrpc.FarmServiceStub, controller: psutil.Process, sims: list[psutil.Process], seconds: float
) -> dict[str, Any]:
    """The CPU per wall second and the controller's memory while every agent is linked and
    idle, and the events it publishes meanwhile (each to every WatchEvents client)."""
    await asyncio.sleep(SETTLE_SECONDS)
    meter = CpuMeter(controller, sims)
    first, started = await event_sequence(stub), time.perf_counter()
    await asyncio.sleep(seconds)
    events = await event_sequence(stub) - first
    return {
        **meter.read(),
        "events_per_s_idle": round(events / (time.perf_counter() - started), 1),
        "controller_rss_bytes": controller.memory_info().rss,
        "sim_rss_bytes": sum(p.memory_info().rss for p in sims),
    }


async def call_api(stub: fgrpc.FarmServiceStub, job_id: int, latencies: list[tuple[float, float]]) -> None:
    """ListJobs then GetJob, back to back until cancelled; (when sent, seconds) of each call."""
    while True:
        sent = time.perf_counter()
        await stub.ListJobs(fpb.ListJobsRequest())
        listed = time.perf_counter()
        await stub.GetJob(fpb.GetJobRequest(job_id=job_id))
        latencies += [(sent, listed - sent), (listed, time.perf_counter() - listed)]


async def ramp_up(sims: SimProcesses, before: int, slots: int, seconds: float) -> None:
    """Until every slot of the farm was assigned once since ``before``."""
    async with deadline(seconds, f"{slots} assignments (every slot busy once)"):
        while sims.assigned() - before < slots:  # noqa: ASYNC110 (shared counters, no event to await)
            await asyncio.sleep(0.1)
    await asyncio.sleep(RAMP_EXTRA_SECONDS)


async def window(sims: SimProcesses, controller: psutil.Process, seconds: float) -> dict[str, Any]:
    """Assignments per second and the busy slots over ``seconds``, and the CPU used."""
    meter = CpuMeter(controller, sims.processes())
    assigned, started = sims.assigned(), time.perf_counter()
    busy: list[int] = []
    while time.perf_counter() - started < seconds:
        await asyncio.sleep(0.5)
        busy.append(sims.running())
    elapsed = time.perf_counter() - started
    return {
        "assignments_per_s": round((sims.assigned() - assigned) / elapsed, 1),
        **meter.read("_dispatching"),
        "busy_slots_mean": round(sum(busy) / len(busy), 1),
        "window": (started, started + elapsed),
    }


async def dispatch_phase(
    stub: fgrpc.FarmServiceStub, sims: SimProcesses, controller: psutil.Process, args: argparse.Namespace
) -> dict[str, Any]:
    """Assignments per second with more work queued than slots, and the API's latency meanwhile."""
    slots = args.agents * args.slots
    tasks = args.tasks or max(3 * slots, int(TASKS_PER_SECOND * (args.seconds + 10)))
    before = sims.assigned()
    submitted = time.perf_counter()
    async with deadline(120 + tasks / 1000, f"CreateJob of {tasks} tasks to be stored"):
        job = (await stub.CreateJob(fpb.CreateJobRequest(job=command_job(["true"], f"1-{tasks}")))).job
    stored = time.perf_counter() - submitted
    latencies: list[tuple[float, float]] = []
    api = asyncio.create_task(call_api(stub, job.id, latencies))
    try:
        await ramp_up(sims, before, min(slots, tasks), 60 + slots / 100)
        measured = await window(sims, controller, args.seconds)
    finally:
        api.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await api
    # Not cancelled: the controller stops soon, and cancelling tens of thousands of
    # tasks is one large commit that would only lengthen the run.
    async with deadline(60, "GetJob after the window"):
        after = (await stub.GetJob(fpb.GetJobRequest(job_id=job.id))).job
    begin, end = measured.pop("window")
    during = [seconds for sent, seconds in latencies if begin <= sent + seconds <= end]
    if not during:
        raise BenchError(f"no ListJobs or GetJob call was answered in the {args.seconds:g} s dispatch window")
    return {
        **measured,
        "api_p99_ms": round(percentile(during, 99) * 1000, 1),
        "api_p50_ms": round(percentile(during, 50) * 1000, 1),
        "api_calls": len(during),
        "dispatch_saturated": after.frames_completed + after.frames_running < after.frame_count,
        "tasks": tasks,
        "submit_stored_seconds": round(stored, 2),
    }


class ControllerLog:
    """What the controller's log says about its agents, from a point on (its lines are
    copied to the file as they come, see cli/children.py)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._start = path.stat().st_size

    def read(self) -> str:
        with self._path.open("rb") as file:
            file.seek(self._start)
            return file.read().decode(errors="replace")

    def offline(self) -> set[str]:
        """Agents it marked offline since (silent past the timeout, or their link lost)."""
        return {match.group(1) for match in OFFLINE_LINE.finditer(self.read())}

    def lost_attempts(self) -> int:
        """Attempts it gave up on since (their frames requeued)."""
        return self.read().count(" attempt lost job=")


async def measure(
    stub: fgrpc.FarmServiceStub, sims: SimProcesses, controller: Child, args: argparse.Namespace
) -> dict[str, Any]:
    """Every phase against a controller that serves; the figures."""
    process = psutil.Process(controller.pid)
    run_log = ControllerLog(controller.log_path)
    started = time.perf_counter()
    linked = await wait_linked(stub, args.agents, 60 + args.agents / 50)
    result: dict[str, Any] = {
        "agents_linked": linked,
        "link_seconds": round(time.perf_counter() - started, 2),
    }
    say(f"  {linked} agents online after {result['link_seconds']} s; idle for {args.seconds} s")
    idle_log = ControllerLog(controller.log_path)
    result |= await idle_phase(stub, process, sims.processes(), args.seconds)
    result["false_offline_idle"] = len(idle_log.offline())
    say(f"  idle: {result['controller_cpu_cores']} cores; dispatching for {args.seconds} s")
    dispatch_log = ControllerLog(controller.log_path)
    result |= await dispatch_phase(stub, sims, process, args)
    async with deadline(60, "ListAgents at the end"):
        listed = await list_agents(stub)
    if dead := sims.dead():
        raise BenchError(f"simulated agent processes died during the run: {', '.join(dead)}")
    offline = {a.id for a in listed if a.status != pb.AGENT_STATUS_ONLINE}
    result["false_offline"] = len(offline | run_log.offline())
    result["false_offline_dispatching"] = len(dispatch_log.offline())
    result["attempts_lost"] = dispatch_log.lost_attempts()
    result["agents_online_at_end"] = sum(a.status == pb.AGENT_STATUS_ONLINE for a in listed)
    return result


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


async def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Start the simulated agents and the controller, measure, stop them all."""
    farm_key.load_or_create(root / "controller" / farm_key.FILE_NAME)
    # Probed once, as an agent does at its start (renderers included), for every simulated agent.
    sims = SimProcesses(sim_specs(args, root, await probe_hardware()))
    controller: Child | None = None
    try:
        started = time.perf_counter()
        addresses = await sims.start(60 + args.agents / 20)
        sims_seconds = round(time.perf_counter() - started, 2)
        say(f"  {len(addresses)} simulated agents serving after {sims_seconds} s")
        controller = controller_child(root, addresses)
        await controller.start()
        async with deadline(60, "the controller to listen"):
            address = await controller.ready()
        credentials = Credentials(token=tokens.read_local(root / "controller"))
        async with open_channel(address, credentials) as channel:
            result = await measure(fgrpc.FarmServiceStub(channel), sims, controller, args)
        return {**result, "sim_start_seconds": sims_seconds}
    finally:
        if controller is not None:
            await controller.stop(10)
        await sims.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, required=True)
    parser.add_argument("--slots", type=int, default=1, help="slots per agent (default 1, the agent's)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the idle and dispatch windows")
    parser.add_argument("--render-seconds", type=float, default=0.0, help="each task's simulated render")
    parser.add_argument("--tasks", type=int, default=0, help="tasks of the dispatch job (default: enough)")
    parser.add_argument("--procs", type=int, default=max(2, min(4, os.cpu_count() or 2)))
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH", help="write the figures as JSON")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    limit, _ = sim_agents.raise_file_limit()  # the controller inherits it
    root = Path(tempfile.mkdtemp(prefix="renderq-bench-scale-"))
    controller_defaults = ControllerConfig()
    say(
        f"scale: {args.agents} simulated agents x {args.slots} slots in {args.procs} processes,"
        f" heartbeat {AgentConfig().heartbeat_interval:g} s, agent timeout"
        f" {controller_defaults.agent_timeout:g} s, open files {limit}; logs in {root}"
    )
    load_before = os.getloadavg()[0]
    try:
        result = asyncio.run(run(args, root))
    except BenchError as exc:
        raise SystemExit(f"scale: {exc} (logs in {root})") from None
    except KeyboardInterrupt:
        raise SystemExit(
            f"scale: interrupted; every process it started is stopped (logs in {root})"
        ) from None
    result |= {"agents": args.agents, "slots": args.slots, "loadavg_start": load_before}
    result["loadavg_end"] = os.getloadavg()[0]
    report(result, args.json)


def report(result: dict[str, Any], json_path: str | None) -> None:
    """Each figure on a line of its own; the JSON object on stdout or in a file."""
    out = sys.stderr if json_path == "-" else sys.stdout
    for key, value in result.items():
        print(f"  {key:34} {value}", file=out)
    if json_path == "-":
        print(json.dumps(result))
    elif json_path:
        Path(json_path).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
