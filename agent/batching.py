"""Turning a stream of small updates into few messages, without delaying any for long.

A renderer may print thousands of lines and progress updates a second; the
controller, the store and every watching terminal would pay for each one. Output is
batched by size and time; progress keeps only its latest value per interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from renderq.v1 import agent_service_pb2 as apb

T = TypeVar("T")


class LogBatcher:
    """Batches output into ``LogChunk`` events, each carrying its byte offset in the
    stored log: flushed at ``max_bytes``, or ``delay`` seconds after the first
    unflushed byte, whichever comes first.

    Only the first ``limit`` bytes are kept: a renderer stuck printing the same line
    would otherwise fill the controller's disk, and the agent's outbox while the link
    is down. ``close`` ends a cut log with a line that says how much was dropped.
    """

    def __init__(
        self, max_bytes: int, delay: float, emit: Callable[[apb.LogChunk], None], limit: int
    ) -> None:
        self._max_bytes = max_bytes
        self._delay = delay
        self._emit = emit
        self._limit = limit
        self._buffer = bytearray()
        self._offset = 0
        self._last_byte = b"\n"
        self.dropped = 0
        """Bytes of output not kept because the log had reached its limit."""
        self._timer: asyncio.TimerHandle | None = None

    def add(self, data: bytes) -> None:
        room = self._limit - self._offset - len(self._buffer)
        if len(data) > room:
            self.dropped += len(data) - max(room, 0)
            data = data[: max(room, 0)]
            if not data:
                return
        self._buffer += data
        if len(self._buffer) >= self._max_bytes:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._buffer:
            return
        self._emit(apb.LogChunk(data=bytes(self._buffer), offset=self._offset))
        self._offset += len(self._buffer)
        self._last_byte = bytes(self._buffer[-1:])
        self._buffer.clear()

    def close(self) -> None:
        """The output ended: send what is left, and say what was dropped, on a line of its own."""
        if self.dropped:
            self.flush()
            fresh_line = "" if self._last_byte == b"\n" else "\n"
            self._buffer += (
                f"{fresh_line}[renderq: {self.dropped:,} bytes of output dropped: "
                f"a task's log keeps its first {self._limit:,} bytes]\n"
            ).encode()
        self.flush()


class Throttle(Generic[T]):
    """Passes on at most one value per ``interval`` seconds; of the values offered
    meanwhile, the latest wins."""

    def __init__(self, interval: float, send: Callable[[T], None]) -> None:
        self._interval = interval
        self._send = send
        self._last_sent = float("-inf")
        self._pending: T | None = None
        self._timer: asyncio.TimerHandle | None = None

    def offer(self, value: T) -> None:
        loop = asyncio.get_running_loop()
        self._pending = value
        if self._timer is None:
            self._timer = loop.call_at(max(loop.time(), self._last_sent + self._interval), self._fire)

    def close(self) -> None:
        """Drop what is pending: once the stream ends, a late value means nothing."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = None

    def _fire(self) -> None:
        self._timer = None
        if self._pending is not None:
            self._send(self._pending)
            self._pending = None
            self._last_sent = asyncio.get_running_loop().time()
