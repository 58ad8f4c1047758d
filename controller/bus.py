"""The event bus: every stored change, numbered, fanned out to WatchEvents streams.

Events are published after the store commits them, so a watcher never sees a state
that a crash could take back. A ring of recent events lets a client resume from its
cursor without gaps; a cursor older than the ring, or a subscriber too slow to keep
up, gets a Resync marker (list again, then keep reading) instead of slowing the farm.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator

from renderq.v1 import farm_service_pb2 as fpb

RING_SIZE = 20_000
QUEUE_SIZE = 4_096
BATCH_BYTES = 4 << 20
"""Most bytes of events gathered into one batch (a message stays far below 64 MiB)."""


def event_job_id(event: fpb.WatchEventsResponse) -> int:
    kind = event.WhichOneof("resource")
    if kind == "job":
        return event.job.id
    if kind == "task":
        return event.task.job_id
    if kind == "frame":
        return event.frame.job_id
    return 0


class _Subscriber:
    def __init__(self, job_id: int, jobs_only: bool) -> None:
        self.job_id = job_id
        self.jobs_only = jobs_only
        self.queue: asyncio.Queue[fpb.WatchEventsResponse] = asyncio.Queue(QUEUE_SIZE)
        self.overflowed = False

    def offer(self, event: fpb.WatchEventsResponse) -> None:
        if self.overflowed or (self.job_id and event_job_id(event) != self.job_id):
            return
        if self.jobs_only and event.WhichOneof("resource") != "job":
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(resync(event.sequence))


def resync(sequence: int) -> fpb.WatchEventsResponse:
    return fpb.WatchEventsResponse(sequence=sequence, resync=fpb.Resync(sequence=sequence))


class EventBus:
    def __init__(self, last_sequence: int = 0) -> None:
        self.last_sequence = last_sequence
        self._ring: deque[fpb.WatchEventsResponse] = deque(maxlen=RING_SIZE)
        self._subscribers: set[_Subscriber] = set()
        self.resyncs = 0
        """Resync markers handed to watchers (too slow, or resuming from too old a cursor)."""

    def reserve(self, count: int) -> int:
        """Take ``count`` sequence numbers; return the first. The store records the
        last one with the batch, so numbering continues across restarts."""
        first = self.last_sequence + 1
        self.last_sequence += count
        return first

    def lags(self) -> list[int]:
        """Events waiting in each subscriber's queue (the metrics endpoint reads them)."""
        return [sub.queue.qsize() for sub in self._subscribers]

    def publish(self, event: fpb.WatchEventsResponse) -> None:
        self._ring.append(event)
        for sub in self._subscribers:
            sub.offer(event)

    async def subscribe(
        self, after_sequence: int, job_id: int = 0, jobs_only: bool = False
    ) -> AsyncGenerator[fpb.WatchEventsResponse]:
        """Events after ``after_sequence`` (0: from now on), for ``job_id`` (0: all); with
        ``jobs_only`` only the jobs' own (a resync still comes: it concerns everything)."""
        async for batch in self.subscribe_batches(after_sequence, job_id, jobs_only):
            for event in batch:
                yield event

    async def subscribe_batches(
        self, after_sequence: int, job_id: int = 0, jobs_only: bool = False
    ) -> AsyncGenerator[list[fpb.WatchEventsResponse]]:
        """As ``subscribe``, each time with every event ready (up to BATCH_BYTES): a busy
        farm publishes a commit's events at once, and one message per commit costs a
        client far less than one per event. A resync comes alone."""
        sub = _Subscriber(job_id, jobs_only)
        if after_sequence:
            oldest = self._ring[0].sequence if self._ring else self.last_sequence + 1
            if after_sequence < oldest - 1 or after_sequence > self.last_sequence:
                sub.queue.put_nowait(resync(self.last_sequence))
            else:
                for event in self._ring:
                    if event.sequence > after_sequence:
                        sub.offer(event)
        self._subscribers.add(sub)
        try:
            while True:
                batch = [await sub.queue.get()]
                if batch[0].WhichOneof("resource") == "resync":
                    # An overflow left it alone in the queue (later events were dropped).
                    sub.overflowed = False
                    self.resyncs += 1
                else:
                    size = batch[0].ByteSize()
                    while size < BATCH_BYTES and not sub.queue.empty():
                        batch.append(sub.queue.get_nowait())
                        size += batch[-1].ByteSize()
                yield batch
        finally:
            self._subscribers.discard(sub)
