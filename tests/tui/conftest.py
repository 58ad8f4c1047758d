"""A real farm for the TUI tests, and the waits that watch the app and the API.

``tui_farm`` starts a `renderq controller` and one `renderq agent` as their own
processes on loopback (the same ``Farm`` the system tests use); ``farm_api`` is a
FarmService stub with the controller's local admin token, the way a test checks what
a key press did. Every wait polls for a condition with a generous deadline and fails
naming what it waited for.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, overload

import pytest
from google.protobuf import struct_pb2

from renderq import tokens
from renderq.client.channel import connect
from renderq.client.credentials import Credentials
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from ..system.conftest import Farm

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from renderq.tui.app import RenderqApp
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

DEADLINE = 60.0
"""Seconds any one wait may take; far above what a 2-core machine needs."""

T = TypeVar("T")


class TuiFarm(Farm):
    """A farm of one controller and one agent ``a1`` with room for several jobs at once."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.address = f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.add_agent("a1")
        self.start_agent("a1", "--slots", "4")
        self.restart_controller()

    def restart_controller(self) -> None:
        """Start the controller (again: same port and data dir) and wait for its agent."""
        self.start_controller().wait_for_line(r"agent online")

    @property
    def agent_id(self) -> str:
        return self.agents["a1"].agent_id

    def credentials(self) -> Credentials:
        token = tokens.read_local(self.root / "controller")
        assert token, f"the controller wrote no local admin token in {self.root / 'controller'}"
        return Credentials(token=token)

    def app(self) -> RenderqApp:
        """The TUI, pointed at this farm with the admin token."""
        from renderq.tui.app import RenderqApp

        address = self.address

        async def resolve() -> str:
            return address

        return RenderqApp(resolve, self.credentials())


@pytest.fixture
def tui_farm(tmp_path: Path) -> Iterator[TuiFarm]:
    (tmp_path / "farm").mkdir()
    farm = TuiFarm(tmp_path / "farm")
    try:
        farm.start()
        yield farm
    finally:
        farm.stop()


@pytest.fixture
async def farm_api(tui_farm: TuiFarm) -> AsyncIterator[FarmServiceAsyncStub]:
    async with connect(tui_farm.address, tui_farm.credentials()) as stub:
        yield stub


@asynccontextmanager
async def running(app: RenderqApp, size: tuple[int, int] = (80, 24)) -> AsyncIterator[Pilot[Any]]:
    """``app.run_test`` with notifications on, which stops the app's feed before the app
    closes and lets the app handle what the feed already posted.

    Without that, a ``FarmChanged`` handled while the app shuts down finds no
    ``JobsTable`` and the app raises ``NoMatches`` on the way out (tui/app.py
    ``on_farm_changed``; reported, not fixed here): a test that passed would fail now and
    then in its teardown.
    """
    async with app.run_test(size=size, notifications=True) as pilot:
        try:
            yield pilot
        finally:
            for worker in list(app.workers):
                if worker.name == "feed":
                    worker.cancel()
            await pilot.pause()


def app_of(pilot: Pilot[Any]) -> RenderqApp:
    """The app a pilot drives, as the RenderqApp it is."""
    from renderq.tui.app import RenderqApp

    assert isinstance(pilot.app, RenderqApp), pilot.app
    return pilot.app


@overload
async def until(
    what: str,
    check: Callable[[], Awaitable[T | None]],
    pilot: Pilot[Any] | None = None,
    within: float = DEADLINE,
    every: float = 0.05,
) -> T: ...


@overload
async def until(
    what: str,
    check: Callable[[], T | None],
    pilot: Pilot[Any] | None = None,
    within: float = DEADLINE,
    every: float = 0.05,
) -> T: ...


async def until(
    what: str,
    check: Callable[[], object],
    pilot: Pilot[Any] | None = None,
    within: float = DEADLINE,
    every: float = 0.05,
) -> object:
    """The first truthy result of ``check`` (sync or async), asked every ``every`` seconds
    for ``within`` seconds (the order of tests/waiting.py's ``until``: what first).

    With a pilot, the app gets to process its messages and repaint between asks.
    """
    end = time.monotonic() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        if pilot is not None:
            await pilot.pause(every)
        else:
            await asyncio.sleep(every)


def gated_argv(gate: Path, *, say: str = "") -> list[str]:
    """A task that runs until ``gate`` exists (printing ``say`` first)."""
    echo = f"echo {say}; " if say else ""
    return ["sh", "-c", f"{echo}while [ ! -e {gate} ]; do sleep 0.05; done"]


async def submit(
    stub: FarmServiceAsyncStub, name: str, argv: list[str], frames: str = "1", priority: int | None = None
) -> pb.Job:
    job = pb.Job(plugin="command", name=name, owner="tester", frames=frames, priority=priority)
    parameters = struct_pb2.Struct()
    parameters.update({"argv": argv})
    job.parameters.CopyFrom(parameters)
    response = await stub.CreateJob(fpb.CreateJobRequest(job=job))
    return response.job


async def job_state(stub: FarmServiceAsyncStub, job_id: int) -> int:
    return (await stub.GetJob(fpb.GetJobRequest(job_id=job_id))).job.state
