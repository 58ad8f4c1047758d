"""A small scripted FarmService on an ephemeral port, and ways to run the CLI against it.

The server runs its own event loop in a thread, so a test can run the CLI in-process
(``main`` starts its own loop) or as a real ``python -m renderq`` process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf import timestamp_pb2

from renderq.cli.main import main
from renderq.controller.auth import NO_TOKEN
from renderq.controller.config import ControllerConfig
from renderq.controller.main import serve
from renderq.plugins.base import ParamType
from renderq.plugins.registry import all_plugins
from renderq.v1 import agent_service_pb2_grpc as agrpc
from renderq.v1 import farm_service_pb2 as fs
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as rs

from ..controller.conftest import (
    ScriptedAgent,
    farm_client,
    start_controller,
    stop_controller,
    until_agent_online,
)

DEADLINE = 20.0
STAMP = timestamp_pb2.Timestamp(seconds=1_796_159_646)
"""2026-12-01T21:14:06Z: when every fake record was made."""
RENDERQ = [sys.executable, "-m", "renderq"]


class FakeFarm(fgrpc.FarmServiceServicer):
    """Answers from plain fields a test sets; records every request it gets."""

    def __init__(self) -> None:
        self.address = ""
        self.jobs: dict[int, rs.Job] = {}
        self.frames: list[rs.Frame] = []
        self.tasks: list[rs.Task] = []
        self.agents: list[rs.Agent] = []
        self.plugins: list[fs.Plugin] = []
        self.event_sequence = 41
        self.watch_script: list[tuple[fs.WatchEventsResponse, rs.Job | None]] = []
        """Events to stream, each with the job GetJob returns from then on (or None)."""
        self.watching = threading.Event()
        """Set once a WatchEvents stream is open."""
        self.log_chunks: list[bytes] = []
        self.log_gate: threading.Event | None = None
        """When set, TailLog sends its first chunk, then waits for this before the rest."""
        self.errors: dict[str, tuple[grpc.StatusCode, str]] = {}
        self.requests: dict[str, list[Any]] = {}
        self.frames_page_size = 2
        self.created: rs.Job = rs.Job(state=rs.JOB_STATE_QUEUED)
        """Output fields of every job CreateJob makes (its state, state_reason)."""
        self.tokens: list[rs.Token] = []
        self.audit: list[rs.AuditRecord] = []
        self.token: str | None = None
        """When set, every call must carry this token, as the controller demands."""

    async def _enter(self, method: str, request: object, context: grpc.aio.ServicerContext) -> None:
        self.requests.setdefault(method, []).append(request)
        metadata = {m.key: m.value for m in context.invocation_metadata() or ()}
        if self.token is not None and metadata.get("authorization") != f"Bearer {self.token}":
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, NO_TOKEN)
        if method in self.errors:
            code, message = self.errors[method]
            await context.abort(code, message)

    async def CreateJob(
        self, request: fs.CreateJobRequest, context: grpc.aio.ServicerContext
    ) -> fs.CreateJobResponse:
        await self._enter("CreateJob", request, context)
        job = rs.Job()
        job.CopyFrom(request.job)
        job.MergeFrom(self.created)
        job.id = 7
        self.jobs[job.id] = job
        return fs.CreateJobResponse(job=job)

    async def GetJob(self, request: fs.GetJobRequest, context: grpc.aio.ServicerContext) -> fs.GetJobResponse:
        await self._enter("GetJob", request, context)
        if request.job_id not in self.jobs:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.job_id} does not exist")
        return fs.GetJobResponse(job=self.jobs[request.job_id])

    async def ListJobs(
        self, request: fs.ListJobsRequest, context: grpc.aio.ServicerContext
    ) -> fs.ListJobsResponse:
        await self._enter("ListJobs", request, context)
        return fs.ListJobsResponse(jobs=list(self.jobs.values()), event_sequence=self.event_sequence)

    async def UpdateJob(
        self, request: fs.UpdateJobRequest, context: grpc.aio.ServicerContext
    ) -> fs.UpdateJobResponse:
        await self._enter("UpdateJob", request, context)
        job = self.jobs[request.job.id]
        request.update_mask.MergeMessage(request.job, job)
        return fs.UpdateJobResponse(job=job)

    async def CancelJob(
        self, request: fs.CancelJobRequest, context: grpc.aio.ServicerContext
    ) -> fs.CancelJobResponse:
        await self._enter("CancelJob", request, context)
        job = self.jobs[request.job_id]
        job.state = rs.JOB_STATE_CANCELLED
        return fs.CancelJobResponse(job=job)

    async def SuspendJob(
        self, request: fs.SuspendJobRequest, context: grpc.aio.ServicerContext
    ) -> fs.SuspendJobResponse:
        await self._enter("SuspendJob", request, context)
        job = self.jobs[request.job_id]
        job.state = rs.JOB_STATE_SUSPENDED
        return fs.SuspendJobResponse(job=job)

    async def ResumeJob(
        self, request: fs.ResumeJobRequest, context: grpc.aio.ServicerContext
    ) -> fs.ResumeJobResponse:
        await self._enter("ResumeJob", request, context)
        job = self.jobs[request.job_id]
        job.state = rs.JOB_STATE_QUEUED
        return fs.ResumeJobResponse(job=job)

    async def DeleteJob(
        self, request: fs.DeleteJobRequest, context: grpc.aio.ServicerContext
    ) -> fs.DeleteJobResponse:
        await self._enter("DeleteJob", request, context)
        del self.jobs[request.job_id]
        return fs.DeleteJobResponse()

    async def RetryFrames(
        self, request: fs.RetryFramesRequest, context: grpc.aio.ServicerContext
    ) -> fs.RetryFramesResponse:
        await self._enter("RetryFrames", request, context)
        job = self.jobs[request.job_id]
        job.state = rs.JOB_STATE_QUEUED
        return fs.RetryFramesResponse(job=job, frames_retried=3)

    async def ListTasks(
        self, request: fs.ListTasksRequest, context: grpc.aio.ServicerContext
    ) -> fs.ListTasksResponse:
        await self._enter("ListTasks", request, context)
        return fs.ListTasksResponse(tasks=self.tasks)

    async def ListFrames(
        self, request: fs.ListFramesRequest, context: grpc.aio.ServicerContext
    ) -> fs.ListFramesResponse:
        """Pages of ``frames_page_size`` frames; the token is the index of the next frame."""
        await self._enter("ListFrames", request, context)
        start = int(request.page_token or 0)
        end = start + self.frames_page_size
        token = str(end) if end < len(self.frames) else ""
        return fs.ListFramesResponse(frames=self.frames[start:end], next_page_token=token)

    async def ListAgents(
        self, request: fs.ListAgentsRequest, context: grpc.aio.ServicerContext
    ) -> fs.ListAgentsResponse:
        await self._enter("ListAgents", request, context)
        return fs.ListAgentsResponse(agents=self.agents)

    async def GetAgent(
        self, request: fs.GetAgentRequest, context: grpc.aio.ServicerContext
    ) -> fs.GetAgentResponse:
        await self._enter("GetAgent", request, context)
        return fs.GetAgentResponse(agent=self._agent(request.agent_id))

    async def EnableAgent(
        self, request: fs.EnableAgentRequest, context: grpc.aio.ServicerContext
    ) -> fs.EnableAgentResponse:
        await self._enter("EnableAgent", request, context)
        return fs.EnableAgentResponse(agent=self._agent(request.agent_id, rs.AGENT_MODE_ENABLED))

    async def DisableAgent(
        self, request: fs.DisableAgentRequest, context: grpc.aio.ServicerContext
    ) -> fs.DisableAgentResponse:
        await self._enter("DisableAgent", request, context)
        return fs.DisableAgentResponse(agent=self._agent(request.agent_id, rs.AGENT_MODE_DISABLED))

    def _agent(self, agent_id: str, mode: int | None = None) -> rs.Agent:
        """The agent with this id, in ``mode`` from now on when one is given."""
        agent = next((a for a in self.agents if a.id == agent_id), None)
        if agent is None:
            agent = rs.Agent(id=agent_id, mode=rs.AGENT_MODE_ENABLED)
            self.agents.append(agent)
        if mode is not None:
            agent.mode = mode  # type: ignore[assignment]
        return agent

    async def ListPlugins(
        self, request: fs.ListPluginsRequest, context: grpc.aio.ServicerContext
    ) -> fs.ListPluginsResponse:
        await self._enter("ListPlugins", request, context)
        return fs.ListPluginsResponse(plugins=self.plugins)

    async def DrainAgent(
        self, request: fs.DrainAgentRequest, context: grpc.aio.ServicerContext
    ) -> fs.DrainAgentResponse:
        await self._enter("DrainAgent", request, context)
        return fs.DrainAgentResponse(agent=self._agent(request.agent_id, rs.AGENT_MODE_DRAINING))

    async def ForgetAgent(
        self, request: fs.ForgetAgentRequest, context: grpc.aio.ServicerContext
    ) -> fs.ForgetAgentResponse:
        await self._enter("ForgetAgent", request, context)
        self.agents = [a for a in self.agents if a.id != request.agent_id]
        return fs.ForgetAgentResponse()

    async def GetCaller(
        self, request: fs.GetCallerRequest, context: grpc.aio.ServicerContext
    ) -> fs.GetCallerResponse:
        await self._enter("GetCaller", request, context)
        return fs.GetCallerResponse(name="ana", token_id="t1", role=rs.ROLE_ADMIN)

    async def CreateToken(
        self, request: fs.CreateTokenRequest, context: grpc.aio.ServicerContext
    ) -> fs.CreateTokenResponse:
        await self._enter("CreateToken", request, context)
        token = rs.Token(id="t2", name=request.name, role=request.role, created_by="ana", create_time=STAMP)
        self.tokens.append(token)
        return fs.CreateTokenResponse(token=token, secret="rqt_secret")

    async def ListTokens(
        self, request: fs.ListTokensRequest, context: grpc.aio.ServicerContext
    ) -> fs.ListTokensResponse:
        await self._enter("ListTokens", request, context)
        return fs.ListTokensResponse(tokens=self.tokens)

    async def RevokeToken(
        self, request: fs.RevokeTokenRequest, context: grpc.aio.ServicerContext
    ) -> fs.RevokeTokenResponse:
        await self._enter("RevokeToken", request, context)
        token = next(t for t in self.tokens if t.id == request.token_id)
        token.revoke_time.CopyFrom(STAMP)
        return fs.RevokeTokenResponse(token=token)

    async def ListAuditRecords(
        self, request: fs.ListAuditRecordsRequest, context: grpc.aio.ServicerContext
    ) -> fs.ListAuditRecordsResponse:
        await self._enter("ListAuditRecords", request, context)
        return fs.ListAuditRecordsResponse(records=self.audit)

    async def WatchEvents(
        self, request: fs.WatchEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[fs.WatchEventsResponse]:
        await self._enter("WatchEvents", request, context)
        self.watching.set()
        for event, job in self.watch_script:
            if job is not None:
                self.jobs[job.id] = job
            yield event
        await asyncio.Event().wait()  # a real watch stays open; the client hangs up

    async def TailLog(
        self, request: fs.TailLogRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[fs.TailLogResponse]:
        await self._enter("TailLog", request, context)
        offset = 0
        for index, data in enumerate(self.log_chunks):
            if index == 1 and self.log_gate is not None:
                gate = self.log_gate
                if not await asyncio.to_thread(gate.wait, DEADLINE):
                    return
            yield fs.TailLogResponse(task_id=request.task_id, attempt_id=9, offset=offset, data=data)
            offset += len(data)


@pytest.fixture
def farm() -> Iterator[FakeFarm]:
    fake = FakeFarm()  # type: ignore[abstract]  # a fake: it serves only the calls the CLI makes
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-farm", daemon=True)
    thread.start()

    async def start() -> tuple[grpc.aio.Server, int]:
        server = grpc.aio.server()
        fgrpc.add_FarmServiceServicer_to_server(fake, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        return server, port

    server, port = asyncio.run_coroutine_threadsafe(start(), loop).result(DEADLINE)
    fake.address = f"127.0.0.1:{port}"
    try:
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(None), loop).result(DEADLINE)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(DEADLINE)
        loop.close()


PARAMETER_TYPES = {
    ParamType.STRING: fs.PARAMETER_TYPE_STRING,
    ParamType.INTEGER: fs.PARAMETER_TYPE_INTEGER,
    ParamType.NUMBER: fs.PARAMETER_TYPE_NUMBER,
    ParamType.BOOLEAN: fs.PARAMETER_TYPE_BOOLEAN,
    ParamType.PATH: fs.PARAMETER_TYPE_PATH,
    ParamType.CHOICE: fs.PARAMETER_TYPE_CHOICE,
    ParamType.STRING_LIST: fs.PARAMETER_TYPE_STRING_LIST,
}


def listed_plugins() -> list[fs.Plugin]:
    """This renderq's plugins as a controller lists them (ListPlugins)."""
    return [
        fs.Plugin(
            name=p.name,
            description=p.description,
            renderer=p.renderer,
            parameters=[
                fs.PluginParameter(
                    name=q.name, type=PARAMETER_TYPES[q.type], required=q.required, help=q.help
                )
                for q in p.parameters
            ],
        )
        for p in all_plugins()
    ]


@pytest.fixture(autouse=True)
def no_local_token(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Verbs look for the local admin token in an empty directory, not the user's own,
    and no token comes from the environment."""
    directory = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("RENDERQ_DATA_DIR", str(directory))
    monkeypatch.delenv("RENDERQ_TOKEN", raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)
    return directory


@dataclass
class Result:
    code: int
    out: str
    err: str
    lines: list[str] = field(default_factory=list)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], farm: FakeFarm) -> CliRunner:
    return CliRunner(capsys, farm)


class CliRunner:
    """``renderq VERB ...`` in this process, pointed at the fake farm."""

    def __init__(self, capsys: pytest.CaptureFixture[str], farm: FakeFarm) -> None:
        self._capsys = capsys
        self._farm = farm

    def __call__(self, *argv: str, controller: bool = True) -> Result:
        words = [argv[0], "--controller", self._farm.address, *argv[1:]] if controller else list(argv)
        self._capsys.readouterr()
        with pytest.raises(SystemExit) as exit_info:
            main(words)
        captured = self._capsys.readouterr()
        code = exit_info.value.code
        assert isinstance(code, int), f"exit code {code!r}"
        return Result(code, captured.out, captured.err, captured.out.splitlines())


def renderq_process(
    *argv: str, env: dict[str, str] | None = None, **kwargs: object
) -> subprocess.Popen[bytes]:
    """``python -m renderq ...`` as a real process, stdout and stderr piped."""
    return subprocess.Popen(
        [*RENDERQ, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        **kwargs,  # type: ignore[call-overload]
    )


@dataclass
class RealController:
    address: str
    data_dir: Path


@pytest.fixture
def controller(tmp_path: Path) -> Iterator[RealController]:
    """A real controller (no agents) on its own event loop in a thread, its state in
    ``tmp_path/farm``: verbs reach it with ``--controller`` and ``--data-dir``."""
    data_dir = tmp_path / "farm"
    config = ControllerConfig(listen="127.0.0.1:0", data_dir=data_dir, mdns=False)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="controller", daemon=True)
    thread.start()

    async def start() -> tuple[asyncio.Task[None], int]:
        started: asyncio.Future[int] = loop.create_future()
        task = asyncio.create_task(serve(config, started))
        waiting: list[asyncio.Future[Any]] = [task, started]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
        return task, started.result()

    task, port = asyncio.run_coroutine_threadsafe(start(), loop).result(DEADLINE)
    try:
        yield RealController(f"127.0.0.1:{port}", data_dir)
    finally:

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        asyncio.run_coroutine_threadsafe(stop(), loop).result(DEADLINE)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(DEADLINE)
        loop.close()


T = TypeVar("T")


@dataclass
class FarmWithAgent:
    """A real controller and a scripted agent it has met, on an event loop of their own."""

    address: str
    data_dir: Path
    agent: ScriptedAgent
    loop: asyncio.AbstractEventLoop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(DEADLINE)


@pytest.fixture
def farm_with_agent(tmp_path: Path) -> Iterator[FarmWithAgent]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="farm", daemon=True)
    thread.start()
    data_dir = tmp_path / "farm"
    agent = ScriptedAgent()

    async def start() -> tuple[grpc.aio.Server, asyncio.Task[None], int]:
        server = grpc.aio.server()  # made on the loop it serves from
        agrpc.add_AgentServiceServicer_to_server(agent, server)
        agent.address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
        await server.start()
        task, port = await start_controller(data_dir, [agent.address])
        async with farm_client(data_dir, port) as stub:
            await until_agent_online(stub)
        return server, task, port

    async def stop(server: grpc.aio.Server, task: asyncio.Task[None]) -> None:
        await stop_controller(task)
        await server.stop(grace=None)

    server, task, port = asyncio.run_coroutine_threadsafe(start(), loop).result(DEADLINE)
    try:
        yield FarmWithAgent(f"127.0.0.1:{port}", data_dir, agent, loop)
    finally:
        asyncio.run_coroutine_threadsafe(stop(server, task), loop).result(DEADLINE)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(DEADLINE)
        loop.close()
