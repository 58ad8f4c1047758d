"""API calls carried to the farm's loop: a read jumps the loop's queue, whatever waits
there; a call that waits carries on as a task; an outcome, value or refusal, comes back
as the caller's answer or status; a watch its caller leaves ends on the farm's side."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable
from pathlib import Path

import grpc
import pytest

from renderq.controller.auth import CHANGES, READS
from renderq.controller.farm_calls import ANSWERED_AT_ONCE, run_first
from renderq.v1 import farm_service_pb2 as fpb
from tests.waiting import until

from .conftest import farm_client
from .test_health_and_metrics import Running, controller, value


async def test_a_read_runs_before_what_already_waits_on_the_loop() -> None:
    loop = asyncio.get_running_loop()
    order: list[str] = []
    for n in range(3):
        loop.call_soon(order.append, f"queued {n}")

    async def read() -> str:
        order.append("read")
        return "answer"

    future = run_first(loop, read())
    assert await asyncio.wrap_future(future) == "answer"
    assert order[0] == "read", order


async def test_a_read_that_waits_carries_on_as_a_task_with_its_context() -> None:
    loop = asyncio.get_running_loop()
    released = loop.create_future()

    async def read() -> str:
        await released
        assert asyncio.current_task() is not None
        await asyncio.sleep(0)
        return "later"

    future = run_first(loop, read())
    await asyncio.sleep(0)
    released.set_result(None)
    assert await asyncio.wrap_future(future) == "later"


async def test_an_error_comes_back_as_the_outcome() -> None:
    async def read() -> None:
        raise LookupError("no such job")

    with pytest.raises(LookupError, match="no such job"):
        await asyncio.wrap_future(run_first(asyncio.get_running_loop(), read()))


async def test_it_may_be_called_from_another_thread_and_wakes_an_idle_loop() -> None:
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    async def read() -> None:
        done.set_result(threading.current_thread())

    await asyncio.to_thread(run_first, loop, read())  # as the API's thread calls it
    assert await asyncio.wait_for(done, 10) is threading.main_thread()


def test_what_is_answered_at_once_only_reads() -> None:
    assert READS.keys() >= ANSWERED_AT_ONCE
    assert not ANSWERED_AT_ONCE & CHANGES.keys()


async def open_streams(running: Running) -> float:
    return value(await running.scrape(), "renderq_event_subscribers")


async def test_a_watch_its_caller_leaves_ends_on_the_farms_side_too(tmp_path: Path) -> None:
    async with controller(tmp_path) as running, farm_client(tmp_path, running.port) as stub:
        call = stub.WatchEventBatches(fpb.WatchEventBatchesRequest())
        await until("the watch is open on the farm's side", lambda: is_(open_streams(running), 1))
        call.cancel()
        await until("the watch is closed on the farm's side", lambda: is_(open_streams(running), 0))


async def test_a_refusal_made_on_the_farms_side_reaches_the_caller_as_its_status(tmp_path: Path) -> None:
    async with controller(tmp_path) as running, farm_client(tmp_path, running.port) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.GetJob(fpb.GetJobRequest(job_id=404))
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await anext(aiter(stub.TailLog(fpb.TailLogRequest(job_id=404))))
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND


async def is_(count: Awaitable[float], wanted: int) -> bool:
    return await count == wanted
