"""The API's gRPC server on a thread and event loop of its own.

Why: gRPC's asyncio stack has one completion queue per process, drained by the loop
each operation belongs to. On one loop, an API call's events waited behind those of the
thousand agent links the controller dials, and a listing that takes half a millisecond
to make took a second and more to answer while the farm dispatched. On its own loop,
the call's I/O, parsing and encoding happen here; its work is done on the farm's loop
(farm_calls.py). Health and reflection tell nothing of the farm and are served here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import grpc
from grpc_reflection.v1alpha import reflection

from renderq.controller.auth import SERVICE
from renderq.controller.farm_calls import FarmCalls
from renderq.controller.loop_wakeups import wake_only_when_asleep
from renderq.controller.poller_wakeups import read_wakeups_in_bulk
from renderq.health import SERVICE_NAME as HEALTH_SERVICE
from renderq.health import Health

T = TypeVar("T")
STOP_GRACE = 1.0
"""Seconds calls in flight get to finish once the controller stops."""


class ApiServer:
    """The server on the API's loop; every method is called from the farm's loop."""

    def __init__(self, calls: FarmCalls, options: list[tuple[str, Any]]) -> None:
        self._calls = calls
        self._options = options
        self._loop = api_loop()
        self._server: grpc.aio.Server | None = None
        self._health = Health([SERVICE])

    async def open(self, listen: Callable[[grpc.aio.Server], int]) -> int:
        """The server made and bound by ``listen``; the port. An error of ``listen``
        (ListenError) is raised here."""
        return await self._on_loop(self._make(listen))

    async def _make(self, listen: Callable[[grpc.aio.Server], int]) -> int:
        self._server = grpc.aio.server(options=self._options)
        self._server.add_generic_rpc_handlers((self._calls,))
        read_wakeups_in_bulk()
        await self._health.add_to(self._server)
        # grpcurl, Postman and Kreya list and call FarmService from what reflection tells them.
        reflection.enable_server_reflection([SERVICE, HEALTH_SERVICE, reflection.SERVICE_NAME], self._server)
        return listen(self._server)

    async def start(self) -> None:
        assert self._server is not None
        await self._on_loop(self._server.start())

    async def serving(self) -> None:
        """Health says SERVING."""
        await self._on_loop(self._health.serving())

    async def stop(self) -> None:
        """Health NOT_SERVING, calls in flight given ``STOP_GRACE``, the server stopped."""
        if self._server is not None:
            await self._on_loop(self._health.stopping())
            await self._on_loop(self._server.stop(grace=STOP_GRACE))

    async def _on_loop(self, work: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))


_API_LOOP: list[asyncio.AbstractEventLoop] = []
_API_LOOP_LOCK = threading.Lock()


def api_loop() -> asyncio.AbstractEventLoop:
    """The API's event loop, running on a daemon thread of its own, one per process for
    its whole life. It is never closed: gRPC hands each completion to the loop its
    operation belongs to, and one that arrived for a closed loop (a late event of a
    stopped server) would stall the hand-over for every loop of the process."""
    with _API_LOOP_LOCK:
        if not _API_LOOP:
            ready: concurrent.futures.Future[asyncio.AbstractEventLoop] = concurrent.futures.Future()
            threading.Thread(target=_run_loop, args=(ready,), name="renderq-api", daemon=True).start()
            _API_LOOP.append(ready.result())
        return _API_LOOP[0]


def _run_loop(ready: concurrent.futures.Future[asyncio.AbstractEventLoop]) -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    wake_only_when_asleep(loop)
    ready.set_result(loop)
    loop.run_forever()
