"""Group commit: changed records go to DuckDB in batches, then out on the event bus.

The farm changes records in memory and calls ``changed()``; the recorder's one writer
task takes everything changed so far, stores it in one transaction in a worker thread
(a busy farm's as one row of the store's journal: store_journal.py; while the farm keeps
going and the next batch accumulates), then publishes the events
and runs the after-commit callbacks (the acks to agents: "stored, you may forget").
A record changed ten times between two commits is written and published once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from renderq.controller.access_records import ApiToken, AuditRecord
from renderq.controller.bus import EventBus
from renderq.controller.model import (
    Agent,
    Attempt,
    Frame,
    Job,
    Limit,
    PathMapping,
    Task,
    timestamp,
)
from renderq.controller.new_job_rows import NewJob
from renderq.controller.schema import Row, rows_of
from renderq.controller.store import Batch, Store
from renderq.controller.time_slices import TimeSlices
from renderq.durations import QUICK_BUCKETS, Durations
from renderq.states import JOB_FINAL
from renderq.v1 import farm_service_pb2 as fpb

log = logging.getLogger(__name__)

COMMIT_INTERVAL = 0.1
"""Least seconds from one commit's start to the next, unless a caller waits in ``flush``.

Each commit has costs of its own whatever its size: a row of the store's journal (and, at
each fold, one DuckDB upsert per table, 10-15 ms however few its rows: store_journal.py),
an ack to every agent that reported, a job's progress published again. Back-to-back
commits under load once took a third of a core for the store alone (bench/README.md).
Pacing them lets a batch gather many frames, and a record changed again meanwhile is
written and published once. The price is the delay of acks and WatchEvents, at most this
long; API calls that wait for their change to be stored (``flush``) are not held back.
"""
STORE_SHARE = 0.5
"""Most of the time the store may spend committing: under heavy load a commit takes
50-150 ms (each upsert statement 5-15 ms of CPU, whatever its rows), and back to back
they took the CPU the event loop needed; the next then waits as long as the last took.
A quiet farm's commits take a few milliseconds and keep ``COMMIT_INTERVAL``."""
LONGEST_PAUSE = 0.5
"""Seconds events and acks may wait for a commit at most, however long the last one took."""
BUSY_INTERVAL = 0.25
"""Least seconds between commits while the farm is busy (``BUSY_RECORDS``): when every
commit upserted each table (3-5 ms for one row as for hundreds), commits 4 times a second
instead of 10 took the controller 1.24 -> 0.82 ms of CPU per frame on a farm finishing
hundreds of frames a second, and the agents fewer acks (bench/README.md); the journal has
since made a commit cheaper, the acks and events per commit remain. What people wait for
waits less: a job that ends is committed within ``COMMIT_INTERVAL`` of the last commit, as
on a quiet farm, and what a ``flush`` waits for at once."""
BUSY_RECORDS = 100
"""Records stored by one commit from which the farm counts as busy."""
ROWS_AT_ONCE = 1000
"""Records of one kind made into rows between two looks at the time slice."""

Record = Job | Task | Frame | Attempt | Agent | ApiToken | AuditRecord | Limit | PathMapping
Gone = Job | Agent | Limit | PathMapping
"""What may be deleted for good (with a job, its tasks, frames and attempts)."""
Dirty = tuple[Record, bool, bool]
"""A changed record, whether to store it, whether to publish it."""

_KIND: dict[type, str] = {
    Job: "jobs",
    Task: "tasks",
    Frame: "frames",
    Attempt: "attempts",
    Agent: "agents",
    ApiToken: "tokens",
    AuditRecord: "audit",
    Limit: "limits",
    PathMapping: "path_mappings",
}
_FIELD = {"jobs": "job", "tasks": "task", "frames": "frame", "agents": "agent"}


def pause_after(took: float, interval: float = COMMIT_INTERVAL) -> float:
    """Seconds the next commit waits after one that took ``took``: the rest of ``interval``,
    or long enough to keep the store's share of the time at ``STORE_SHARE``, but never more
    than ``LONGEST_PAUSE`` (a million-frame submit's commit takes seconds, once)."""
    return min(max(interval - took, took * (1 - STORE_SHARE) / STORE_SHARE), LONGEST_PAUSE)


def commit_interval(stored: int, quiet: float = COMMIT_INTERVAL) -> float:
    """Least seconds from a commit that stored ``stored`` records to the next: ``quiet``,
    or ``BUSY_INTERVAL`` once the farm is busy enough that commits cost more than the
    latency they save."""
    return quiet if stored < BUSY_RECORDS else max(quiet, BUSY_INTERVAL)


def _keys_by_table(keys: set[tuple[str, Any]]) -> dict[str, list[Any]]:
    by_table: dict[str, list[Any]] = defaultdict(list)
    for table, key in sorted(keys):
        by_table[table].append(key)
    return dict(by_table)


def _new_jobs(created: dict[int, Job], dirty: dict[tuple[str, Any], Dirty], gone: set[int]) -> list[NewJob]:
    """The jobs submitted since the last commit and not deleted since, each with its tasks
    and frames that changed meanwhile (stored as rows of their own)."""
    tasks: dict[int, set[int]] = defaultdict(set)
    frames: dict[int, set[int]] = defaultdict(set)
    for record, persist, _ in dirty.values():
        if persist and isinstance(record, Task) and record.job_id in created:
            tasks[record.job_id].add(record.id)
        elif persist and isinstance(record, Frame) and record.job_id in created:
            frames[record.job_id].add(record.number)
    return [
        NewJob(job, tasks.get(job_id, ()), frames.get(job_id, ()))
        for job_id, job in created.items()
        if job_id not in gone
    ]


def _key(record: Record) -> tuple[str, Any]:
    kind = _KIND[type(record)]
    if isinstance(record, Frame):
        return (kind, record.key)
    return (kind, record.id)


class Recorder:
    def __init__(self, store: Store, bus: EventBus, interval: float = COMMIT_INTERVAL) -> None:
        self.store = store
        self.bus = bus
        self.interval = interval
        self._dirty: dict[tuple[str, Any], Dirty] = {}
        self._created: dict[int, Job] = {}
        """Jobs submitted since the last commit, whose tasks and frames it stores in bulk."""
        self._deleted: list[Gone] = []
        self._meta: dict[str, str] = {}
        self._after_commit: dict[Any, Callable[[], None]] = {}
        self._wake = asyncio.Event()
        self._urgent = False
        """Set by ``flush``: someone waits for the next commit, so it does not wait for the interval."""
        self._job_ended = False
        """A job ended since the last commit began: the next waits no longer than a quiet farm's."""
        self._nudge = asyncio.Event()
        """Set with either of the two above, to cut the rest between commits short."""
        self._committed = asyncio.Event()
        self._writing: asyncio.Future[None] | None = None
        """The store's write in its thread. Cancelling a commit does not stop the thread,
        which holds the store's connection until it returns: closing the store meanwhile
        fails (DuckDB refuses a connection busy with another call)."""
        self._commits_begun = 0
        self._commits_done = 0
        self.batches = 0
        self.commit_seconds = Durations(QUICK_BUCKETS)
        """How long each batch took to store (the metrics endpoint reads it)."""

    def changed(self, record: Record, *, persist: bool = True, publish: bool = True) -> None:
        """Note that ``record`` changed. ``persist=False`` for hot state kept in
        memory only (live load); ``publish=False`` for bulk creation that clients
        list rather than watch (the frames of a new job)."""
        key = _key(record)
        old = self._dirty.get(key)
        if old is not None:
            persist, publish = persist or old[1], publish or old[2]
        self._dirty[key] = (record, persist, publish)
        self._wake.set()
        if isinstance(record, Job) and record.state in JOB_FINAL and not self._job_ended:
            # People and scripts wait for a job's end: it does not wait out a busy farm's pace.
            self._job_ended = True
            self._nudge.set()

    def created(self, job: Job) -> None:
        """A new job's tasks and frames, stored with the next batch from columns made from its
        range (controller/new_job_rows.py), not published (clients list a new job's frames
        rather than watch them). Not ``changed`` for each: a million dictionary entries, then
        a million rows, had cost seconds of the event loop. The job itself goes by ``changed``."""
        self._created[job.id] = job
        self._wake.set()

    def deleted(self, record: Gone) -> None:
        """A job (with its tasks, frames and attempts), an agent, a limit or a path mapping rule
        is gone for good."""
        self._deleted.append(record)
        self._wake.set()

    def set_meta(self, key: str, value: str) -> None:
        """Store ``key = value`` in the farm's meta table with the next batch, in the same
        transaction as the records changed with it (id counters with the rows they number)."""
        self._meta[key] = value
        self._wake.set()

    def after_commit(self, key: Any, callback: Callable[[], None]) -> None:
        """Run ``callback`` once everything changed so far is stored; a later
        callback with the same key replaces an earlier one not yet run."""
        self._after_commit[key] = callback
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            began = loop.time()
            self._wake.clear()
            stored = await self._commit_once()
            now = loop.time()
            quiet = now + pause_after(now - began, self.interval)
            await self._rest(quiet, now + pause_after(now - began, commit_interval(stored, self.interval)))

    async def _rest(self, quiet: float, busy: float) -> None:
        """Wait until ``busy`` (loop time) before the next commit; only until ``quiet`` once a
        job has ended, so a stream of tiny jobs commits as often as a quiet farm, no more; not
        at all once someone waits in ``flush``."""
        loop = asyncio.get_running_loop()
        while not self._urgent:
            until = quiet if self._job_ended else busy
            if loop.time() >= until:
                break
            self._nudge.clear()
            try:
                async with asyncio.timeout_at(until):
                    await self._nudge.wait()
            except TimeoutError:
                break
        self._urgent = self._job_ended = False

    async def writes_ended(self) -> None:
        """Wait until no write of a commit runs in its thread (one cancelled included), so
        the store may be closed; its error, if any, was the commit's to tell."""
        if self._writing is not None:
            await asyncio.gather(self._writing, return_exceptions=True)

    async def flush(self) -> None:
        """Wait until everything changed before this call is stored and published.

        Only for those changes: with agents reporting, more keep coming and the recorder
        is never idle, so waiting for idle could wait forever. A commit takes every
        change made before it begins."""
        pending = bool(self._dirty or self._created or self._deleted or self._meta or self._after_commit)
        stored_by = self._commits_begun + pending
        if self._commits_done < stored_by:
            self._urgent = True
            self._nudge.set()
        while self._commits_done < stored_by:
            self._committed.clear()
            await self._committed.wait()

    async def _commit_once(self) -> int:
        """Store and publish everything changed so far; returns how many records it stored.

        Its records are made into rows and events in time slices (time_slices.py): on a
        busy farm a commit takes thousands of them, which held the loop half a second. A
        record changed during a pause is also in the next commit, which stores and
        publishes it again as it is then."""
        self._commits_begun += 1
        dirty, self._dirty = self._dirty, {}
        created, self._created = self._created, {}
        deleted, self._deleted = self._deleted, []
        meta, self._meta = self._meta, {}
        callbacks, self._after_commit = self._after_commit, {}
        gone = {job.id for job in deleted if isinstance(job, Job)}
        gone_keys = {_key(record) for record in deleted if not isinstance(record, Job)}
        rows, events = await _rows_and_events(dirty, deleted, gone, gone_keys)
        first = self.bus.reserve(len(events))
        for i, event in enumerate(events):
            event.sequence = first + i
        batch = Batch(
            rows=rows,
            deleted_jobs=sorted(gone),
            deleted_keys=_keys_by_table(gone_keys),
            meta=meta | ({"event_sequence": str(self.bus.last_sequence)} if events else {}),
            new_jobs=_new_jobs(created, dirty, gone) if created else [],
        )
        if batch:
            began = time.perf_counter()
            self._writing = asyncio.ensure_future(asyncio.to_thread(self.store.write, batch))
            await asyncio.shield(self._writing)
            self.commit_seconds.observe(time.perf_counter() - began)
            self.batches += 1
        for event in events:
            self.bus.publish(event)
        for callback in callbacks.values():
            callback()
        self._commits_done += 1
        self._committed.set()
        return sum(len(kind_rows) for kind_rows in rows.values())


async def _rows_and_events(
    dirty: dict[tuple[str, Any], Dirty], deleted: list[Gone], gone: set[int], gone_keys: set[tuple[str, Any]]
) -> tuple[dict[str, list[Row]], list[fpb.WatchEventsResponse]]:
    """The rows to store by table and the events to publish for a commit's records (those
    of a job, agent, limit or rule deleted meanwhile left out: ``gone`` jobs, ``gone_keys``
    the others), pausing for the loop as each slice is spent."""
    slices = TimeSlices()
    now = timestamp(time.time())
    records: dict[str, list[Record]] = defaultdict(list)
    events: list[fpb.WatchEventsResponse] = []
    for key, (record, persist, publish) in dirty.items():
        kind = key[0]
        if gone and (record.id if isinstance(record, Job) else getattr(record, "job_id", None)) in gone:
            continue
        if key in gone_keys:
            continue
        if persist:
            records[kind].append(record)
        if publish and kind in _FIELD:
            event = fpb.WatchEventsResponse(time=now, change=fpb.CHANGE_TYPE_UPSERTED)
            # Only the watched kinds (jobs, tasks, frames, agents) reach here; mypy cannot tell.
            getattr(event, _FIELD[kind]).CopyFrom(record.to_proto())  # type: ignore[union-attr]
            events.append(event)
        if slices.spent():
            await asyncio.sleep(0)
    for record in deleted:
        if _KIND[type(record)] in _FIELD:
            event = fpb.WatchEventsResponse(time=now, change=fpb.CHANGE_TYPE_DELETED)
            getattr(event, _FIELD[_KIND[type(record)]]).CopyFrom(record.to_proto())
            events.append(event)
    rows: dict[str, list[Row]] = {}
    for kind, of_kind in records.items():
        rows[kind] = []
        for start in range(0, len(of_kind), ROWS_AT_ONCE):
            rows[kind] += rows_of(kind, of_kind[start : start + ROWS_AT_ONCE])
            if slices.spent():
                await asyncio.sleep(0)
    return rows, events
