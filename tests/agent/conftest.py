"""A real agent on a loopback port and a small controller that talks to it.

The controller here is the test's: it dials the agent with the generated stub, says
hello, collects everything the agent sends and lets a test wait for one message
with a deadline whose failure names what was awaited.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path

import grpc
import psutil
import pytest

from renderq import farm_key
from renderq.agent import server as server_module
from renderq.agent.config import AgentConfig
from renderq.agent.hardware import probe_hardware
from renderq.agent.server import AgentServer
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import agent_service_pb2_grpc, resources_pb2

DEADLINE = 30.0
"""Seconds any awaited message may take; generous so that a slow machine only slows the test."""

IN_CI = os.environ.get("CI") == "true"

FARM_KEY = bytes(range(32))
"""The farm key every test agent is given (as a join token) and the fake controller holds."""


class FakeController:
    """Holds one Link to the agent; every message the agent sends lands in a queue."""

    def __init__(self, port: int, key: bytes | None = FARM_KEY) -> None:
        self._key = key
        self._channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        self._call = agent_service_pb2_grpc.AgentServiceStub(self._channel).Link()
        self._received: asyncio.Queue[apb.LinkResponse | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.events: list[apb.AgentEvent] = []
        """Every event received so far, in order."""
        self.hello = apb.AgentHello()

    async def connect(self, answer: apb.LinkRequest | None = None) -> apb.AgentHello:
        """Hello, then the proof of the farm key (a wrong one when this controller has no key),
        or ``answer`` in its place (a controller that skips the proof)."""
        nonce = farm_key.new_nonce()
        await self.send(
            apb.LinkRequest(
                hello=apb.ControllerHello(controller_id="test-controller", version="test", nonce=nonce)
            )
        )
        self._reader = asyncio.create_task(self._read())
        first = await self.next_message("the agent's hello")
        assert first.HasField("hello"), f"the agent's first message is not a hello: {first}"
        self.hello = first.hello
        if not self.hello.proof:
            # An agent without a key ends the link right after its hello; writing to
            # the ended call would make grpc report INTERNAL instead of the agent's
            # status (grpc/grpc#36066), so answer nothing, as the controller does.
            return self.hello
        if answer is None:
            key = self._key or bytes(32)
            proof = farm_key.controller_proof(key, nonce, self.hello.nonce, self.hello.agent_id)
            answer = apb.LinkRequest(proof=apb.ControllerProof(proof=proof))
        await self.send(answer)
        return self.hello

    async def send(self, request: apb.LinkRequest) -> None:
        await self._call.write(request)

    async def assign(self, task: apb.AssignTask) -> None:
        await self.send(apb.LinkRequest(assign=task))

    async def cancel(self, attempt_id: int, reason: str = "test") -> None:
        await self.send(apb.LinkRequest(cancel=apb.CancelTask(attempt_id=attempt_id, reason=reason)))

    async def ack(self, sequence: int) -> None:
        await self.send(apb.LinkRequest(ack=apb.Ack(sequence=sequence)))

    async def next_message(self, what: str) -> apb.LinkResponse:
        return await self.wait_for(what, lambda _: True)

    async def wait_for(self, what: str, matches: Callable[[apb.LinkResponse], bool]) -> apb.LinkResponse:
        """The next message that ``matches``, within one deadline for the whole wait."""
        try:
            async with asyncio.timeout(DEADLINE):
                while (message := await self._received.get()) is not None:
                    if matches(message):
                        return message
        except TimeoutError:
            raise AssertionError(f"waited {DEADLINE} s in vain for {what}") from None
        raise AssertionError(f"the link ended while waiting for {what}")

    async def event(self, what: str, matches: Callable[[apb.AgentEvent], bool]) -> apb.AgentEvent:
        message = await self.wait_for(what, lambda m: m.HasField("events") and matches(m.events.events[0]))
        return message.events.events[0]

    async def finished(self, attempt_id: int) -> apb.TaskFinished:
        event = await self.event(
            f"attempt {attempt_id} to finish",
            lambda e: e.attempt_id == attempt_id and e.HasField("finished"),
        )
        return event.finished

    async def log_text_until(self, attempt_id: int, text: str) -> str:
        """The attempt's output so far, once it contains ``text``."""
        if text in self.log(attempt_id):
            return self.log(attempt_id)
        await self.event(
            f"{text!r} in the output of attempt {attempt_id}", lambda _: text in self.log(attempt_id)
        )
        return self.log(attempt_id)

    def log(self, attempt_id: int) -> str:
        chunks = [e.log for e in self.events if e.attempt_id == attempt_id and e.HasField("log")]
        return b"".join(c.data for c in sorted(chunks, key=lambda c: c.offset)).decode()

    def of(self, attempt_id: int, kind: str) -> list[apb.AgentEvent]:
        return [e for e in self.events if e.attempt_id == attempt_id and e.HasField(kind)]

    async def close(self) -> None:
        self._call.cancel()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self._channel.close()

    async def ended(self) -> None:
        """Wait for the agent to end this link (the reader sees the stream close)."""
        try:
            await self.wait_for("the agent to end the link", lambda _: False)
        except AssertionError as exc:
            if "the link ended" not in str(exc):
                raise

    async def _read(self) -> None:
        try:
            while (message := await self._call.read()) is not grpc.aio.EOF:
                assert isinstance(message, apb.LinkResponse)
                if not message.HasField("events"):
                    self._received.put_nowait(message)
                # One queued message per event, so tests wait for events one by one.
                for event in message.events.events:
                    self.events.append(event)
                    self._received.put_nowait(apb.LinkResponse(events=apb.AgentEvents(events=[event])))
        except grpc.aio.AioRpcError:
            pass
        finally:
            self._received.put_nowait(None)


def agent_config(tmp_path: Path, **changes: object) -> AgentConfig:
    settings: dict[str, object] = {
        "listen": "127.0.0.1:0",
        "data_dir": tmp_path / "agent",
        "mdns": False,
        "heartbeat_interval": 0.2,
        "kill_grace": 2.0,
        "pool": "test-pool",
        "tags": ("fast", "test"),
        "cost_per_hour": 1.5,
        "join": farm_key.to_token(FARM_KEY),
    }
    settings.update(changes)
    return AgentConfig(**settings)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def hardware() -> resources_pb2.Hardware:
    """This machine's real probe, run once: Blender takes a while to tell its version."""
    return asyncio.run(probe_hardware())


@pytest.fixture
async def agent(
    tmp_path: Path, hardware: resources_pb2.Hardware, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AgentServer]:
    async def probed(config: object = None) -> resources_pb2.Hardware:
        return hardware

    monkeypatch.setattr(server_module, "probe_hardware", probed)
    server = AgentServer(agent_config(tmp_path))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


Connect = Callable[[], Awaitable[FakeController]]


@pytest.fixture
async def connect(agent: AgentServer) -> AsyncIterator[Connect]:
    """Open links to the agent; each is closed at the end of the test."""
    opened: list[FakeController] = []

    async def open_link() -> FakeController:
        controller = FakeController(agent.port)
        opened.append(controller)
        await controller.connect()
        return controller

    yield open_link
    for controller in opened:
        await controller.close()


@pytest.fixture
async def controller(connect: Connect) -> FakeController:
    return await connect()


def shell(script: str, *args: str) -> list[str]:
    return ["sh", "-c", script, "sh", *args]


def task(
    attempt_id: int,
    argv: list[str],
    frames: Iterable[int] = (1,),
    *,
    plugin: str = "",
    expected: Iterable[tuple[int, str]] = (),
    timeout: float = 0.0,
    job_id: int = 7,
) -> apb.AssignTask:
    """An assignment of one command; frames and expected outputs as given."""
    assignment = apb.AssignTask(
        attempt_id=attempt_id,
        task_id=attempt_id % 1000,
        job_id=job_id,
        plugin=plugin,
        commands=[
            apb.Command(
                argv=argv,
                frames=list(frames),
                expected_outputs=[apb.ExpectedOutput(frame=f, path=p) for f, p in expected],
            )
        ],
    )
    if timeout:
        assignment.timeout.FromNanoseconds(int(timeout * 1e9))
    return assignment


def is_gone(pid: int) -> bool:
    """No such process, or only a zombie waiting to be reaped (it runs nothing)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def pids_in(text: str, name: str) -> list[int]:
    """Values printed as ``name=<pid>`` by a test's shell script."""
    return [int(word.split("=", 1)[1]) for word in text.split() if word.startswith(f"{name}=")]
