"""FarmService: validate the request, call the farm, answer with the new resource.

Errors a caller can cause arrive as RequestRefused subclasses and leave as their gRPC
status with the farm's sentence (see errors.py); anything else is a bug, logged with
its traceback and reported as INTERNAL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from renderq.controller.api_calls import Context, streaming, unary
from renderq.controller.audit import AuditLog
from renderq.controller.auth import current_caller
from renderq.controller.backup import DatabaseExport
from renderq.controller.blob_serving import RETENTION, collect, uploaded
from renderq.controller.bus import EventBus
from renderq.controller.errors import InvalidField, NoSuchResource
from renderq.controller.farm import Farm
from renderq.controller.job_updates import update_job
from renderq.controller.limit_control import held, usage
from renderq.controller.model import Task
from renderq.controller.output_reading import list_outputs, recorded_output, stream_output
from renderq.controller.paging import page, page_request
from renderq.controller.task_logs import TaskLogs
from renderq.controller.tokens import TokenBook
from renderq.controller.validation import check_job
from renderq.controller.why import explain_job
from renderq.plugins.base import ParamType
from renderq.plugins.registry import all_plugins, broken_plugins, log_broken_plugins, origin_of
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import farm_service_pb2_grpc as fgrpc
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

READ_BLOCK = 64 << 10

PARAM_TYPES = {
    ParamType.STRING: fpb.PARAMETER_TYPE_STRING,
    ParamType.INTEGER: fpb.PARAMETER_TYPE_INTEGER,
    ParamType.NUMBER: fpb.PARAMETER_TYPE_NUMBER,
    ParamType.BOOLEAN: fpb.PARAMETER_TYPE_BOOLEAN,
    ParamType.PATH: fpb.PARAMETER_TYPE_PATH,
    ParamType.CHOICE: fpb.PARAMETER_TYPE_CHOICE,
    ParamType.STRING_LIST: fpb.PARAMETER_TYPE_STRING_LIST,
}


class FarmApi(fgrpc.FarmServiceServicer):
    """Every FarmService method. Who may call which, and the audit of the calls that
    change something, are the interceptor's (auth.py)."""

    def __init__(
        self,
        farm: Farm,
        bus: EventBus,
        logs: TaskLogs,
        book: TokenBook,
        audit: AuditLog,
        export: DatabaseExport,
    ) -> None:
        self.export = export
        self.farm = farm
        self.bus = bus
        self.logs = logs
        self.book = book
        self.audit = audit
        log_broken_plugins()

    @unary
    async def GetCaller(self, request: fpb.GetCallerRequest, context: Context) -> fpb.GetCallerResponse:
        caller = current_caller.get()
        return fpb.GetCallerResponse(name=caller.name, token_id=caller.token_id, role=caller.role)

    @unary
    async def CreateToken(self, request: fpb.CreateTokenRequest, context: Context) -> fpb.CreateTokenResponse:
        token, secret = self.book.create(request.name, request.role, created_by=current_caller.get().name)
        return fpb.CreateTokenResponse(token=token.to_proto(), secret=secret)

    @unary
    async def ListTokens(self, request: fpb.ListTokensRequest, context: Context) -> fpb.ListTokensResponse:
        found, token = page(self.book.all(), request.page_token, request.page_size, 100, 1000)
        return fpb.ListTokensResponse(tokens=found, next_page_token=token)

    @unary
    async def RevokeToken(self, request: fpb.RevokeTokenRequest, context: Context) -> fpb.RevokeTokenResponse:
        return fpb.RevokeTokenResponse(token=self.book.revoke(request.token_id).to_proto())

    @unary
    async def ListAuditRecords(
        self, request: fpb.ListAuditRecordsRequest, context: Context
    ) -> fpb.ListAuditRecordsResponse:
        # The position is the sequence to continue before (the log is newest first).
        before, size = page_request(request.page_token, request.page_size, 100, 1000)
        records = await self.audit.page(before, size)
        more = len(records) == size and records[-1].sequence > 1
        return fpb.ListAuditRecordsResponse(
            records=[r.to_proto() for r in records], next_page_token=str(records[-1].sequence) if more else ""
        )

    @unary
    async def CreateJob(self, request: fpb.CreateJobRequest, context: Context) -> fpb.CreateJobResponse:
        if not request.HasField("job"):
            raise InvalidField("job", "the request has no job")
        checked = check_job(request.job, self.farm.state.jobs, self.farm.state.limits, self.farm.blobs.has)
        await self.farm.pushing.check_ready(checked.output_destination)
        job = self.farm.job_control.submit(checked, request.allow_unmatched)
        return fpb.CreateJobResponse(job=job.to_proto())

    @unary
    async def GetJob(self, request: fpb.GetJobRequest, context: Context) -> fpb.GetJobResponse:
        return fpb.GetJobResponse(job=self.farm.state.job(request.job_id).to_proto())

    @unary
    async def ListJobs(self, request: fpb.ListJobsRequest, context: Context) -> fpb.ListJobsResponse:
        states = set(request.states)
        jobs = (
            j
            for j in reversed(self.farm.state.jobs.values())
            if (not states or j.state in states)
            and (not request.owner or j.owner == request.owner)
            and (not request.name_contains or request.name_contains.lower() in j.name.lower())
        )
        found, token = page(jobs, request.page_token, request.page_size, 100, 1000)
        return fpb.ListJobsResponse(jobs=found, next_page_token=token, event_sequence=self.bus.last_sequence)

    @unary
    async def UpdateJob(self, request: fpb.UpdateJobRequest, context: Context) -> fpb.UpdateJobResponse:
        job = update_job(self.farm.job_control, request.job, list(request.update_mask.paths))
        return fpb.UpdateJobResponse(job=job.to_proto())

    @unary
    async def DeleteJob(self, request: fpb.DeleteJobRequest, context: Context) -> fpb.DeleteJobResponse:
        self.farm.job_control.delete(request.job_id)
        self.farm.cleanups.clean_deleted([request.job_id])
        return fpb.DeleteJobResponse()

    @unary
    async def CleanupWorkspaces(
        self, request: fpb.CleanupWorkspacesRequest, context: Context
    ) -> fpb.CleanupWorkspacesResponse:
        job_ids = self.farm.cleanups.select(request, time.time())
        agents = await self.farm.cleanups.clean(job_ids)
        return fpb.CleanupWorkspacesResponse(job_ids=job_ids, agents=agents)

    @unary
    async def CancelJob(self, request: fpb.CancelJobRequest, context: Context) -> fpb.CancelJobResponse:
        return fpb.CancelJobResponse(job=self.farm.job_control.cancel(request.job_id).to_proto())

    @unary
    async def SuspendJob(self, request: fpb.SuspendJobRequest, context: Context) -> fpb.SuspendJobResponse:
        return fpb.SuspendJobResponse(job=self.farm.job_control.suspend(request.job_id).to_proto())

    @unary
    async def ResumeJob(self, request: fpb.ResumeJobRequest, context: Context) -> fpb.ResumeJobResponse:
        return fpb.ResumeJobResponse(job=self.farm.job_control.resume(request.job_id).to_proto())

    @unary
    async def RetryFrames(self, request: fpb.RetryFramesRequest, context: Context) -> fpb.RetryFramesResponse:
        job, count = self.farm.job_control.retry(request.job_id, request.frames)
        return fpb.RetryFramesResponse(job=job.to_proto(), frames_retried=count)

    @unary
    async def ListTasks(self, request: fpb.ListTasksRequest, context: Context) -> fpb.ListTasksResponse:
        job = self.farm.state.job(request.job_id)
        states = set(request.states)
        tasks = (t for t in job.tasks if not states or t.state in states)
        found, token = page(tasks, request.page_token, request.page_size, 1000, 10000)
        return fpb.ListTasksResponse(tasks=found, next_page_token=token)

    @unary
    async def ListFrames(self, request: fpb.ListFramesRequest, context: Context) -> fpb.ListFramesResponse:
        job = self.farm.state.job(request.job_id)
        states = set(request.states)
        frames = (f for f in job.frames.values() if not states or f.state in states)
        found, token = page(frames, request.page_token, request.page_size, 1000, 10000)
        return fpb.ListFramesResponse(
            frames=found, next_page_token=token, event_sequence=self.bus.last_sequence
        )

    @unary
    async def GetAgent(self, request: fpb.GetAgentRequest, context: Context) -> fpb.GetAgentResponse:
        return fpb.GetAgentResponse(agent=self.farm.state.agent(request.agent_id).to_proto())

    @unary
    async def ListAgents(self, request: fpb.ListAgentsRequest, context: Context) -> fpb.ListAgentsResponse:
        refused = [a for i, a in self.farm.state.refused.items() if i not in self.farm.state.agents]
        agents = sorted([*self.farm.state.agents.values(), *refused], key=lambda a: a.id)
        found, token = page(agents, request.page_token, request.page_size, 100, 1000)
        return fpb.ListAgentsResponse(
            agents=found, next_page_token=token, event_sequence=self.bus.last_sequence
        )

    @unary
    async def EnableAgent(self, request: fpb.EnableAgentRequest, context: Context) -> fpb.EnableAgentResponse:
        agent = self.farm.agent_control.set_mode(request.agent_id, pb.AGENT_MODE_ENABLED)
        return fpb.EnableAgentResponse(agent=agent.to_proto())

    @unary
    async def DisableAgent(
        self, request: fpb.DisableAgentRequest, context: Context
    ) -> fpb.DisableAgentResponse:
        agent = self.farm.agent_control.set_mode(request.agent_id, pb.AGENT_MODE_DISABLED)
        return fpb.DisableAgentResponse(agent=agent.to_proto())

    @unary
    async def DrainAgent(self, request: fpb.DrainAgentRequest, context: Context) -> fpb.DrainAgentResponse:
        agent = self.farm.agent_control.set_mode(request.agent_id, pb.AGENT_MODE_DRAINING)
        return fpb.DrainAgentResponse(agent=agent.to_proto())

    @unary
    async def ForgetAgent(self, request: fpb.ForgetAgentRequest, context: Context) -> fpb.ForgetAgentResponse:
        self.farm.agent_control.forget(request.agent_id)
        return fpb.ForgetAgentResponse()

    @unary
    async def SetAgentOverrides(
        self, request: fpb.SetAgentOverridesRequest, context: Context
    ) -> fpb.SetAgentOverridesResponse:
        agent = self.farm.agent_control.set_overrides(
            request.agent_id, request.overrides, list(request.update_mask.paths)
        )
        return fpb.SetAgentOverridesResponse(agent=agent.to_proto())

    @unary
    async def UnblockAgent(
        self, request: fpb.UnblockAgentRequest, context: Context
    ) -> fpb.UnblockAgentResponse:
        job = self.farm.job_control.unblock(request.job_id, request.agent_id)
        return fpb.UnblockAgentResponse(job=job.to_proto())

    @unary
    async def ExplainJob(self, request: fpb.ExplainJobRequest, context: Context) -> fpb.ExplainJobResponse:
        return explain_job(self.farm, request.job_id, request.frame if request.HasField("frame") else None)

    @unary
    async def SetLimit(self, request: fpb.SetLimitRequest, context: Context) -> fpb.SetLimitResponse:
        limit = self.farm.limit_control.set(request.limit.name, request.limit.capacity)
        return fpb.SetLimitResponse(limit=self._limit(limit.name))

    @unary
    async def ListLimits(self, request: fpb.ListLimitsRequest, context: Context) -> fpb.ListLimitsResponse:
        return fpb.ListLimitsResponse(limits=[self._limit(name) for name in sorted(self.farm.state.limits)])

    @unary
    async def DeleteLimit(self, request: fpb.DeleteLimitRequest, context: Context) -> fpb.DeleteLimitResponse:
        self.farm.limit_control.delete(request.name)
        return fpb.DeleteLimitResponse()

    def _limit(self, name: str) -> pb.Limit:
        holders = usage(self.farm.state).get(name, set())
        in_use = held(self.farm.state).get(name, 0)
        return self.farm.state.limits[name].to_proto(in_use, sorted(holders))

    @unary
    async def AddPathMapping(
        self, request: fpb.AddPathMappingRequest, context: Context
    ) -> fpb.AddPathMappingResponse:
        return fpb.AddPathMappingResponse(mapping=self.farm.path_maps.add(request.mapping).to_proto())

    @unary
    async def ListPathMappings(
        self, request: fpb.ListPathMappingsRequest, context: Context
    ) -> fpb.ListPathMappingsResponse:
        return fpb.ListPathMappingsResponse(mappings=[r.to_proto() for r in self.farm.path_maps.all()])

    @unary
    async def DeletePathMapping(
        self, request: fpb.DeletePathMappingRequest, context: Context
    ) -> fpb.DeletePathMappingResponse:
        self.farm.path_maps.delete(request.from_path, request.os)
        return fpb.DeletePathMappingResponse()

    @unary
    async def MapPath(self, request: fpb.MapPathRequest, context: Context) -> fpb.MapPathResponse:
        path, rule = self.farm.path_maps.map(request.path, request.os)
        return fpb.MapPathResponse(path=path, mapping=rule)

    @unary
    async def FindMissingBlobs(
        self, request: fpb.FindMissingBlobsRequest, context: Context
    ) -> fpb.FindMissingBlobsResponse:
        missing = await asyncio.to_thread(self.farm.blobs.missing, request.blobs)
        return fpb.FindMissingBlobsResponse(
            missing=[fpb.MissingBlob(blob=b, received_bytes=n) for b, n in missing]
        )

    @unary
    async def UploadBlob(
        self, request_iterator: AsyncIterator[fpb.UploadBlobRequest], context: Context
    ) -> fpb.UploadBlobResponse:
        first, data = await uploaded(request_iterator)
        await self.farm.blobs.receive(first.blob, first.offset, data)
        return fpb.UploadBlobResponse(blob=first.blob)

    @unary
    async def CollectBlobs(
        self, request: fpb.CollectBlobsRequest, context: Context
    ) -> fpb.CollectBlobsResponse:
        older = request.older_than.ToNanoseconds() / 1e9 if request.HasField("older_than") else RETENTION
        if older < 0:
            raise InvalidField("older_than", "must not be negative")
        removed, freed, kept = await collect(self.farm.state, self.farm.blobs, older, request.dry_run)
        return fpb.CollectBlobsResponse(blobs_removed=removed, bytes_freed=freed, blobs_kept=kept)

    @unary
    async def ListPlugins(self, request: fpb.ListPluginsRequest, context: Context) -> fpb.ListPluginsResponse:
        return fpb.ListPluginsResponse(
            plugins=[
                fpb.Plugin(
                    name=p.name,
                    description=p.description,
                    renderer=p.renderer,
                    parameters=[
                        fpb.PluginParameter(
                            name=q.name,
                            type=PARAM_TYPES[q.type],
                            required=q.required,
                            default_json=p.default_json(q),
                            help=q.help,
                            choices=q.choices,
                        )
                        for q in p.parameters
                    ],
                    origin=origin_of(p.name),
                )
                for p in all_plugins()
            ],
            broken=[fpb.BrokenPlugin(name=b.name, origin=b.origin, error=b.error) for b in broken_plugins()],
        )

    @streaming
    async def WatchEvents(
        self, request: fpb.WatchEventsRequest, context: Context
    ) -> AsyncIterator[fpb.WatchEventsResponse]:
        self._check_watch(request.after_sequence, request.job_id)
        async for event in self.bus.subscribe(request.after_sequence, request.job_id, request.jobs_only):
            yield event

    @streaming
    async def WatchEventBatches(
        self, request: fpb.WatchEventBatchesRequest, context: Context
    ) -> AsyncIterator[fpb.WatchEventBatchesResponse]:
        self._check_watch(request.after_sequence, request.job_id)
        async for batch in self.bus.subscribe_batches(
            request.after_sequence, request.job_id, request.jobs_only
        ):
            yield fpb.WatchEventBatchesResponse(events=batch)

    def _check_watch(self, after_sequence: int, job_id: int) -> None:
        """What both watches refuse: a negative cursor, an unknown job."""
        if after_sequence < 0:
            raise InvalidField("after_sequence", "must not be negative")
        if job_id:
            self.farm.state.job(job_id)

    @streaming
    async def TailLog(
        self, request: fpb.TailLogRequest, context: Context
    ) -> AsyncIterator[fpb.TailLogResponse]:
        task = self._log_task(request)
        attempt_id = request.attempt_id or task.attempt_id
        if not attempt_id and request.follow:
            attempt_id = await self._first_attempt(task)
        if not attempt_id:
            return
        attempt = self.farm.state.attempts.get(attempt_id)
        if attempt is None or attempt.task_id != task.id:
            raise NoSuchResource(f"task {task.id} has no attempt {attempt_id}")
        queue = self.logs.follow(attempt.id) if request.follow and attempt.end_time is None else None
        try:
            path = self.logs.path(attempt.job_id, attempt.task_id, attempt.id)
            try:
                size = path.stat().st_size
                stored = await asyncio.to_thread(lambda: list(_read_blocks(path, size))) if size else []
            except FileNotFoundError:
                self.logs.check_kept(attempt, time.time())  # no output yet, or pruned (say so)
                size, stored = 0, []
            for offset, data in stored:
                yield fpb.TailLogResponse(task_id=task.id, attempt_id=attempt.id, offset=offset, data=data)
            while queue is not None:
                chunk = await queue.get()
                if chunk is None:
                    break
                offset, data = chunk
                if offset + len(data) <= size:
                    continue
                if offset < size:
                    data, offset = data[size - offset :], size
                size = offset + len(data)
                yield fpb.TailLogResponse(task_id=task.id, attempt_id=attempt.id, offset=offset, data=data)
        finally:
            if queue is not None:
                self.logs.unfollow(attempt.id, queue)

    @streaming
    async def ExportDatabase(
        self, request: fpb.ExportDatabaseRequest, context: Context
    ) -> AsyncIterator[fpb.ExportDatabaseResponse]:
        async for block in self.export.stream():
            yield block

    @streaming
    async def ReadOutput(
        self, request: fpb.ReadOutputRequest, context: Context
    ) -> AsyncIterator[fpb.ReadOutputResponse]:
        output, workspace = recorded_output(self.farm.state, request)
        shares = [m.to_path for m in self.farm.path_maps.all()]
        roots = [workspace, *shares]
        async for answer in stream_output(output, roots, request.frame, request.offset, self.farm.blobs):
            yield answer

    @unary
    async def AnalyzeScene(
        self, request: fpb.AnalyzeSceneRequest, context: Context
    ) -> fpb.AnalyzeSceneResponse:
        return fpb.AnalyzeSceneResponse(analysis=await self.farm.analyses.analyse(request))

    @unary
    async def ListOutputs(self, request: fpb.ListOutputsRequest, context: Context) -> fpb.ListOutputsResponse:
        if request.urls:  # the first use makes the S3 client (imports boto3): off the event loop
            await asyncio.to_thread(lambda: self.farm.pushing.storage.available)
        return list_outputs(self.farm.state, request, self.farm.pushing.presign)

    def _log_task(self, request: fpb.TailLogRequest) -> Task:
        job = self.farm.state.job(request.job_id)
        if request.HasField("frame"):
            frame = job.frames.get(request.frame)
            if frame is None:
                raise NoSuchResource(f"job {job.id} has no frame {request.frame}")
            return self.farm.state.tasks[frame.task_id]
        if request.task_id:
            task = self.farm.state.tasks.get(request.task_id)
            if task is None or task.job_id != job.id:
                raise NoSuchResource(f"job {job.id} has no task {request.task_id}")
            return task
        raise InvalidField("frame", "name the frame (or the task_id) whose log to read")

    async def _first_attempt(self, task: Task) -> int:
        """Wait for the task's first dispatch (following a log right after submit).

        Returns 0 (nothing to follow) once the task or its job can no longer start:
        cancelled, ended or deleted before the task ever ran."""
        events = self.bus.subscribe(self.bus.last_sequence, task.job_id)
        try:
            while not task.attempt_id and not self.farm.job_control.never_starts(task):
                await anext(events)
        finally:
            await events.aclose()
        return task.attempt_id


def _read_blocks(path: Any, size: int) -> Iterator[tuple[int, bytes]]:
    with open(path, "rb") as f:
        offset = 0
        while offset < size:
            data = f.read(min(READ_BLOCK, size - offset))
            if not data:
                return
            yield offset, data
            offset += len(data)
