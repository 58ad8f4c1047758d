"""renderq against Celery + Redis: the same no-op frames through each, side by side in one run.

Workload: --frames (2,000) frames of `true`, each its own task, on two single-slot
executors, measured the same way on both sides: from the first submit to the last
result, by this script, as a client of each system.

- renderq: a real controller and 2 real agents x 1 slot (the agent's default, checked),
  started as bench/dispatch.py and bench/recovery.py start them; one job of 2,000
  one-frame tasks of the ``command`` plugin with argv ``["true"]``, submitted with
  CreateJob and followed with WatchEvents until the job is completed.
- Celery: a Redis server (Debian's ``redis-server``, on a free loopback port, no
  persistence, in the round's folder) as broker and result backend, and 2 prefork
  workers of concurrency 1 with ``acks_late`` and ``worker_prefetch_multiplier=1``
  (bench/celery_tasks.py), each task running ``subprocess.run(["true"], check=True)``.
  Two workers rather than one of concurrency 2, because that is renderq's shape: two
  executors, each with its own connection to the broker and its own process taking
  tasks, each holding at most the one task it runs; one worker would share a single
  consumer process and prefetch window between both pool processes. The 2,000 tasks go
  out as one ``group`` (one submit, as the renderq job), and the results come back
  through Redis. The workers are warm: both have answered a ping before the clock starts.

Each round starts both systems afresh, one after the other (renderq first in odd rounds,
Celery first in even ones, so neither always meets the machine first), and stops each
before the other starts, so the idle one takes no CPU from the measured one.

CPU per frame is the CPU time each side's processes spent between the clock's start and
stop (process trees, with the `true` processes they reaped), over the frames: controller
+ agents + this script's client for renderq; redis + workers + the Celery client for
Celery. Each side's line also gives the host's steal meanwhile: the share of the
machine's CPU time its hypervisor gave to other machines, from ``/proc/stat``.

Celery and Redis are for this benchmark only: Celery goes into its own virtualenv under
``~/.cache/renderq-bench/celery-venv`` (created on the first run), never the project's;
``redis-server`` is installed with apt-get when missing (as root). Every process is
stopped at the end, on failure, on Ctrl-C and on SIGTERM.

Usage: python bench/vs_celery.py [--rounds 3] [--frames 2000] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import psutil
from dispatch import command_job, cpu_seconds, online, own_cpu_seconds, wait_completed
from recovery import Bench, free_port

from renderq.cli.children import Child
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc

T = TypeVar("T")
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "renderq-bench"
VENV = CACHE / "celery-venv"
CELERY_REQUIREMENT = "celery[redis]>=5.4,<6"
EXECUTORS = 2
START_SECONDS = 60.0
"""Deadline for any process to serve, and for the executors to be there."""
REDIS_READY = re.compile(r"(Ready to accept connections)")
WORKER_READY = re.compile(r"(\S+@\S+) ready$")  # the worker logs it as a WARNING line


@dataclass
class Measured:
    """One side of one round: seconds from first submit to last result, CPU seconds by part."""

    seconds: float
    cpu: dict[str, float]
    steal: float
    """Share of the machine's CPU time its host took meanwhile (a virtual machine's
    neighbours: it moves from minute to minute, and a round with much more on one side
    than the other says more about the host than about either system)."""


def frames_deadline(frames: int) -> float:
    """Seconds a round may take before it is called stuck (about 20x the expected time)."""
    return START_SECONDS + frames * 0.05


async def within(awaitable: Awaitable[T], seconds: float, what: str) -> T:
    """``awaitable``'s result, or exit saying what did not happen in time."""
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except TimeoutError:
        raise SystemExit(f"{what}: not within {seconds:.0f} s") from None


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its live descendants, and the children they reaped
    (Celery's pool processes live under the worker; `true` under the pool process)."""
    total = cpu_seconds(pid)
    for child in psutil.Process(pid).children(recursive=True):
        try:
            total += cpu_seconds(child.pid)
        except psutil.NoSuchProcess:
            continue
    return total


def machine_ticks() -> tuple[int, int]:
    """(ticks stolen by the host, all ticks) of this machine's CPUs so far, from
    ``/proc/stat`` ((0, 0) where there is none)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    except OSError:
        return 0, 0
    ticks = [int(field) for field in fields]
    return (ticks[7] if len(ticks) > 7 else 0), sum(ticks)


def steal_since(before: tuple[int, int]) -> float:
    """The share of the machine's ticks since ``before`` that its host took."""
    stolen, total = (now - then for now, then in zip(machine_ticks(), before, strict=True))
    return stolen / total if total else 0.0


def cpu_since(before: dict[str, float], now: dict[str, float]) -> dict[str, float]:
    """CPU seconds by part between two readings: what the clocked stretch cost."""
    return {part: now[part] - before[part] for part in before}


def ensure_celery() -> Path:
    """The python of the bench's Celery virtualenv, created and filled on first use."""
    python = VENV / "bin" / "python"
    marker = VENV / "installed.txt"
    if marker.is_file() and marker.read_text() == CELERY_REQUIREMENT:
        return python
    print(f"installing {CELERY_REQUIREMENT} into {VENV} (for this benchmark only)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", CELERY_REQUIREMENT], check=True)
    marker.write_text(CELERY_REQUIREMENT)
    return python


def ensure_redis() -> str:
    """The path of redis-server, installed from Debian's packages when missing."""
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("redis-server is missing: apt-get install -y redis-server (as root)")
    print("installing redis-server with apt-get (for this benchmark only)", flush=True)
    quiet = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=quiet)
    subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=True, env=quiet)
    found = shutil.which("redis-server")
    if not found:
        raise SystemExit("apt-get installed redis-server but it is not on PATH")
    return found


async def executors_online(stub: fgrpc.FarmServiceStub) -> None:
    """Return when both agents are online, each with the one slot the comparison assumes."""
    while await online(stub) < EXECUTORS:  # noqa: ASYNC110 (a one-off wait at start)
        await asyncio.sleep(0.05)
    slots = [a.slots for a in (await stub.ListAgents(fpb.ListAgentsRequest())).agents]
    if slots != [1] * EXECUTORS:
        raise SystemExit(f"the agents have {slots} slots, not 1 each: the comparison needs 1")


async def renderq_round(root: Path, frames: int) -> Measured:
    """A fresh controller and two agents; one job of ``frames`` tasks of `true`."""
    bench = Bench(root)
    try:
        agents = [
            await within(bench.agent(f"agent{i}"), START_SECONDS, f"renderq agent{i} serving")
            for i in range(EXECUTORS)
        ]
        controller = await bench.controller("127.0.0.1:0", [address for _, address in agents])
        address = await within(controller.ready(), START_SECONDS, "renderq controller serving")
        async with bench.client(address) as channel:
            stub = fgrpc.FarmServiceStub(channel)
            await within(executors_online(stub), START_SECONDS, "renderq agents online")

            def cpu() -> dict[str, float]:
                return {
                    "controller": tree_cpu(controller.pid),
                    "agents": sum(tree_cpu(agent.pid) for agent, _ in agents),
                    "client": own_cpu_seconds(),
                }

            before, ticks = cpu(), machine_ticks()
            started = time.perf_counter()
            job = (await stub.CreateJob(fpb.CreateJobRequest(job=command_job(["true"], f"1-{frames}")))).job
            await within(
                wait_completed(stub, job.id), frames_deadline(frames), f"renderq job of {frames} frames"
            )
            seconds = time.perf_counter() - started
            return Measured(seconds, cpu_since(before, cpu()), steal_since(ticks))
    finally:
        await bench.stop()


class CeleryFarm:
    """Redis, the Celery workers and the Celery client of one round, all under ``root``."""

    def __init__(self, root: Path, python: Path, redis_server: str) -> None:
        self.root = root
        self.python = python
        self.redis_server = redis_server
        self.port = free_port()
        self.env = {"PYTHONPATH": str(HERE), "RENDERQ_BENCH_REDIS": f"redis://127.0.0.1:{self.port}/0"}
        self.redis: Child | None = None
        self.workers: list[Child] = []
        self.client: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Redis serving, then both workers consuming (their ready line)."""
        no_persistence = ["--save", "", "--appendonly", "no"]
        argv = [self.redis_server, "--port", str(self.port), "--bind", "127.0.0.1", *no_persistence]
        # Its log to stderr, where Child looks for the ready line.
        argv += ["--dir", str(self.root), "--logfile", "/dev/stderr"]
        self.redis = Child("redis-server", argv, self.root / "redis.log", REDIS_READY)
        await self.redis.start()
        await within(self.redis.ready(), START_SECONDS, "redis-server serving")
        celery = str(self.python.parent / "celery")
        for i in range(EXECUTORS):
            argv = [celery, "-A", "celery_tasks", "worker", "--pool", "prefork", "--concurrency", "1"]
            worker = Child(
                f"celery w{i}",
                [*argv, "--hostname", f"w{i}@%h"],
                self.root / f"w{i}.log",
                WORKER_READY,
                self.env,
            )
            self.workers.append(worker)
            await worker.start()
        for worker in self.workers:
            await within(worker.ready(), START_SECONDS, f"{worker.name} consuming")

    async def measure(self, frames: int) -> Measured:
        """Start the client; once both workers answered its ping, run the clock."""
        deadline = frames_deadline(frames)
        with (self.root / "client.log").open("ab") as log:
            self.client = client = await asyncio.create_subprocess_exec(
                str(self.python),
                str(HERE / "celery_tasks.py"),
                str(frames),
                str(EXECUTORS),
                str(deadline),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                env={**os.environ, **self.env},
            )
        assert client.stdin is not None and client.stdout is not None
        ready = await within(client.stdout.readline(), START_SECONDS, "Celery workers answering a ping")
        if ready != b"ready\n":
            raise SystemExit(self.client_failed())
        before, ticks = self.cpu(), machine_ticks()
        client.stdin.write(b"go\n")
        await client.stdin.drain()
        line = await within(client.stdout.readline(), deadline + 10, f"Celery: {frames} results")
        now, steal = self.cpu(), steal_since(ticks)
        if not line:
            raise SystemExit(self.client_failed())
        return Measured(json.loads(line)["seconds"], cpu_since(before, now), steal)

    def cpu(self) -> dict[str, float]:
        assert self.redis is not None and self.client is not None
        return {
            "redis": tree_cpu(self.redis.pid),
            "workers": sum(tree_cpu(worker.pid) for worker in self.workers),
            "client": tree_cpu(self.client.pid),
        }

    def client_failed(self) -> str:
        tail = (self.root / "client.log").read_text(errors="replace").splitlines()[-10:]
        return "the Celery client ended early; its last lines:\n" + "\n".join(f"  {t}" for t in tail)

    async def stop(self) -> None:
        """The client, then the workers (a warm shutdown needs the broker), then Redis."""
        if self.client is not None and self.client.returncode is None:
            self.client.terminate()
            try:
                await asyncio.wait_for(self.client.wait(), 10)
            except TimeoutError:
                self.client.kill()
                await self.client.wait()
        for child in [*self.workers, self.redis]:
            if child is not None:
                await child.stop(10)


async def celery_round(root: Path, frames: int, python: Path, redis_server: str) -> Measured:
    """A fresh Redis, workers and client; ``frames`` tasks of `true` as one group."""
    farm = CeleryFarm(root, python, redis_server)
    try:
        await farm.start()
        return await farm.measure(frames)
    finally:
        await farm.stop()


@dataclass
class Round:
    """Both sides of one round, measured on the same machine minutes apart."""

    renderq: Measured
    celery: Measured

    @property
    def ratio(self) -> float:
        """renderq's frames/s over Celery's (above 1: renderq is faster)."""
        return self.celery.seconds / self.renderq.seconds


def side_line(name: str, measured: Measured, frames: int) -> str:
    """One side's frames/s and its CPU per frame, split by part, on one line."""
    parts = ", ".join(f"{part} {seconds / frames * 1000:.2f}" for part, seconds in measured.cpu.items())
    total = sum(measured.cpu.values()) / frames * 1000
    return (
        f"  {name:8} {frames / measured.seconds:6.0f} frames/s ({measured.seconds:6.2f} s)"
        f"   CPU per frame {total:5.2f} ms ({parts}); host's steal {measured.steal:.0%}"
    )


async def one_round(number: int, root: Path, frames: int, python: Path, redis_server: str) -> Round:
    """Both sides, renderq first in odd rounds and Celery first in even ones."""
    results: dict[str, Measured] = {}
    for side in ("renderq", "celery") if number % 2 else ("celery", "renderq"):
        folder = root / f"round{number}-{side}"
        if side == "renderq":
            results[side] = await renderq_round(folder, frames)
        else:
            results[side] = await celery_round(folder, frames, python, redis_server)
    result = Round(**results)
    print(f"round {number}: load average {load_average()}", flush=True)
    print(side_line("renderq", result.renderq, frames), flush=True)
    print(side_line("Celery", result.celery, frames), flush=True)
    print(f"  renderq / Celery {result.ratio:.2f}", flush=True)
    return result


def load_average() -> str:
    """The machine's load, printed with every figure: shared machines make them noisy."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass
class Medians:
    """The medians over the rounds: frames/s, the ratio of frames/s, CPU ms per frame."""

    renderq_frames_per_s: float
    celery_frames_per_s: float
    ratio: float
    renderq_cpu_ms_per_frame: float
    celery_cpu_ms_per_frame: float

    @classmethod
    def of(cls, rounds: list[Round], frames: int) -> Medians:
        def fps(m: Measured) -> float:
            return frames / m.seconds

        def cpu_ms(m: Measured) -> float:
            return sum(m.cpu.values()) / frames * 1000

        return cls(
            statistics.median(fps(r.renderq) for r in rounds),
            statistics.median(fps(r.celery) for r in rounds),
            statistics.median(r.ratio for r in rounds),
            statistics.median(cpu_ms(r.renderq) for r in rounds),
            statistics.median(cpu_ms(r.celery) for r in rounds),
        )

    def line(self) -> str:
        return (
            f"median: renderq {self.renderq_frames_per_s:.0f} frames/s, Celery {self.celery_frames_per_s:.0f}"
            f" frames/s, renderq / Celery {self.ratio:.2f}; CPU per frame renderq"
            f" {self.renderq_cpu_ms_per_frame:.2f} ms, Celery {self.celery_cpu_ms_per_frame:.2f} ms"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every round and the medians there")
    args = parser.parse_args()
    python, redis_server = ensure_celery(), ensure_redis()
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    root = Path(tempfile.mkdtemp(prefix="renderq-vs-celery-"))
    print(f"{args.frames} frames of `true`, {EXECUTORS} executors x 1; logs in {root}", flush=True)
    loads = [load_average()]
    rounds = [await one_round(n, root, args.frames, python, redis_server) for n in range(1, args.rounds + 1)]
    loads.append(load_average())
    medians = Medians.of(rounds, args.frames)
    print(f"{medians.line()} (load average {loads[0]} at the start, {loads[1]} at the end)")
    if args.json:
        rows = [{**asdict(r), "ratio": r.ratio} for r in rounds]
        result = {"frames": args.frames, "median": asdict(medians), "rounds": rows, "load_average": loads}
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except (KeyboardInterrupt, asyncio.CancelledError):
        sys.exit("interrupted")
