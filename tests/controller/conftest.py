"""An in-process controller on an ephemeral port, and a scripted agent it dials.

The scripted agent speaks AgentService.Link exactly as the protocol says but runs
nothing: the test decides which events it sends, so fencing, acks and replays can be
driven one message at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from renderq import farm_key, tokens
from renderq.client.channel import open_channel
from renderq.client.credentials import Credentials
from renderq.controller.config import ControllerConfig
from renderq.controller.main import serve
from renderq.private_files import write_private
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import agent_service_pb2_grpc as agrpc
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

DEADLINE = 30.0
FARM_KEY = bytes(range(32))
"""The key of every test controller's farm (written to its data dir before it starts)."""


async def until_agent(
    stub: fgrpc.FarmServiceStub, what: str, matches: Callable[[pb.Agent], bool]
) -> pb.Agent:
    """The first agent that ``matches``: from the listing, else from the events after it."""
    listing = await stub.ListAgents(fpb.ListAgentsRequest())
    for agent in listing.agents:
        if matches(agent):
            return agent
    stream = stub.WatchEvents(fpb.WatchEventsRequest(after_sequence=listing.event_sequence))
    try:
        async with asyncio.timeout(DEADLINE):
            async for event in stream:
                if event.HasField("agent") and matches(event.agent):
                    return event.agent
    except TimeoutError:
        raise AssertionError(f"no agent was {what} within {DEADLINE:.0f} s") from None
    finally:
        stream.cancel()
    raise AssertionError(f"event stream ended before an agent was {what}")


async def until_agent_online(stub: fgrpc.FarmServiceStub) -> pb.Agent:
    return await until_agent(stub, "online", lambda a: a.status == pb.AGENT_STATUS_ONLINE)


@dataclass
class ScriptedAgent(agrpc.AgentServiceServicer):
    agent_id: str = "scripted-1"
    slots: int = 2
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    known_attempts: list[int] = field(default_factory=list)
    received: asyncio.Queue[apb.LinkRequest] = field(default_factory=asyncio.Queue)
    outgoing: asyncio.Queue[apb.LinkResponse | None] = field(default_factory=asyncio.Queue)
    links: int = 0
    sequence: int = 0
    address: str = ""
    accepting: bool = True
    """False: refuse links, as an agent cut off from the network would."""
    key: bytes | None = FARM_KEY
    """The farm key this agent proves; None: it has none (its hello carries no proof)."""
    controller_proved: list[bool] = field(default_factory=list)
    """Per link: whether the controller's proof checked out."""

    async def Link(self, request_iterator, context):  # type: ignore[no-untyped-def]
        if not self.accepting:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "cut off")
        hello = await anext(request_iterator)
        assert hello.WhichOneof("kind") == "hello"
        self.links += 1
        nonce = farm_key.new_nonce()
        proof = farm_key.agent_proof(self.key, hello.hello.nonce, nonce, self.agent_id) if self.key else b""
        yield apb.LinkResponse(
            hello=apb.AgentHello(
                agent_id=self.agent_id,
                session_id=self.session_id,
                slots=self.slots,
                pool="default",
                hardware=pb.Hardware(cpu_cores=8, ram_bytes=16 << 30, os="Linux"),
                known_attempt_ids=self.known_attempts,
                nonce=nonce,
                proof=proof,
            )
        )
        answer = await anext(request_iterator)
        expected = farm_key.controller_proof(self.key or b"", hello.hello.nonce, nonce, self.agent_id)
        self.controller_proved.append(
            answer.WhichOneof("kind") == "proof" and farm_key.matches(expected, answer.proof.proof)
        )

        async def read() -> None:
            async for request in request_iterator:
                await self.received.put(request)

        reader = asyncio.create_task(read())
        try:
            while True:
                message = await self.outgoing.get()
                if message is None:
                    return
                yield message
        finally:
            reader.cancel()

    def event(self, attempt_id: int, sequence: int | None = None, **kind: object) -> apb.LinkResponse:
        if sequence is None:
            self.sequence += 1
            sequence = self.sequence
        event = apb.AgentEvent(sequence=sequence, attempt_id=attempt_id, **kind)  # type: ignore[arg-type]
        return apb.LinkResponse(events=apb.AgentEvents(events=[event]))

    async def send(self, message: apb.LinkResponse) -> None:
        await self.outgoing.put(message)

    async def next_request(self, kind: str) -> apb.LinkRequest:
        """The next request of ``kind`` (others, such as acks, are skipped)."""
        while True:
            request = await asyncio.wait_for(self.received.get(), DEADLINE)
            if request.WhichOneof("kind") == kind:
                return request

    async def ack_reaching(self, sequence: int) -> None:
        while True:
            request = await self.next_request("ack")
            if request.ack.sequence >= sequence:
                return

    def drop_link(self) -> None:
        self.outgoing.put_nowait(None)


@asynccontextmanager
async def serving(agent: ScriptedAgent) -> AsyncIterator[ScriptedAgent]:
    """``agent`` answering on a loopback port (its ``address``) until the block ends."""
    server = grpc.aio.server()
    agrpc.add_AgentServiceServicer_to_server(agent, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    agent.address = f"127.0.0.1:{port}"
    try:
        yield agent
    finally:
        await server.stop(grace=None)


@pytest.fixture
def agent_key() -> bytes | None:
    """The key the scripted agent proves from its first hello; a test parametrizes it to
    be met by a controller that never knew the agent."""
    return FARM_KEY


@pytest.fixture
async def scripted_agent(agent_key: bytes | None) -> AsyncIterator[ScriptedAgent]:
    async with serving(ScriptedAgent(key=agent_key)) as agent:
        yield agent


@dataclass
class Controller:
    stub: fgrpc.FarmServiceStub
    config: ControllerConfig
    task: asyncio.Task[None]


async def start_controller(
    data_dir: Path, agents: list[str], **settings: Any
) -> tuple[asyncio.Task[None], int]:
    """A controller in this process on a free port (``settings``: more ControllerConfig fields)."""
    config = ControllerConfig(
        listen="127.0.0.1:0", data_dir=data_dir, agents=tuple(agents), mdns=False, **settings
    )
    write_private(config.key_file, FARM_KEY)
    started: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(config, started))
    waiting: list[asyncio.Future[Any]] = [task, started]
    done, _ = await asyncio.wait(waiting, timeout=DEADLINE, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()
    assert started.done(), "controller did not start serving"
    return task, started.result()


async def stop_controller(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@asynccontextmanager
async def farm_client(
    data_dir: Path, port: int, token: str | None = None
) -> AsyncIterator[fgrpc.FarmServiceStub]:
    """A FarmService stub as the CLI holds one: with ``token``, else the controller's local admin token."""
    credentials = Credentials(token=token or tokens.read_local(data_dir))
    async with open_channel(f"127.0.0.1:{port}", credentials) as channel:
        yield fgrpc.FarmServiceStub(channel)


@pytest.fixture
async def farm_stub(tmp_path: Path, scripted_agent: ScriptedAgent) -> AsyncIterator[fgrpc.FarmServiceStub]:
    task, port = await start_controller(tmp_path, [scripted_agent.address])
    async with farm_client(tmp_path, port) as stub:
        yield stub
    await stop_controller(task)
