"""Turning a submitted Job into a checked one, or a sentence that says what is wrong.

Everything a person can get wrong in a submission is caught here, before the farm
touches it, and reported as INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from renderq.controller.errors import InvalidArgument
from renderq.controller.model import DEFAULT_MAX_RETRIES, DEFAULT_PRIORITY
from renderq.plugins.base import ParameterError
from renderq.plugins.frame_range import FrameRangeError, chunk, parse_frames
from renderq.plugins.registry import all_plugins, get_plugin
from renderq.v1 import resources_pb2 as pb

MAX_RETRIES = 100


@dataclass(frozen=True)
class CheckedJob:
    name: str
    owner: str
    plugin: str
    parameters: dict[str, Any]
    frames_spec: str
    frames: list[int]
    tasks: list[list[int]]
    chunk_size: int
    priority: int
    pool: str
    requirements: pb.Requirements
    environment: dict[str, str]
    depends_on: list[int]
    max_retries: int
    task_timeout: float


def check_priority(priority: int) -> int:
    if not 0 <= priority <= 100:
        raise InvalidArgument("priority", f"must be between 0 and 100, not {priority}")
    return priority


def check_max_retries(retries: int) -> int:
    if not 0 <= retries <= MAX_RETRIES:
        raise InvalidArgument("max_retries", f"must be between 0 and {MAX_RETRIES}, not {retries}")
    return retries


def check_frames(spec: str, field: str = "frames") -> list[int]:
    try:
        return parse_frames(spec)
    except FrameRangeError as e:
        raise InvalidArgument(field, str(e)) from None


def check_job(job: pb.Job, existing_jobs: Container[int]) -> CheckedJob:
    plugin = get_plugin(job.plugin)
    if plugin is None:
        known = ", ".join(p.name for p in all_plugins())
        raise InvalidArgument("plugin", f"unknown plugin {job.plugin!r}; this farm knows {known}")
    frames = check_frames(job.frames)
    chunk_size = job.chunk_size if job.HasField("chunk_size") else 1
    if chunk_size < 1:
        raise InvalidArgument("chunk_size", f"frames per task must be 1 or more, not {chunk_size}")
    params = json_format.MessageToDict(job.parameters) if job.HasField("parameters") else {}
    try:
        params = plugin.validate(params)
    except ParameterError as e:
        raise InvalidArgument(f"parameters.{e.field}", e.message) from None
    req = job.requirements
    for name in ("min_cpu_cores", "min_ram_bytes", "min_gpu_count", "min_gpu_memory_bytes"):
        if getattr(req, name) < 0:
            raise InvalidArgument(f"requirements.{name}", f"must not be negative, not {getattr(req, name)}")
    for key in job.environment:
        if not key or "=" in key or "\0" in key:
            raise InvalidArgument("environment", f"{key!r} is not a valid environment variable name")
    for dep in job.depends_on:
        if dep not in existing_jobs:
            raise InvalidArgument("depends_on", f"job {dep} does not exist")
    timeout = job.task_timeout.ToTimedelta().total_seconds() if job.HasField("task_timeout") else 0.0
    if timeout < 0:
        raise InvalidArgument("task_timeout", "must not be negative")
    return CheckedJob(
        name=job.name.strip() or f"{job.plugin} {job.frames}",
        owner=job.owner.strip() or "anonymous",
        plugin=plugin.name,
        parameters=params,
        frames_spec=job.frames.replace(" ", ""),
        frames=frames,
        tasks=chunk(frames, chunk_size),
        chunk_size=chunk_size,
        priority=check_priority(job.priority if job.HasField("priority") else DEFAULT_PRIORITY),
        pool=job.pool.strip(),
        requirements=req,
        environment=dict(job.environment),
        depends_on=list(dict.fromkeys(job.depends_on)),
        max_retries=check_max_retries(
            job.max_retries if job.HasField("max_retries") else DEFAULT_MAX_RETRIES
        ),
        task_timeout=timeout,
    )
