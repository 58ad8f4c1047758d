"""Simulated agents for bench/scale.py: many in one process, each a real Link server.

A farm of thousands of nodes cannot be started as thousands of agent processes on one
machine, yet the controller must meet exactly what a real agent says. So each simulated
agent is its own ``grpc.aio`` server on its own loopback port and serves the real
agent's ``LinkService`` (agent/link.py: the hello, the farm-key proofs both ways, the
outbox replayed and streamed, heartbeats at the agent's default interval, acks), with
its own identity, hardware, ``Outbox`` and blob cache. Only what runs a task is
simulated (``SimAttempts``): an assignment reports ``started``, then after
``render_seconds`` (0: at once) ``frame_completed`` for each frame and ``finished``,
the events a real agent sends for a successful task of ``true``, numbered in its outbox
until acked. No process is started.

The heartbeat's load is sampled once a second per process instead of per heartbeat:
``current_load`` costs about 150 µs, which at 2,500 heartbeats a second would take a
core of the machine the controller is measured on.

Run by scale.py as ``multiprocessing`` children (``serve``): each sends back its agents'
addresses, counts the assignments its agents receive in shared counters, and stops when
told to or when its parent goes away (the pipe closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import secrets
import signal
import time
import uuid
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

import grpc
from google.protobuf.duration_pb2 import Duration

from renderq import __version__, farm_key
from renderq.agent.blob_cache import BlobCache
from renderq.agent.hardware import current_load
from renderq.agent.link import HelloFactory, LinkService
from renderq.agent.outbox import Outbox
from renderq.agent.output_serving import HashedOutputs
from renderq.agent.scene_analysis import SceneAnalyst
from renderq.agent.server import GRPC_OPTIONS
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import agent_service_pb2_grpc
from renderq.v1 import resources_pb2 as pb

SENT_AHEAD = "queued" in apb.AssignTask.DESCRIPTOR.fields_by_name
"""Whether the revision under test sends tasks ahead (``compare.py`` also runs older ones)."""

log = logging.getLogger("sim_agents")

LOAD_INTERVAL = 1.0
"""Seconds between two samples of this machine's load, shared by every agent of the process."""
START_BATCH = 200
"""Servers started at once: the event loop stays responsive while thousands start."""
STOP_GRACE = 1.0


@dataclass(frozen=True)
class SimSpec:
    """What one process of simulated agents is asked to serve."""

    first: int
    """The global number of its first agent (names sim00000, sim00001, ...)."""
    count: int
    slots: int
    render_seconds: float
    heartbeat_interval: float
    key_file: Path
    """The farm key as a joined agent holds it (the controller's own file here)."""
    hardware: bytes
    """This machine's ``Hardware`` as the agent probes it, serialised (probed once for all)."""
    root: Path
    """Where workspace paths are said to be (nothing is written there)."""
    log_file: Path


@dataclass
class Counters:
    """Shared with the parent: what the agents of one process received and run."""

    assigned: Synchronized[int]
    running: Synchronized[int]


class SharedLoad:
    """This machine's load, sampled once a second for every heartbeat of the process."""

    def __init__(self) -> None:
        self.load = current_load()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(LOAD_INTERVAL)
            self.load = current_load()


def _duration(seconds: float) -> Duration:
    duration = Duration()
    duration.FromNanoseconds(round(seconds * 1e9))
    return duration


class SimAttempts:
    """What ``LinkService`` asks of the agent's attempts, with rendering simulated."""

    def __init__(self, root: Path, outbox: Outbox, spec: SimSpec, counters: Counters) -> None:
        self._outbox = outbox
        self._render_seconds = spec.render_seconds
        self._slots = spec.slots
        self._counters = counters
        self._assigned: set[int] = set()
        self._running: dict[int, tuple[apb.AssignTask, asyncio.TimerHandle]] = {}
        self._waiting: deque[apb.AssignTask] = deque()
        """Tasks sent ahead (``AssignTask.queued``), waiting for a slot as on a real agent."""
        self.workspaces = root / "workspaces"
        self.blobs = BlobCache(root / "blobs")
        self.hashed = HashedOutputs()

    def assign(self, request: apb.AssignTask) -> None:
        """As the real agent: an attempt id seen before (a replay) starts nothing."""
        if request.attempt_id in self._assigned:
            return
        self._assigned.add(request.attempt_id)
        self._counters.assigned.value += 1
        if SENT_AHEAD and request.queued and (self._waiting or len(self._running) >= self._slots):
            self._waiting.append(request)
            return
        self._start(request)

    def _start(self, request: apb.AssignTask) -> None:
        self._counters.running.value += 1
        workspace = self.workspaces / request.owner / str(request.job_id)
        self._outbox.append(request.attempt_id, apb.TaskStarted(pid=os.getpid(), workspace=str(workspace)))
        # A timer, not a task: thousands of rendering agents cost nothing while they wait.
        handle = asyncio.get_running_loop().call_later(self._render_seconds, self._complete, request)
        self._running[request.attempt_id] = (request, handle)

    def _complete(self, request: apb.AssignTask) -> None:
        took = _duration(self._render_seconds)
        for command in request.commands:
            for frame in command.frames:
                self._outbox.append(request.attempt_id, apb.FrameCompleted(frame=frame, render_time=took))
        self._end(request.attempt_id, apb.TaskFinished(exit_code=0, duration=took))

    def cancel(self, attempt_id: int, reason: str) -> None:
        message = f"cancelled: {reason}" if reason else "cancelled"
        waiting = next((request for request in self._waiting if request.attempt_id == attempt_id), None)
        if waiting is not None:
            self._waiting.remove(waiting)
            frames = [frame for command in waiting.commands for frame in command.frames]
            self._outbox.append(
                attempt_id, apb.TaskFinished(error_message=message, failed_frames=frames, cancelled=True)
            )
            return
        entry = self._running.get(attempt_id)
        if entry is None:
            return
        request, handle = entry
        handle.cancel()
        frames = [frame for command in request.commands for frame in command.frames]
        finished = apb.TaskFinished(
            exit_code=-signal.SIGTERM, error_message=message, failed_frames=frames, cancelled=True
        )
        self._end(attempt_id, finished)

    def _end(self, attempt_id: int, finished: apb.TaskFinished) -> None:
        self._outbox.append(attempt_id, finished)
        del self._running[attempt_id]
        self._counters.running.value -= 1
        if self._waiting and len(self._running) < self._slots:
            self._start(self._waiting.popleft())

    def waiting(self) -> int:
        return len(self._waiting)

    def running_ids(self) -> list[int]:
        return sorted(self._running)

    def running_job_ids(self) -> set[int]:
        return {request.job_id for request, _ in self._running.values()}

    def known_ids(self) -> list[int]:
        waiting = {request.attempt_id for request in self._waiting}
        return sorted(set(self._running) | waiting | self._outbox.attempt_ids())


class SimLinkService(LinkService):
    """The real agent's link; only the heartbeat's load comes from the shared sample."""

    def __init__(
        self,
        hello: HelloFactory,
        attempts: SimAttempts,
        outbox: Outbox,
        heartbeat_interval: float,
        key: bytes,
        analyst: SceneAnalyst,
        load: SharedLoad,
    ) -> None:
        super().__init__(hello, attempts, outbox, heartbeat_interval, key, analyst)
        self._sim_attempts = attempts
        self._load = load

    def _heartbeat(self) -> apb.Heartbeat:
        return apb.Heartbeat(load=self._load.load, running_attempt_ids=self._sim_attempts.running_ids())


class SimAgent:
    """One simulated render node: its own server, port, id, outbox and attempts."""

    def __init__(
        self,
        number: int,
        spec: SimSpec,
        key: bytes,
        hardware: pb.Hardware,
        load: SharedLoad,
        counters: Counters,
    ) -> None:
        name = f"sim{number:05d}"
        self.agent_id = f"{name}-{secrets.token_hex(3)}"
        self._spec = spec
        self._session = uuid.uuid4().hex
        self._hardware = pb.Hardware()
        self._hardware.CopyFrom(hardware)
        self._hardware.hostname = name
        root = spec.root / name
        outbox = Outbox()
        self._attempts = SimAttempts(root, outbox, spec, counters)
        analyst = SceneAnalyst(self._attempts.blobs, self._hardware_now, root / "scenes")
        self._links = SimLinkService(
            self._hello, self._attempts, outbox, spec.heartbeat_interval, key, analyst, load
        )
        self._server = grpc.aio.server(options=GRPC_OPTIONS)
        agent_service_pb2_grpc.add_AgentServiceServicer_to_server(self._links, self._server)
        self.port = 0

    async def _hardware_now(self) -> pb.Hardware:
        return self._hardware

    async def _hello(self) -> apb.AgentHello:
        """The hello a real agent with default settings sends (agent/server.py)."""
        return apb.AgentHello(
            agent_id=self.agent_id,
            version=__version__,
            session_id=self._session,
            hardware=self._hardware,
            slots=self._spec.slots,
            pool="default",
            known_attempt_ids=self._attempts.known_ids(),
            port=self.port,
            takes_assign_many=True,
        )

    async def start(self) -> str:
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        return f"127.0.0.1:{self.port}"

    async def stop(self) -> None:
        await self._links.farewell("simulated agents stopping", STOP_GRACE)
        await self._server.stop(grace=STOP_GRACE)


def raise_file_limit() -> tuple[int, int]:
    """Open files up to the hard limit: every agent holds a listening socket and a link."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def serve(spec: SimSpec, conn: Connection, assigned: Synchronized[int], running: Synchronized[int]) -> None:
    """A child process's entry: serve ``spec.count`` agents until told to stop.

    Ctrl-C is the parent's to handle: it stops the children in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_file_limit()
    logging.basicConfig(
        filename=spec.log_file, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        asyncio.run(_serve(spec, conn, Counters(assigned, running)))
    except Exception as exc:
        log.exception("simulated agents failed")
        with contextlib.suppress(OSError):
            conn.send(f"error: {exc!r}")
        raise


async def _serve(spec: SimSpec, conn: Connection, counters: Counters) -> None:
    key = farm_key.load(spec.key_file)
    if key is None:
        raise RuntimeError(f"no farm key at {spec.key_file}")
    hardware = pb.Hardware.FromString(spec.hardware)
    load = SharedLoad()
    sampler = asyncio.create_task(load.run(), name="load")
    agents = [SimAgent(spec.first + i, spec, key, hardware, load, counters) for i in range(spec.count)]
    started = time.perf_counter()
    addresses: list[str] = []
    for at in range(0, len(agents), START_BATCH):
        addresses += await asyncio.gather(*(a.start() for a in agents[at : at + START_BATCH]))
    log.info("agents serving count=%d seconds=%.2f", len(agents), time.perf_counter() - started)
    conn.send(addresses)
    try:
        await _until_told(conn)
    finally:
        sampler.cancel()
        await asyncio.gather(*(a.stop() for a in agents), return_exceptions=True)
        log.info("agents stopped count=%d", len(agents))


async def _until_told(conn: Connection) -> None:
    """Return when the parent says stop, or its end of the pipe closes (it died)."""
    loop = asyncio.get_running_loop()
    told = loop.create_future()

    def readable() -> None:
        if told.done():
            return
        try:
            told.set_result(conn.recv())
        except (EOFError, OSError) as exc:
            told.set_result(exc)

    loop.add_reader(conn.fileno(), readable)
    try:
        log.info("stopping on %r", await told)
    finally:
        loop.remove_reader(conn.fileno())
