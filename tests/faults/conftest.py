"""Fixtures and probes for the fault tests.

Farms come from the system tests: ``farm_factory`` (a loopback farm) and ``lan`` (network
namespaces), re-exported here. ``NetFarm`` lays a farm out over the LAN's namespaces the
way ``Farm`` lays one out on loopback, so a test can cut one agent's cable. The probes
read back what the processes did: their log lines, the farm's listings, the database
once the controller has stopped, the processes left on the machine.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import psutil
import pytest

from renderq import farm_key
from tests.system.conftest import Farm, farm_factory, lan
from tests.system.harness import DEBUG_LOG, Cli, Lan, Process, renderq_argv

__all__ = ["farm_factory", "lan"]
"""Fixtures defined by the system tests, made visible to the tests of this folder."""

AGENT_PORT = 7421
CONTROLLER_PORT = 7420
AGENT_TIMEOUT = "3"
"""Seconds of silence before the controller requeues an agent's tasks (``Farm`` uses the same)."""
HEARTBEAT_INTERVAL = "0.5"


def agent_join_args(farm_root: Path) -> list[str]:
    """Arguments an agent started outside ``Farm`` needs to join the farm kept in
    ``farm_root``: the join token of the key its controller keeps, as ``Farm`` gives it."""
    key = farm_key.load_or_create(farm_root / "controller" / farm_key.FILE_NAME)
    return ["--join", farm_key.to_token(key)]


class NetFarm:
    """A controller in the LAN's ``ctl`` namespace dialling agents in namespaces of their
    own; state and logs live under ``root`` as in ``Farm``."""

    def __init__(self, root: Path, network: Lan) -> None:
        self.root = root
        self.lan = network
        self.controller: Process | None = None
        self.agents: dict[str, Process] = {}
        ctl = network.hosts["ctl"]
        self.cli = Cli(f"{ctl.address}:{CONTROLLER_PORT}", root / "controller", wrap=ctl.argv)

    def add_agent(self, name: str) -> int:
        """The port of the agent on host ``name`` (each host has its own address)."""
        return AGENT_PORT

    def start_controller(self, *extra: str) -> Process:
        """The controller dials every agent host of the LAN by address (no mDNS)."""
        agents = [f"--agent={h.address}:{AGENT_PORT}" for n, h in self.lan.hosts.items() if n != "ctl"]
        argv = renderq_argv(
            "controller",
            "--listen",
            f"0.0.0.0:{CONTROLLER_PORT}",
            "--data-dir",
            str(self.root / "controller"),
            "--no-mdns",
            "--agent-timeout",
            AGENT_TIMEOUT,
            *agents,
            *DEBUG_LOG,
            *extra,
        )
        proc = Process(self.lan.hosts["ctl"].argv(argv), "controller", self.root)
        proc.wait_for_line(r"renderq controller listening on")
        self.controller = proc
        return proc

    def start_agent(self, name: str, *extra: str) -> Process:
        argv = renderq_argv(
            "agent",
            "--listen",
            f"0.0.0.0:{AGENT_PORT}",
            "--data-dir",
            str(self.root / name),
            "--no-mdns",
            "--heartbeat-interval",
            HEARTBEAT_INTERVAL,
            *agent_join_args(self.root),
            *DEBUG_LOG,
            *extra,
        )
        proc = Process(self.lan.hosts[name].argv(argv), name, self.root)
        proc.agent_id = proc.wait_for_line(r"renderq agent (\S+) listening on").group(1)
        self.agents[name] = proc
        return proc

    def stop(self) -> None:
        for proc in [*self.agents.values(), *([self.controller] if self.controller else [])]:
            proc.stop()


@pytest.fixture
def net_farm(lan: Lan, tmp_path: Path) -> Iterator[NetFarm]:
    farm = NetFarm(tmp_path / "netfarm", lan)
    farm.root.mkdir()
    try:
        yield farm
    finally:
        farm.stop()


def start_farm(farm: Farm | NetFarm, agents: Iterable[str], *agent_args: str) -> Process:
    """Start ``agents`` through ``farm``, then its controller; return the controller once
    every agent is online."""
    for name in agents:
        farm.add_agent(name)
        farm.start_agent(name, *agent_args)
    controller = farm.start_controller()
    wait_online(controller, farm.agents.values())
    return controller


def wait_online(controller: Process, agents: Iterable[Process], start: int = 0) -> None:
    """Each of ``agents`` (Processes) came online on ``controller`` after its line ``start``."""
    for agent in agents:
        controller.wait_for_line(rf"agent (?:back )?online agent={agent.agent_id}\b", start=start)


@dataclass(frozen=True)
class Assignment:
    """One dispatch, as the controller logged it."""

    job_id: int
    task_id: int
    attempt_id: int
    agent_id: str


def wait_assigned(controller: Process, job_id: str, agent_id: str = r"\S+", start: int = 0) -> Assignment:
    """The first dispatch of ``job_id`` (to ``agent_id``, a pattern) logged after line ``start``."""
    match = controller.wait_for_line(
        rf"assigned job=({job_id}) task=(\d+) attempt=(\d+) agent=({agent_id})\b", start=start
    )
    return Assignment(int(match.group(1)), int(match.group(2)), int(match.group(3)), match.group(4))


def agent_with_id(agents: dict[str, Process], agent_id: str) -> Process:
    return next(proc for proc in agents.values() if proc.agent_id == agent_id)


def other_agent(agents: dict[str, Process], agent_id: str) -> Process:
    return next(proc for proc in agents.values() if proc.agent_id != agent_id)


def task_pid(agent: Process, attempt_id: int) -> int:
    """The pid of the attempt's first process, from the agent's log."""
    return int(agent.wait_for_line(rf"task started job=\d+ task=\d+ attempt={attempt_id} pid=(\d+)").group(1))


def frames(cli: Cli, job_id: str) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = cli.json("frames", job_id)
    return frames


def assert_every_frame_completed_once(cli: Cli, job_id: str, count: int) -> list[dict[str, Any]]:
    """Each of the job's ``count`` frames is listed once, completed, its outputs not doubled,
    and the job's counters agree with the listing; returns the listing."""
    listing = frames(cli, job_id)
    numbers = [int(f["number"]) for f in listing]
    assert len(numbers) == count, f"the job lists {len(numbers)} frames, not {count}"
    assert len(set(numbers)) == count, "a frame is listed twice"
    unfinished = [f for f in listing if f["state"] != "completed"]
    assert not unfinished, f"{len(unfinished)} frames are not completed, e.g. {unfinished[:3]}"
    doubled = [f for f in listing if len({o["path"] for o in f["outputs"]}) != len(f["outputs"])]
    assert not doubled, f"outputs recorded twice: {doubled[:3]}"
    job = cli.json("job", job_id)
    assert job["state"] == "completed"
    assert (job["frame_count"], job["frames_completed"], job["frames_failed"], job["frames_running"]) == (
        count,
        count,
        0,
        0,
    ), f"the job's counters disagree with its {count} completed frames: {job}"
    return listing


def stored_attempts(db: Path, job_id: str) -> list[dict[str, Any]]:
    """The job's attempts as the database keeps them (read once the controller has stopped:
    only one process may open the file)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        cursor = con.execute("SELECT * FROM attempts WHERE job_id = ? ORDER BY id", [int(job_id)])
        names = [column[0] for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


@pytest.fixture
def task_mark() -> Iterator[tuple[str, str]]:
    """A job environment variable (give it to submit's ``--env``) that every process of
    the job's tasks inherits, so that the test finds them all, wherever they went.
    Whatever still carries it at the end is killed: a failed test leaves nothing behind."""
    mark = ("RENDERQ_FAULT_MARK", uuid.uuid4().hex)
    yield mark
    for proc in processes_marked(mark):
        with contextlib.suppress(psutil.Error):
            proc.kill()


def processes_marked(mark: tuple[str, str]) -> list[psutil.Process]:
    """Live processes (zombies excluded) whose environment holds ``mark``."""
    name, value = mark
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and proc.environ().get(name) == value:
                found.append(proc)
        except psutil.Error:
            continue
    return found


class PeakRss:
    """Samples a process's resident memory in a thread until closed; ``peak`` is the
    highest seen. A sampler, not a wait: it never decides when the test moves on."""

    INTERVAL = 0.05

    def __init__(self, pid: int) -> None:
        self.peak = 0
        self._process = psutil.Process(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self._process.memory_info().rss)
            except psutil.Error:
                return
            self._stop.wait(self.INTERVAL)
