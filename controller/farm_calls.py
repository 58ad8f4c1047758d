"""FarmService calls carried from the API's thread to the farm's event loop and back.

The API server runs on a thread and event loop of its own (api_thread.py): a call's
bytes, its parsing and its answer's encoding happen there. What the call reads or
changes of the farm happens on the farm's loop, the one thread that owns the farm's
records, with the auth interceptor and the servicer exactly as they would run on a
server of their own: each method handler is wrapped here into one of the same kind
whose behavior hands the work over and waits for its outcome.

A read that answers from memory (``ANSWERED_AT_ONCE``) is put at the front of the farm
loop's queue: it runs after the callback running now, not behind the turn's backlog of
link events, so a listing typically answers in a millisecond while a thousand agents
dispatch.
Everything else is scheduled as any other task of that loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any, NoReturn

import grpc

from renderq.controller.auth import SERVICE

ANSWERED_AT_ONCE = frozenset(
    {
        "GetJob", "ListJobs", "ListTasks", "ListFrames", "GetAgent", "ListAgents", "ListLimits",
        "ListPathMappings", "MapPath", "GetCaller", "ExplainJob", "ListTokens", "ListPlugins",
    }
)  # fmt: skip
"""Unary reads whose answer is made from the farm's records without waiting for anything."""
STREAM_AHEAD = 8
"""Messages a stream's farm side may make before the API side has sent the first of them."""
_END = object()


class CallAborted(Exception):
    """``context.abort`` on the farm's side: the API thread aborts the real call with it."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code = code
        self.details = details


class FarmSideContext:
    """The part of a call's context the servicer and the interceptor use, usable on the
    farm's loop: the peer copied when the call arrived, and an abort that is recorded
    (``code()``, ``details()`` tell it, for the audit log) and raised as ``CallAborted``."""

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._peer = context.peer()
        self._code: grpc.StatusCode | None = None
        self._details: str | None = None

    def peer(self) -> str:
        return self._peer

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str | None:
        return self._details

    async def abort(self, code: grpc.StatusCode, details: str = "", *_: Any) -> NoReturn:
        self._code, self._details = code, details
        raise CallAborted(code, details)


class FarmCalls(grpc.GenericRpcHandler):
    """FarmService on the API's server, each call's work done on ``farm_loop`` behind
    ``interceptor``. Made on the farm's loop, registered on the API's server."""

    def __init__(self, servicer: Any, interceptor: grpc.aio.ServerInterceptor) -> None:
        self._farm_loop = asyncio.get_running_loop()
        self._interceptor = interceptor
        self._handlers = _method_handlers(servicer)

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        service, _, method = details.method.lstrip("/").rpartition("/")
        inner = self._handlers.get(method) if service == SERVICE else None
        if inner is None:
            return None
        serialization = (inner.request_deserializer, inner.response_serializer)
        if inner.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(self._unary(details, method), *serialization)
        if inner.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(self._stream(details), *serialization)
        return grpc.stream_unary_rpc_method_handler(self._upload(details), *serialization)

    async def _behavior(self, details: grpc.HandlerCallDetails) -> Callable[..., Any]:
        """The method's behavior as the interceptor wraps it (token, role, audit); on the farm's loop."""

        async def continuation(d: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
            return self._handlers[d.method.rpartition("/")[2]]

        handler = await self._interceptor.intercept_service(continuation, details)
        return handler.unary_unary or handler.unary_stream or handler.stream_unary

    def _unary(self, details: grpc.HandlerCallDetails, method: str) -> Callable[..., Awaitable[Any]]:
        first = method in ANSWERED_AT_ONCE

        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            farm_context = FarmSideContext(context)

            async def work() -> Any:
                return await (await self._behavior(details))(request, farm_context)

            future = run_first(self._farm_loop, work()) if first else self._run(work())
            return await _outcome(future, context)

        return call

    def _stream(self, details: grpc.HandlerCallDetails) -> Callable[..., AsyncIterator[Any]]:
        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            api_loop = asyncio.get_running_loop()
            queue: asyncio.Queue[Any] = asyncio.Queue(STREAM_AHEAD)
            farm_context = FarmSideContext(context)

            async def put(item: Any) -> None:
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(queue.put(item), api_loop))

            async def work() -> None:
                try:
                    produced = (await self._behavior(details))(request, farm_context)
                    if isinstance(produced, AsyncGenerator):
                        async with contextlib.aclosing(produced):  # a call gone stops its watch now
                            async for item in produced:
                                await put(item)
                    else:  # a refusal: a coroutine that only aborts
                        await produced
                except asyncio.CancelledError:
                    raise  # the call is gone: nobody reads the end
                except BaseException:
                    await put(_END)
                    raise
                await put(_END)

            future = self._run(work())
            try:
                while (item := await queue.get()) is not _END:
                    yield item
                await _outcome(future, context)
            finally:
                future.cancel()

        return call

    def _upload(self, details: grpc.HandlerCallDetails) -> Callable[..., Awaitable[Any]]:
        async def call(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            farm_context = FarmSideContext(context)
            farm_requests = _FarmSideRequests(requests, asyncio.get_running_loop())

            async def work() -> Any:
                return await (await self._behavior(details))(farm_requests, farm_context)

            return await _outcome(self._run(work()), context)

        return call

    def _run(self, work: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        return asyncio.run_coroutine_threadsafe(work, self._farm_loop)


class _FarmSideRequests:
    """A call's stream of requests, read on the farm's loop from the API's."""

    def __init__(self, requests: AsyncIterator[Any], api_loop: asyncio.AbstractEventLoop) -> None:
        self._requests = requests
        self._reading: AsyncIterator[Any] | None = None  # made at the first read: a refused call reads none
        self._api_loop = api_loop

    def __aiter__(self) -> _FarmSideRequests:
        return self

    async def __anext__(self) -> Any:
        async def next_one() -> Any:
            if self._reading is None:
                self._reading = aiter(self._requests)
            return await anext(self._reading, _END)

        item = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(next_one(), self._api_loop))
        if item is _END:
            raise StopAsyncIteration
        return item


async def _outcome(
    future: concurrent.futures.Future[Any], context: grpc.aio.ServicerContext[Any, Any]
) -> Any:
    """The farm side's answer; its abort made on the real call. A call that ends first
    (cancelled, or the server stopping) cancels the farm side's work."""
    try:
        return await asyncio.wrap_future(future)
    except CallAborted as e:
        await context.abort(e.code, e.details)


def run_first(
    loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, Any]
) -> concurrent.futures.Future[Any]:
    """``work`` started on ``loop`` (another thread's) before anything already waiting
    there: the next callback the loop runs. A coroutine that waits for something carries
    on from there as a task of that loop. Uses the loop's ready queue (``_ready``) and
    wake-up (``_write_to_self``), which ``call_soon_threadsafe`` itself uses, since asyncio
    has no public way to jump its queue."""
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()
    context = contextvars.copy_context()

    def start() -> None:
        if future.cancelled():
            work.close()
            return
        try:
            waited = work.send(None)
        except BaseException as e:  # the call's outcome, whatever it is
            _settle(future, e)
            return

        def carry_on(_: object = None) -> None:
            task = loop.create_task(work, context=context)
            task.add_done_callback(lambda t: _settle(future, t))
            future.add_done_callback(lambda f: f.cancelled() and loop.call_soon_threadsafe(task.cancel))

        if waited is None:
            carry_on()
        else:
            waited._asyncio_future_blocking = False
            waited.add_done_callback(carry_on)

    loop._ready.appendleft(asyncio.Handle(start, (), loop, context))  # type: ignore[attr-defined]
    loop._write_to_self()  # type: ignore[attr-defined]
    return future


def _settle(future: concurrent.futures.Future[Any], outcome: BaseException | asyncio.Task[Any]) -> None:
    """``future`` given the outcome of ``run_first``'s work: an exception it raised (its
    result, for StopIteration) or the task that finished it."""
    if not future.set_running_or_notify_cancel():
        return
    if isinstance(outcome, StopIteration):
        future.set_result(outcome.value)
    elif isinstance(outcome, BaseException):
        future.set_exception(outcome)
    elif outcome.cancelled():
        future.set_exception(asyncio.CancelledError())
    elif (error := outcome.exception()) is not None:
        future.set_exception(error)
    else:
        future.set_result(outcome.result())


class _Collector:
    """Stands in for a server to collect the method handlers a generated
    ``add_...Servicer_to_server`` registers."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, _: Any) -> None:
        pass

    def add_registered_method_handlers(self, _: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self.handlers.update(handlers)


def _method_handlers(servicer: Any) -> dict[str, grpc.RpcMethodHandler]:
    from renderq.v1 import farm_service_pb2_grpc as fgrpc

    collector = _Collector()
    fgrpc.add_FarmServiceServicer_to_server(servicer, collector)
    return collector.handlers
