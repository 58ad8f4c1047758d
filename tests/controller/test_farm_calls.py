"""API calls carried to the farm's loop: a read jumps the loop's queue, whatever waits
there; a call that waits carries on as a task; an outcome, value or error, comes back."""

from __future__ import annotations

import asyncio
import threading

import pytest

from renderq.controller.auth import CHANGES, READS
from renderq.controller.farm_calls import ANSWERED_AT_ONCE, run_first


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
