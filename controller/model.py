"""The farm's records in memory: jobs, tasks, frames, attempts and agents.

The controller's memory is the authority while it runs (DuckDB is the durable copy,
rebuilt into these records at start). Each record knows how to become its public
proto; the farm owns every state change.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from google.protobuf import duration_pb2, json_format, struct_pb2, timestamp_pb2

from renderq.v1 import resources_pb2 as pb

DEFAULT_PRIORITY = 50
DEFAULT_MAX_RETRIES = 3
DEFAULT_MAX_AGENT_FAILURES = 3


def timestamp(t: float | None) -> timestamp_pb2.Timestamp | None:
    if t is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(t * 1e9))
    return ts


def duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


@dataclass(eq=False)
class Output:
    path: str
    size_bytes: int
    xxh3_128: str
    storage: pb.OutputStorage = pb.OUTPUT_STORAGE_UNSPECIFIED
    object_url: str = ""
    """s3://bucket/key once pushed to object storage."""
    storage_error: str = ""
    thumbnail: tuple[str, int] | None = None
    """xxh3-128 and size of its small sRGB PNG in the controller's store (controller/thumbnails.py)."""

    @property
    def blob(self) -> pb.BlobRef:
        return pb.BlobRef(xxh3_128=self.xxh3_128, size_bytes=self.size_bytes)

    def to_proto(self) -> pb.OutputFile:
        return pb.OutputFile(
            path=self.path,
            size_bytes=self.size_bytes,
            xxh3_128=self.xxh3_128,
            storage=self.storage,
            object_url=self.object_url,
            storage_error=self.storage_error,
            thumbnail=pb.BlobRef(xxh3_128=self.thumbnail[0], size_bytes=self.thumbnail[1])
            if self.thumbnail
            else None,
        )


@dataclass(eq=False, slots=True)
class Frame:
    job_id: int
    number: int
    task_id: int
    state: pb.FrameState = pb.FRAME_STATE_PENDING
    agent_id: str = ""
    attempt_id: int = 0
    attempt_count: int = 0
    failure_count: int = 0
    progress: float = 0.0
    render_time: float = 0.0
    peak_rss_bytes: int = 0
    exit_code: int = 0
    error_message: str = ""
    outputs: Sequence[Output] = ()
    """Replaced whole, never changed in place: an empty one is the shared ``()`` (an empty list
    per frame, and per list below, cost 7 MB and 100,000 more objects for the collector to walk
    per 100,000 frames)."""
    start_time: float | None = None
    end_time: float | None = None
    warnings: Sequence[str] = ()
    """What the renderer warned about while rendering it (the last attempt that completed it)."""
    test: bool = False
    """One of its job's test frames (not stored: derived from the job). After the stored
    fields: a frame is built from its row by position (controller/schema.py)."""

    @property
    def key(self) -> tuple[int, int]:
        return (self.job_id, self.number)

    def to_proto(self) -> pb.Frame:
        return pb.Frame(
            job_id=self.job_id,
            number=self.number,
            state=self.state,
            task_id=self.task_id,
            agent_id=self.agent_id,
            attempt_id=self.attempt_id,
            attempt_count=self.attempt_count,
            failure_count=self.failure_count,
            progress=self.progress,
            render_time=duration(self.render_time),
            peak_rss_bytes=self.peak_rss_bytes,
            exit_code=self.exit_code,
            error_message=self.error_message,
            outputs=[o.to_proto() for o in self.outputs],
            start_time=timestamp(self.start_time),
            end_time=timestamp(self.end_time),
            test=self.test,
            warnings=self.warnings,
        )


@dataclass(eq=False, slots=True)
class Task:
    id: int
    job_id: int
    index: int
    frames: list[int]
    state: pb.TaskState = pb.TASK_STATE_PENDING
    agent_id: str = ""
    attempt_id: int = 0
    attempt_count: int = 0
    progress: float = 0.0
    exit_code: int = 0
    error_message: str = ""
    peak_rss_bytes: int = 0
    cpu_time: float = 0.0
    start_time: float | None = None
    end_time: float | None = None
    memory_reservation_bytes: int = 0
    """Memory reserved when it next runs: the job's, or 1.5x its peak after an out-of-memory kill."""
    gpu_indices: Sequence[int] = ()
    """GPUs of the current (or last) attempt (replaced whole: an empty one is shared, as a
    frame's outputs)."""
    out_of_memory: bool = False
    """The kernel killed an attempt of it for memory (it gets one raised retry, not counted)."""
    attempt_ids: Sequence[int] = ()
    """Every attempt, oldest first (not persisted: rebuilt from the attempts at restore);
    replaced whole, so a task never attempted shares the empty one (7 MB per 100,000 tasks)."""
    queued: bool = False
    """True while the task id sits in its job's pending queue (not persisted)."""
    pending_since: float = field(default_factory=time.monotonic)
    """When (``time.monotonic``) it last became pending; its wait until assigned is the
    dispatch delay of the metrics (not persisted: a restored task waits from the restart)."""

    def to_proto(self) -> pb.Task:
        return pb.Task(
            id=self.id,
            job_id=self.job_id,
            index=self.index,
            frames=self.frames,
            state=self.state,
            agent_id=self.agent_id,
            attempt_id=self.attempt_id,
            attempt_count=self.attempt_count,
            progress=self.progress,
            exit_code=self.exit_code,
            error_message=self.error_message,
            peak_rss_bytes=self.peak_rss_bytes,
            cpu_time=duration(self.cpu_time),
            start_time=timestamp(self.start_time),
            end_time=timestamp(self.end_time),
            attempt_ids=self.attempt_ids,
            memory_reservation_bytes=self.memory_reservation_bytes,
            gpu_indices=self.gpu_indices,
            out_of_memory=self.out_of_memory,
        )


@dataclass(eq=False)
class Job:
    id: int
    name: str
    owner: str
    plugin: str
    parameters: dict[str, Any]
    frames_spec: str
    chunk_size: int
    priority: int
    pool: str
    requirements: pb.Requirements
    environment: dict[str, str]
    depends_on: list[int]
    max_retries: int
    task_timeout: float
    limits: list[str] = field(default_factory=list)
    """Limits (licences) each task holds while it runs."""
    max_agent_failures: int = DEFAULT_MAX_AGENT_FAILURES
    """Failed tasks on one agent after which it gets no more of this job; 0: never."""
    min_runtime: float = 0.0
    """Seconds under which a successful task counts as a failure; 0: no minimum."""
    agent_failures: dict[str, int] = field(default_factory=dict)
    """Failed tasks of this job per agent."""
    blocked: dict[str, str] = field(default_factory=dict)
    """Agents this job no longer runs on -> the last failure there, in words."""
    reservation: pb.TaskReservation = field(default_factory=pb.TaskReservation)
    """What each task holds on its agent (cores, memory, whole GPUs)."""
    frame_by_frame: bool = False
    """Frame N waits only for frame N of each dependency."""
    files: list[pb.FileEntry] = field(default_factory=list)
    """The project's files, by content: each agent fetches the blobs it lacks before a task."""
    output_destination: str = ""
    """"" (the controller's store), "keep", or "s3://bucket/prefix" (store, then push)."""
    test_frames: str = ""
    """The test frames as submitted ("first,middle,last")."""
    test_frame_numbers: list[int] = field(default_factory=list)
    """The test frames resolved: rendered before any other frame."""
    stop_on_test_failure: bool = False
    hold_after_test: bool = False
    inputs_from: list[int] = field(default_factory=list)
    """Jobs whose outputs are placed in this job's workspace."""
    state: pb.JobState = pb.JOB_STATE_QUEUED
    create_time: float = field(default_factory=time.time)
    start_time: float | None = None
    end_time: float | None = None
    last_error: str = ""
    state_reason: str = ""
    """Why the job waits or is blocked (derived from its dependencies, not stored)."""
    frames: dict[int, Frame] = field(default_factory=dict)
    """Frame number -> frame, in the order the job's range lists them."""
    tasks: list[Task] = field(default_factory=list)
    pending: deque[int] = field(default_factory=deque)
    """Indexes (into ``tasks``) of tasks waiting for an agent, in dispatch order."""
    counts: dict[int, int] = field(default_factory=dict)
    """Frames per frame state, kept in step by Farm._set_frame_state."""
    rendering: set[int] = field(default_factory=set)
    """Numbers of the frames rendering now (for progress without a scan of every frame)."""
    running_tasks: int = 0
    estimate: pb.JobEstimate | None = None
    """From its completed test frames' render times (derived, not stored)."""

    def count(self, state: int) -> int:
        return self.counts.get(state, 0)

    @property
    def progress(self) -> float:
        total = len(self.frames)
        if not total:
            return 0.0
        done = self.count(pb.FRAME_STATE_COMPLETED)
        partial = sum(self.frames[n].progress for n in self.rendering)
        return min(1.0, (done + partial) / total)

    @functools.cached_property
    def blobs(self) -> frozenset[tuple[str, int]]:
        """The (xxh3-128, size) of each project file: what this job keeps from collection and
        lets the agents running it read (a job's files never change after submit)."""
        return frozenset((f.blob.xxh3_128, f.blob.size_bytes) for f in self.files)

    def to_proto(self) -> pb.Job:
        params = struct_pb2.Struct()
        json_format.ParseDict(self.parameters, params)
        job = pb.Job(
            id=self.id,
            name=self.name,
            owner=self.owner,
            plugin=self.plugin,
            parameters=params,
            frames=self.frames_spec,
            chunk_size=self.chunk_size,
            priority=self.priority,
            pool=self.pool,
            requirements=self.requirements,
            environment=self.environment,
            depends_on=self.depends_on,
            max_retries=self.max_retries,
            state=self.state,
            create_time=timestamp(self.create_time),
            start_time=timestamp(self.start_time),
            end_time=timestamp(self.end_time),
            frame_count=len(self.frames),
            frames_completed=self.count(pb.FRAME_STATE_COMPLETED),
            frames_failed=self.count(pb.FRAME_STATE_FAILED),
            frames_running=self.count(pb.FRAME_STATE_RENDERING),
            task_count=len(self.tasks),
            progress=self.progress,
            last_error=self.last_error,
            state_reason=self.state_reason,
            limits=self.limits,
            max_agent_failures=self.max_agent_failures,
            blocked_agents=[
                pb.BlockedAgent(agent_id=a, failures=self.agent_failures.get(a, 0), reason=why)
                for a, why in sorted(self.blocked.items())
            ],
            reservation=self.reservation,
            frame_by_frame=self.frame_by_frame,
            files=self.files,
            output_destination=self.output_destination,
            test_frames=self.test_frames,
            stop_on_test_failure=self.stop_on_test_failure,
            hold_after_test=self.hold_after_test,
            inputs_from=self.inputs_from,
        )
        if self.min_runtime:
            job.min_runtime.CopyFrom(duration(self.min_runtime))
        if self.task_timeout:
            job.task_timeout.CopyFrom(duration(self.task_timeout))
        if self.estimate is not None:
            job.estimate.CopyFrom(self.estimate)
        return job


class AttemptState(StrEnum):
    """Where an attempt is; stored as its word."""

    ASSIGNED = "assigned"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"
    """It will report nothing more (its agent went silent, left, or forgot it)."""


@dataclass(eq=False)
class Attempt:
    """One dispatch of a task to an agent; kept as history after it ends."""

    id: int
    task_id: int
    job_id: int
    agent_id: str
    frames: list[int]
    state: AttemptState = AttemptState.ASSIGNED
    start_time: float = field(default_factory=time.time)
    """When it was assigned, then (from the agent's "started" event) when its process started."""
    end_time: float | None = None
    """The agent's time of its "finished" event (or the controller's, for a lost attempt)."""
    exit_code: int = 0
    error_message: str = ""
    peak_rss_bytes: int = 0
    cpu_time: float = 0.0
    log_size: int = 0
    completed_frames: list[int] = field(default_factory=list)
    workspace: str = ""
    """The job's workspace on the agent, as it reported it at the start (outputs are read only below it)."""
    """Frames this attempt reported done, current or not (history of late results)."""


_PROFILES = itertools.count(1)


@dataclass(frozen=True)
class Hold:
    """What one running attempt holds while its agent keeps a slot for it."""

    task_id: int
    job_id: int
    owner: str
    cores: int = 0
    memory: int = 0
    gpus: tuple[int, ...] = ()
    limits: tuple[str, ...] = ()
    queued: bool = False
    """Sent ahead to wait for a slot (``AssignTask.queued``): it holds nothing yet, and
    takes the slot of the first attempt to end on its agent."""


@dataclass(eq=False)
class Agent:
    id: str
    address: str = ""
    status: pb.AgentStatus = pb.AGENT_STATUS_OFFLINE
    mode: pb.AgentMode = pb.AGENT_MODE_ENABLED
    hardware: pb.Hardware = field(default_factory=pb.Hardware)
    load: pb.Load = field(default_factory=pb.Load)
    slots: int = 1
    pool: str = ""
    tags: list[str] = field(default_factory=list)
    version: str = ""
    last_seen: float = field(default_factory=time.time)
    cost_per_hour: float = 0.0
    session_id: str = ""
    last_sequence: int = 0
    """Highest event sequence applied from this agent's current session."""
    problem: str = ""
    """Why the controller does not use this agent (kept for refused agents only)."""
    allowed_plugins: list[str] = field(default_factory=list)
    """Plugins the agent agrees to run (empty: all); announced at every hello."""
    announced: pb.AgentSettings = field(default_factory=pb.AgentSettings)
    """Slots, tags, pool and cost as the agent announced them at its last hello."""
    overrides: pb.AgentSettings = field(default_factory=pb.AgentSettings)
    """The operator's overrides of ``announced`` (``renderq agent-set``)."""
    profile: int = field(default_factory=lambda: next(_PROFILES))
    """Renewed (farm-unique) whenever what the agent could ever run may have changed (its hello, an
    override): the scheduler's cache of which agents qualify for which needs keys on it."""
    holds: dict[int, Hold] = field(default_factory=dict)
    """Attempt id -> what it holds, for each attempt holding a slot here (not persisted:
    restored from the running tasks; changed only through ``holdings.Holdings``)."""
    cores_reserved: int = 0
    memory_reserved: int = 0
    gpus_in_use: set[int] = field(default_factory=set)
    queued: int = 0
    """How many of ``holds`` wait for a slot (``Hold.queued``)."""

    @property
    def online(self) -> bool:
        return self.status == pb.AGENT_STATUS_ONLINE

    @property
    def free_slots(self) -> int:
        return self.slots - self.slots_used

    @property
    def slots_used(self) -> int:
        return len(self.holds) - self.queued

    def to_proto(self) -> pb.Agent:
        return pb.Agent(
            id=self.id,
            address=self.address,
            status=self.status,
            mode=self.mode,
            hardware=self.hardware,
            load=self.load,
            slots=self.slots,
            slots_used=self.slots_used,
            pool=self.pool,
            tags=self.tags,
            running_task_ids=sorted(h.task_id for h in self.holds.values() if not h.queued),
            version=self.version,
            last_seen_time=timestamp(self.last_seen),
            cost_per_hour=self.cost_per_hour,
            problem=self.problem,
            allowed_plugins=self.allowed_plugins,
            announced=self.announced,
            overrides=self.overrides,
            cores_reserved=self.cores_reserved,
            memory_reserved_bytes=self.memory_reserved,
            gpus_in_use=sorted(self.gpus_in_use),
        )

    def settle_settings(self) -> None:
        """Put in force each setting the operator overrides, else as the agent announced it."""
        self.profile = next(_PROFILES)
        chosen, announced = self.overrides, self.announced
        for name in ("slots", "pool", "cost_per_hour", "tags"):
            source = chosen if chosen.HasField(name) else announced if announced.HasField(name) else None
            if source is not None:
                value = getattr(source, name)
                setattr(self, name, list(value.tags) if name == "tags" else value)


@dataclass(eq=False)
class Limit:
    """A farm-wide counter (licences): at most ``capacity`` tasks naming it run at once.
    Who holds it is not stored: it follows from the attempts the agents run."""

    name: str
    capacity: int

    @property
    def id(self) -> str:
        return self.name

    def to_proto(self, in_use: int = 0, holders: list[int] | None = None) -> pb.Limit:
        return pb.Limit(name=self.name, capacity=self.capacity, in_use=in_use, holder_job_ids=holders or [])


@dataclass(eq=False)
class PathMapping:
    """A path mapping rule: ``from_path`` becomes ``to_path`` on agents of ``os``."""

    id: str
    """The OS and the prefix as it matches (``path_mapping.rule_key``): the key a rule for
    the same place replaces."""
    from_path: str
    to_path: str
    os: str

    def to_proto(self) -> pb.PathMapping:
        return pb.PathMapping(from_path=self.from_path, to_path=self.to_path, os=self.os)
