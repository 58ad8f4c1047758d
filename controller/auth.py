"""The one door every FarmService call passes through: token, role, audit.

Each call must carry ``authorization: Bearer TOKEN``. The token names a caller and a
role; each method needs a role (the table below, checked against the service so no
method is forgotten; a method missing from it needs admin). A state-changing call is
recorded in the audit log (who, what, when, outcome), and answers only once that
record is stored, which by group commit stores the call's own change too: a caller who
saw an answer never loses the change to a controller crash.

Two services are open to every caller, since they tell nothing about the farm: the
standard health check (probes and load balancers carry no token) and server reflection
(the API's schema, so grpcurl, Postman and Kreya can build calls, which then need a
token). Every other service needs a token; one other than FarmService needs admin.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.empty_pb2 import Empty
from google.protobuf.message import Message

from renderq import health, tokens
from renderq.controller.audit import AuditLog
from renderq.controller.tokens import Caller, TokenBook
from renderq.v1 import farm_service_pb2
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

VIEWER, OPERATOR, ADMIN = int(pb.ROLE_VIEWER), int(pb.ROLE_OPERATOR), int(pb.ROLE_ADMIN)
ROLE_NAMES = {VIEWER: "viewer", OPERATOR: "operator", ADMIN: "admin"}

READS = {
    "GetJob": VIEWER, "ListJobs": VIEWER, "ListTasks": VIEWER, "ListFrames": VIEWER,
    "GetAgent": VIEWER, "ListAgents": VIEWER, "ListPlugins": VIEWER, "WatchEvents": VIEWER,
    "WatchEventBatches": VIEWER, "TailLog": VIEWER, "ReadOutput": VIEWER, "GetCaller": VIEWER,
    "ListOutputs": VIEWER, "AnalyzeScene": OPERATOR,
    "ListTokens": ADMIN, "ListAuditRecords": ADMIN, "ExportDatabase": ADMIN, "ListLimits": VIEWER,
    "ExplainJob": VIEWER, "FindMissingBlobs": OPERATOR, "ListPathMappings": VIEWER, "MapPath": VIEWER,
}  # fmt: skip
"""Methods that change nothing, with the role they need."""
CHANGES = {
    "CreateJob": OPERATOR, "UpdateJob": OPERATOR, "DeleteJob": OPERATOR, "CancelJob": OPERATOR,
    "SuspendJob": OPERATOR, "ResumeJob": OPERATOR, "RetryFrames": OPERATOR, "UnblockAgent": OPERATOR,
    "EnableAgent": ADMIN, "DisableAgent": ADMIN, "DrainAgent": ADMIN, "ForgetAgent": ADMIN,
    "SetAgentOverrides": ADMIN, "UploadBlob": OPERATOR, "CollectBlobs": ADMIN, "CleanupWorkspaces": OPERATOR,
    "AddPathMapping": ADMIN, "DeletePathMapping": ADMIN,
    "CreateToken": ADMIN, "RevokeToken": ADMIN, "SetLimit": ADMIN, "DeleteLimit": ADMIN,
}  # fmt: skip
"""State-changing methods, with the role they need; each call is audited."""
SERVICE = farm_service_pb2.DESCRIPTOR.services_by_name["FarmService"].full_name
REFLECTION_PREFIX = "grpc.reflection."
"""Server reflection, every version of it (``grpc.reflection.v1alpha.ServerReflection``, ``v1``)."""


def is_open(service: str) -> bool:
    """Whether ``service`` may be called without a token: health and reflection, nothing else."""
    return service == health.SERVICE_NAME or service.startswith(REFLECTION_PREFIX)


current_caller: contextvars.ContextVar[Caller] = contextvars.ContextVar("current_caller")
"""The caller of the call being served (set for the servicer's task by the interceptor)."""

NO_TOKEN = (
    "this call needs an API token: pass --token or set RENDERQ_TOKEN (the controller writes "
    "an admin token to admin.token in its --data-dir; an admin makes more with "
    "`renderq token create NAME --role viewer|operator|admin`)"
)
BAD_TOKEN = "the API token is unknown or revoked; ask an admin for one (`renderq token create`)"


def bearer(metadata: tuple[tuple[str, str | bytes], ...] | None) -> str | None:
    for key, value in metadata or ():
        if key == tokens.METADATA_KEY and isinstance(value, str) and value.startswith("Bearer "):
            return value.removeprefix("Bearer ").strip()
    return None


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, book: TokenBook, audit: AuditLog) -> None:
        self._book = book
        self._audit = audit

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        service, _, method = details.method.lstrip("/").rpartition("/")
        if handler is None or is_open(service):
            return handler
        secret = bearer(details.invocation_metadata)
        caller = self._book.caller(secret) if secret else None
        if caller is None:
            log.warning("refused a call without a valid token method=%s", method)
            refusal = BAD_TOKEN if secret else NO_TOKEN
            return _replace(handler, _refuse(grpc.StatusCode.UNAUTHENTICATED, refusal))
        if service != SERVICE:
            method = details.method  # no FarmService role table applies: admin only, never audited
        needed = CHANGES.get(method, READS.get(method, ADMIN))
        if caller.role < needed:
            refuse = _refuse(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{method} needs the {ROLE_NAMES[needed]} role; token {caller.name!r} "
                f"({caller.token_id}) has the {ROLE_NAMES.get(caller.role, 'unknown')} role",
            )
            if method not in CHANGES:
                return _replace(handler, refuse)
            audited = self._audited_upload if handler.stream_unary is not None else self._audited
            return _replace(handler, audited(caller, method, refuse))
        if handler.stream_unary is not None:  # an upload: a stream of requests, one answer
            return _replace(handler, _as(caller, self._audited_upload(caller, method, handler.stream_unary)))
        if handler.unary_unary is None:
            return handler  # the streams (WatchEvents, TailLog) read and need no caller
        behavior = handler.unary_unary
        if method in CHANGES:
            behavior = self._audited(caller, method, behavior)
        return _replace(handler, _as(caller, behavior))

    def _audited(self, caller: Caller, method: str, behavior: Behavior) -> Behavior:
        """``behavior`` (a unary call) recorded in the audit log, answering only once the
        record is stored."""

        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            response = None
            try:
                response = await behavior(request, context)
                return response
            finally:
                await self._record(caller, method, request, response, context)

        return call

    def _audited_upload(self, caller: Caller, method: str, behavior: Behavior) -> Behavior:
        """``behavior`` (a stream of requests, one answer) recorded in the audit log by its
        first message without the data."""

        async def call(requests: AsyncIterator[Message], context: grpc.aio.ServicerContext) -> Any:
            upload = _Upload(requests)
            response = None
            try:
                response = await behavior(upload.__aiter__(), context)
                return response
            finally:
                await self._record(caller, method, upload.first or Empty(), response, context)

        return call

    async def _record(
        self, caller: Caller, method: str, request: Message, response: Any, context: grpc.aio.ServicerContext
    ) -> None:
        """The call in the audit log; returns once the record is stored."""
        code = context.code() if response is None else grpc.StatusCode.OK
        self._audit.record(
            caller, method, request, response, context.peer(),
            getattr(code, "name", "UNKNOWN"), context.details() or "",
        )  # fmt: skip
        await self._audit.stored()


Behavior = Callable[[Any, grpc.aio.ServicerContext], Any]


class _Upload:
    """A stream of requests whose first message (without its data) stands for the call in
    the audit log: the record names the blob, not its bytes."""

    def __init__(self, requests: AsyncIterator[Message]) -> None:
        self.requests = requests
        self.first: Message | None = None

    async def __aiter__(self) -> AsyncIterator[Message]:
        async for request in self.requests:
            if self.first is None:
                self.first = type(request)()
                self.first.CopyFrom(request)
                if "data" in request.DESCRIPTOR.fields_by_name:
                    self.first.ClearField("data")
            yield request


def _as(caller: Caller, behavior: Behavior) -> Behavior:
    """``behavior`` (a unary call) run with ``current_caller`` set to ``caller``."""

    # A coroutine function, as grpc.aio tells a handler's kind by inspecting it.
    async def run(request: Any, context: grpc.aio.ServicerContext) -> Any:
        current_caller.set(caller)
        return await behavior(request, context)

    return run


def _refuse(code: grpc.StatusCode, message: str) -> Behavior:
    """A behavior that only aborts; a coroutine function serves unary and streaming calls alike."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort(code, message)

    return refuse


def _replace(handler: grpc.RpcMethodHandler, behavior: Behavior) -> grpc.RpcMethodHandler:
    """``handler`` with another behavior, of the same kind (unary or streaming, each way)."""
    serialization = (handler.request_deserializer, handler.response_serializer)
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(behavior, *serialization)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(behavior, *serialization)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(behavior, *serialization)
    return grpc.stream_stream_rpc_method_handler(behavior, *serialization)
