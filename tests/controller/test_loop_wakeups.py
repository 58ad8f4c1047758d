"""A loop woken from other threads only while it sleeps (controller/loop_wakeups.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from renderq.controller.loop_wakeups import wake_only_when_asleep

DEADLINE = 10.0


@pytest.fixture
def loop_on_thread() -> Iterator[tuple[asyncio.AbstractEventLoop, list[int]]]:
    """A loop running on a thread of its own with wake-ups only when asleep; the
    count of bytes it was sent to wake it."""
    loop = asyncio.new_event_loop()
    writes = [0]
    write_to_self = loop._write_to_self  # type: ignore[attr-defined]

    def counted() -> None:
        writes[0] += 1
        write_to_self()

    loop._write_to_self = counted  # type: ignore[attr-defined]
    installed = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        assert wake_only_when_asleep(loop)
        installed.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert installed.wait(DEADLINE), "the loop's thread did not start"
    yield loop, writes
    loop.call_soon_threadsafe(loop.stop)
    thread.join(DEADLINE)
    assert not thread.is_alive(), "the loop did not stop"
    loop.close()


def test_a_sleeping_loop_is_woken(loop_on_thread: tuple[asyncio.AbstractEventLoop, list[int]]) -> None:
    loop, _ = loop_on_thread
    for _ in range(3):
        ran = threading.Event()
        loop.call_soon_threadsafe(ran.set)
        assert ran.wait(DEADLINE), "a callback handed to a sleeping loop did not run"


def test_a_busy_loop_gets_callbacks_without_a_wakeup(
    loop_on_thread: tuple[asyncio.AbstractEventLoop, list[int]],
) -> None:
    loop, writes = loop_on_thread
    busy, release, done = threading.Event(), threading.Event(), threading.Event()
    ran: list[int] = []

    def hold() -> None:
        busy.set()
        assert release.wait(DEADLINE), "the test did not release the loop"

    loop.call_soon_threadsafe(hold)
    assert busy.wait(DEADLINE), "the loop did not run the holding callback"
    before = writes[0]
    for i in range(100):
        loop.call_soon_threadsafe(ran.append, i)
    loop.call_soon_threadsafe(done.set)
    assert writes[0] == before, "a busy loop was written to"
    release.set()
    assert done.wait(DEADLINE), "callbacks handed to a busy loop did not run"
    assert ran == list(range(100))


def test_a_callback_added_before_the_mark_makes_select_poll() -> None:
    loop = asyncio.new_event_loop()
    try:
        assert wake_only_when_asleep(loop)
        loop._ready.append(asyncio.Handle(lambda: None, (), loop))  # type: ignore[attr-defined]
        # Without the ready queue looked at, this would sleep until a byte came.
        assert loop._selector.select(None) == []  # type: ignore[attr-defined]
    finally:
        loop._ready.clear()  # type: ignore[attr-defined]
        loop.close()


def test_installing_twice_keeps_one_wrapper() -> None:
    loop = asyncio.new_event_loop()
    try:
        assert wake_only_when_asleep(loop)
        wake = loop._write_to_self  # type: ignore[attr-defined]
        assert wake_only_when_asleep(loop)
        assert loop._write_to_self is wake  # type: ignore[attr-defined]
    finally:
        loop.close()


def test_a_loop_of_another_shape_keeps_its_wakeups() -> None:
    class Other(asyncio.AbstractEventLoop):
        pass

    assert not wake_only_when_asleep(Other())  # type: ignore[abstract]
