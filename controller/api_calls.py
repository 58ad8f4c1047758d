"""How every FarmService method answers: a refusal the caller caused leaves as its gRPC
status with the farm's sentence (see errors.py); anything else is a bug, logged with its
traceback and reported as INTERNAL. The decorators keep each method's types, so mypy
checks every method against the generated servicer."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeAlias, TypeVar

import grpc
from google.protobuf.message import Message

from renderq.controller.errors import RequestRefused, clip

log = logging.getLogger("renderq.controller.api")

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Req = TypeVar("Req")
"""A request message, or the stream of them of a method that reads one (UploadBlob)."""
Resp = TypeVar("Resp", bound=Message)
Unary: TypeAlias = "Callable[[Any, Req, Context], Awaitable[Resp]]"
Streaming: TypeAlias = "Callable[[Any, Req, Context], AsyncIterator[Resp]]"


async def _abort(context: Context, e: Exception) -> NoReturn:
    if isinstance(e, RequestRefused):
        await context.abort(e.code, e.message)
    log.exception("internal error")
    await context.abort(grpc.StatusCode.INTERNAL, clip(f"internal error: {e}"))
    raise AssertionError("context.abort returned")  # it raises; its stub does not say so


def unary(method: Unary[Req, Resp]) -> Unary[Req, Resp]:
    """A RequestRefused leaves as its status and sentence; anything else as INTERNAL, logged."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: Context) -> Resp:
        try:
            return await method(self, request, context)
        except Exception as e:
            await _abort(context, e)

    return wrapper


def streaming(method: Streaming[Req, Resp]) -> Streaming[Req, Resp]:
    """As ``unary``, for a method that streams its answers."""

    @functools.wraps(method)
    async def wrapper(self: Any, request: Req, context: Context) -> AsyncIterator[Resp]:
        try:
            async for item in method(self, request, context):
                yield item
        except Exception as e:
            await _abort(context, e)

    return wrapper
