"""The agent's outbox: every event it reports, numbered and kept until acked.

A controller restart or a network cut must not lose a finished frame. Events are
therefore never sent and forgotten: each gets the next sequence number of this agent
session and stays here until the controller acks that it stored it; a new link
replays whatever is left, in order.
"""

from __future__ import annotations

import asyncio
from collections import deque

from renderq.v1 import agent_service_pb2 as pb

EventKind = pb.TaskStarted | pb.LogChunk | pb.TaskProgress | pb.FrameCompleted | pb.TaskFinished

_FIELD_OF: dict[type, str] = {
    pb.TaskStarted: "started",
    pb.LogChunk: "log",
    pb.TaskProgress: "progress",
    pb.FrameCompleted: "frame_completed",
    pb.TaskFinished: "finished",
}


class Outbox:
    def __init__(self) -> None:
        self._events: deque[pb.AgentEvent] = deque()
        self._last_sequence = 0
        self._appended = asyncio.Event()

    def append(self, attempt_id: int, kind: EventKind) -> pb.AgentEvent:
        """Number ``kind`` as the next event of ``attempt_id`` and keep it until acked."""
        self._last_sequence += 1
        event = pb.AgentEvent(sequence=self._last_sequence, attempt_id=attempt_id)
        event.time.GetCurrentTime()
        getattr(event, _FIELD_OF[type(kind)]).CopyFrom(kind)
        self._events.append(event)
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

    def after(self, sequence: int) -> list[pb.AgentEvent]:
        """Unacked events numbered above ``sequence``, in order."""
        return [event for event in self._events if event.sequence > sequence]

    def attempt_ids(self) -> set[int]:
        """Attempts with events still waiting for an ack."""
        return {event.attempt_id for event in self._events}

    def __len__(self) -> int:
        return len(self._events)

    async def wait_beyond(self, sequence: int) -> None:
        """Return once an event numbered above ``sequence`` was appended."""
        while self._last_sequence <= sequence:
            await self._appended.wait()
