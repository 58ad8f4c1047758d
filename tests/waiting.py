"""Waiting in tests for what no event announces (a process gone, a state only a listing
shows): look again until it holds, with a deadline whose failure says what was awaited."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

DEADLINE = 30.0


def eventually(what: str, check: Callable[[], bool], timeout: float = DEADLINE, every: float = 0.1) -> None:
    """Call ``check`` until it holds; fail after ``timeout`` seconds naming ``what``."""
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")
        time.sleep(every)


async def until(
    what: str, check: Callable[[], bool | Awaitable[bool]], within: float = DEADLINE, every: float = 0.05
) -> None:
    """``eventually`` for a test on the event loop; ``check`` may be a coroutine function."""
    try:
        async with asyncio.timeout(within):
            while True:
                result = check()
                if await result if isinstance(result, Awaitable) else result:
                    return
                await asyncio.sleep(every)
    except TimeoutError:
        raise AssertionError(f"timed out after {within:.0f} s waiting until {what}") from None
