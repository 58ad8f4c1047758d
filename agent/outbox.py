"""The agent's outbox: every event it reports, numbered and kept until acked.

A controller restart or a network cut must not lose a finished frame. Events are
therefore never sent and forgotten: each gets the next sequence number of this agent
session and stays here until the controller acks that it stored it; a new link
replays whatever is left, in order.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Iterator

from renderq.v1 import agent_service_pb2 as apb

EventKind = apb.TaskStarted | apb.LogChunk | apb.TaskProgress | apb.FrameCompleted | apb.TaskFinished

_FIELD_OF: dict[type, str] = {
    apb.TaskStarted: "started",
    apb.LogChunk: "log",
    apb.TaskProgress: "progress",
    apb.FrameCompleted: "frame_completed",
    apb.TaskFinished: "finished",
}


class Outbox:
    def __init__(self) -> None:
        self._events: deque[apb.AgentEvent] = deque()
        self._last_sequence = 0
        self._last_end = 0
        """The sequence of the newest event that reports a task's end (0: none yet)."""
        self._appended = asyncio.Event()

    def append(self, attempt_id: int, kind: EventKind) -> apb.AgentEvent:
        """Number ``kind`` as the next event of ``attempt_id`` and keep it until acked."""
        self._last_sequence += 1
        event = apb.AgentEvent(sequence=self._last_sequence, attempt_id=attempt_id)
        event.time.FromNanoseconds(time.time_ns())  # GetCurrentTime goes through a datetime: slower
        getattr(event, _FIELD_OF[type(kind)]).CopyFrom(kind)
        self._events.append(event)
        if isinstance(kind, apb.TaskFinished):
            self._last_end = self._last_sequence
        # Wake every waiting sender, then arm a fresh event for the next append.
        self._appended.set()
        self._appended = asyncio.Event()
        return event

    def ack(self, sequence: int) -> int:
        """Drop every event up to ``sequence``; return how many were dropped."""
        dropped = 0
        while self._events and self._events[0].sequence <= sequence:
            self._events.popleft()
            dropped += 1
        return dropped

    @property
    def last_sequence(self) -> int:
        """The sequence of the newest event ever appended (acked or not)."""
        return self._last_sequence

    def after(self, sequence: int) -> list[apb.AgentEvent]:
        """Unacked events numbered above ``sequence``, in order."""
        if not self._events:
            return []
        # Sequences are consecutive, so the first wanted event's index is arithmetic.
        start = max(0, sequence + 1 - self._events[0].sequence)
        return list(itertools.islice(self._events, start, None))

    def ends_a_task(self, after: int) -> bool:
        """Whether an event numbered above ``after`` reports a task's end (asked as each
        event arrives while a message gathers, so kept as a number, not searched for)."""
        return self._last_end > after

    def attempt_ids(self) -> set[int]:
        """Attempts with events still waiting for an ack."""
        return {event.attempt_id for event in self._events}

    def __len__(self) -> int:
        return len(self._events)

    async def wait_beyond(self, sequence: int) -> None:
        """Return once an event numbered above ``sequence`` was appended."""
        while self._last_sequence <= sequence:
            await self._appended.wait()


BATCH_BYTES = 4 << 20
"""Most bytes of events in one link message (the link allows 64 MiB)."""


def batches(events: list[apb.AgentEvent], limit: int = BATCH_BYTES) -> Iterator[list[apb.AgentEvent]]:
    """``events`` cut into consecutive runs of at most ``limit`` bytes (at least one event each)."""
    batch: list[apb.AgentEvent] = []
    size = 0
    for event in events:
        event_size = event.ByteSize()
        if batch and size + event_size > limit:
            yield batch
            batch, size = [], 0
        batch.append(event)
        size += event_size
    if batch:
        yield batch
