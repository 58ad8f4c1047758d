"""Turning a submitted Job into a checked one, or a sentence that says what is wrong.

Everything a person can get wrong in a submission is caught here, before the farm
touches it, and reported as INVALID_ARGUMENT naming the field.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Container, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import duration_pb2, struct_pb2

from renderq.controller.blob_store import check_ref
from renderq.controller.errors import InvalidField, NotPossibleNow
from renderq.controller.model import (
    DEFAULT_MAX_AGENT_FAILURES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PRIORITY,
)
from renderq.controller.object_storage import KEEP, parse_destination
from renderq.controller.test_frames import resolve_test_frames
from renderq.frame_range import FrameRangeError, parse_frames
from renderq.plugins.base import ParameterError
from renderq.plugins.registry import all_plugins, get_plugin
from renderq.v1 import resources_pb2 as pb

MAX_RETRIES = 100
MAX_JOB_BYTES = 1 << 20
"""Most bytes a submitted job may take. Every answer that carries a job (a listing, an
event) must fit in one 64 MiB message; large data belongs in files, not in the job."""
MAX_NAME = 1000
"""Most characters of a job's name (it is shown in every listing)."""
MAX_DURATION_SECONDS = 315_576_000_000
"""The range of google.protobuf.Duration (10,000 years); beyond it no clock can count."""
MAX_FILES = 100_000
MAX_PATH = 4096
"""Most characters of a project file's path (most file systems stop near here)."""
ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".gz")
"""The names a file marked ``unpack`` may have: the archives the agent unpacks."""

HasBlob = Callable[[pb.BlobRef], bool]


@dataclass(frozen=True)
class CheckedJob:
    name: str
    owner: str
    plugin: str
    parameters: dict[str, Any]
    frames_spec: str
    frames: list[int]
    chunk_size: int
    """The job's frames are cut into tasks as its records are made (``JobControl.submit``), with
    the collector paused: a million lists made here had set off collections that walked them."""
    priority: int
    pool: str
    requirements: pb.Requirements
    environment: dict[str, str]
    depends_on: list[int]
    max_retries: int
    task_timeout: float
    limits: list[str]
    max_agent_failures: int
    min_runtime: float
    reservation: pb.TaskReservation
    frame_by_frame: bool
    files: list[pb.FileEntry]
    output_destination: str
    test_frames: str
    test_frame_numbers: list[int]
    stop_on_test_failure: bool
    hold_after_test: bool
    inputs_from: list[int]

    def job_settings(self) -> dict[str, Any]:
        """The settings a new ``Job`` takes from this check, by the names they share."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _NOT_SETTINGS
        }


_NOT_SETTINGS = frozenset({"frames"})
"""What the check computed for the job's tasks rather than a setting of the job."""


def check_priority(priority: int) -> int:
    if not 0 <= priority <= 100:
        raise InvalidField("priority", f"must be between 0 and 100, not {priority}")
    return priority


def check_max_retries(retries: int) -> int:
    if not 0 <= retries <= MAX_RETRIES:
        raise InvalidField("max_retries", f"must be between 0 and {MAX_RETRIES}, not {retries}")
    return retries


def check_name(name: str) -> str:
    name = name.strip()
    if len(name) > MAX_NAME:
        raise InvalidField("name", f"is {len(name):,} characters long; at most {MAX_NAME:,}")
    return name


def check_frames(spec: str, field: str = "frames") -> list[int]:
    try:
        return parse_frames(spec)
    except FrameRangeError as e:
        raise InvalidField(field, str(e)) from None


def _plain(value: struct_pb2.Value, field: str) -> Any:
    """A Struct value as plain Python; NaN and infinities, which JSON cannot carry, are refused."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        if not math.isfinite(value.number_value):
            raise InvalidField(field, f"must be a finite number, not {value.number_value}")
        return value.number_value
    if kind == "struct_value":
        return {k: _plain(v, f"{field}.{k}") for k, v in value.struct_value.fields.items()}
    if kind == "list_value":
        return [_plain(v, f"{field}[{i}]") for i, v in enumerate(value.list_value.values)]
    if kind in ("string_value", "bool_value"):
        return getattr(value, kind)
    return None


def _seconds(duration: duration_pb2.Duration, field: str) -> float:
    if abs(duration.seconds) > MAX_DURATION_SECONDS or abs(duration.nanos) > 999_999_999:
        raise InvalidField(field, f"{duration.seconds} s {duration.nanos} ns is not a valid duration")
    return duration.seconds + duration.nanos / 1e9


def check_size(job: pb.Job) -> None:
    size = job.ByteSize()
    if size > MAX_JOB_BYTES:
        hint = (
            f"{len(job.files):,} files: pack them in an archive" if job.files else "put large data in files"
        )
        raise InvalidField("job", f"takes {size:,} bytes; at most {MAX_JOB_BYTES:,} ({hint})")


def _stores_no_blobs(ref: pb.BlobRef) -> bool:
    """A farm without a blob store: every project file is missing."""
    return False


def check_job(
    job: pb.Job,
    existing_jobs: Container[int],
    known_limits: Container[str] = (),
    has_blob: HasBlob = _stores_no_blobs,
) -> CheckedJob:
    check_size(job)
    plugin = get_plugin(job.plugin)
    if plugin is None:
        known = ", ".join(p.name for p in all_plugins())
        raise InvalidField("plugin", f"unknown plugin {job.plugin!r}; this farm knows {known}")
    frames = check_frames(job.frames)
    chunk_size = job.chunk_size if job.HasField("chunk_size") else 1
    if chunk_size < 1:
        raise InvalidField("chunk_size", f"frames per task must be 1 or more, not {chunk_size}")
    params = {name: _plain(value, f"parameters.{name}") for name, value in job.parameters.fields.items()}
    try:
        params = plugin.validate(params)
    except ParameterError as e:
        raise InvalidField(f"parameters.{e.field}", e.message) from None
    req = check_requirements(job.requirements)
    for key in job.environment:
        if not key or "=" in key or "\0" in key:
            raise InvalidField("environment", f"{key!r} is not a valid environment variable name")
    for dep in job.depends_on:
        if dep not in existing_jobs:
            raise InvalidField("depends_on", f"job {dep} does not exist")
    timeout = _seconds(job.task_timeout, "task_timeout") if job.HasField("task_timeout") else 0.0
    if timeout < 0:
        raise InvalidField("task_timeout", "must not be negative")
    return CheckedJob(
        name=check_name(job.name) or f"{job.plugin} {job.frames}",
        owner=job.owner.strip() or "anonymous",
        plugin=plugin.name,
        parameters=params,
        frames_spec=job.frames.replace(" ", ""),
        frames=frames,
        chunk_size=chunk_size,
        priority=check_priority(job.priority if job.HasField("priority") else DEFAULT_PRIORITY),
        pool=job.pool.strip(),
        requirements=req,
        environment=dict(job.environment),
        depends_on=list(dict.fromkeys(job.depends_on)),
        limits=check_limits(job.limits, known_limits),
        max_agent_failures=check_max_agent_failures(job),
        min_runtime=check_min_runtime(job),
        max_retries=check_max_retries(
            job.max_retries if job.HasField("max_retries") else DEFAULT_MAX_RETRIES
        ),
        task_timeout=timeout,
        reservation=check_reservation(job.reservation),
        frame_by_frame=check_frame_by_frame(job),
        files=check_files(job.files, has_blob),
        output_destination=check_output_destination(job.output_destination),
        test_frames=job.test_frames.strip(),
        test_frame_numbers=resolve_test_frames(job.test_frames, frames),
        stop_on_test_failure=job.stop_on_test_failure,
        hold_after_test=job.hold_after_test,
        inputs_from=check_inputs_from(job),
    )


def check_output_destination(text: str) -> str:
    """Where the frames' outputs go, in one spelling: "" (the controller's store), "keep"
    (where the renderer wrote them), or "s3://bucket/prefix" (the store, then pushed)."""
    text = text.strip()
    if text == KEEP:
        return KEEP
    parsed = parse_destination(text)
    return "" if parsed is None else f"s3://{parsed[0]}/{parsed[1]}".rstrip("/")


def check_max_agent_failures(job: pb.Job) -> int:
    if not job.HasField("max_agent_failures"):
        return DEFAULT_MAX_AGENT_FAILURES
    if not 0 <= job.max_agent_failures <= MAX_RETRIES:
        raise InvalidField(
            "max_agent_failures",
            f"must be from 0 (never block) to {MAX_RETRIES}, not {job.max_agent_failures}",
        )
    return job.max_agent_failures


def check_min_runtime(job: pb.Job) -> float:
    seconds = _seconds(job.min_runtime, "min_runtime") if job.HasField("min_runtime") else 0.0
    if seconds < 0:
        raise InvalidField("min_runtime", "must not be negative")
    return seconds


def check_requirements(req: pb.Requirements) -> pb.Requirements:
    for name in ("min_cpu_cores", "min_ram_bytes", "min_gpu_count", "min_gpu_memory_bytes"):
        if getattr(req, name) < 0:
            raise InvalidField(f"requirements.{name}", f"must not be negative, not {getattr(req, name)}")
    return req


MOST_CORES = 4096
MOST_GPUS = 64


def check_reservation(res: pb.TaskReservation) -> pb.TaskReservation:
    """What each task reserves: none negative, none beyond any machine."""
    if not 0 <= res.cores <= MOST_CORES:
        raise InvalidField("reservation.cores", f"must be from 0 to {MOST_CORES}, not {res.cores}")
    if res.memory_bytes < 0:
        raise InvalidField("reservation.memory_bytes", f"must not be negative, not {res.memory_bytes}")
    if not 0 <= res.gpus <= MOST_GPUS:
        raise InvalidField("reservation.gpus", f"must be from 0 to {MOST_GPUS} whole GPUs, not {res.gpus}")
    return res


def check_inputs_from(job: pb.Job) -> list[int]:
    """Jobs whose outputs this one takes: each must be one it depends on (it waits for them)."""
    for source in job.inputs_from:
        if source not in job.depends_on:
            raise InvalidField(
                "inputs_from",
                f"job {source} is not among depends_on: a job takes the outputs of jobs it waits for",
            )
    return list(dict.fromkeys(job.inputs_from))


def check_frame_by_frame(job: pb.Job) -> bool:
    if job.frame_by_frame and not job.depends_on:
        raise InvalidField("frame_by_frame", "needs depends_on: the job whose frames each frame waits for")
    return job.frame_by_frame


def check_limits(names: Iterable[str], known_limits: Container[str]) -> list[str]:
    """The limits named, each once; each must exist."""
    for name in names:
        if name not in known_limits:
            raise InvalidField(
                "limits", f"there is no limit {name!r}; `renderq limit set {name} N` makes one"
            )
    return list(dict.fromkeys(names))


def check_files(files: Sequence[pb.FileEntry], has_blob: HasBlob) -> list[pb.FileEntry]:
    """The project's files: each path safe to write below the job's project folder on an
    agent of any OS (Windows and macOS ones ignore case), each blob already uploaded."""
    if len(files) > MAX_FILES:
        raise InvalidField("files", f"{len(files):,} files; at most {MAX_FILES:,} (pack them in an archive)")
    files_at: dict[str, int] = {}
    """Each path as a case-insensitive agent sees it -> the index of its file."""
    folders_at: dict[str, int] = {}
    """Each folder the paths name, the same way -> the index of a file inside it."""
    for i, entry in enumerate(files):
        path = check_project_path(entry.path, f"files[{i}].path")
        _check_no_clash(path, i, files_at, folders_at)
        check_ref(entry.blob, f"files[{i}].blob")
        if entry.mode > 0o777:
            raise InvalidField(f"files[{i}].mode", f"{entry.mode:#o} has bits beyond 0o777 (rwx for all)")
        if entry.unpack and not path.lower().endswith(ARCHIVES):
            raise InvalidField(
                f"files[{i}].unpack", f"{path!r} is not an archive the agent unpacks ({', '.join(ARCHIVES)})"
            )
    for entry in files:
        if not has_blob(entry.blob):
            raise NotPossibleNow(
                f"upload blob {entry.blob.xxh3_128} ({entry.path}) first: FindMissingBlobs/UploadBlob"
            )
    return list(files)


def check_project_path(path: str, field: str) -> str:
    """A relative, '/'-separated path that stays inside the folder it is joined to on
    Linux, macOS and Windows alike, or InvalidField naming it and what is wrong."""
    if not path:
        raise InvalidField(field, "is empty")
    if len(path) > MAX_PATH:
        raise InvalidField(field, f"{path[:80]!r}… is {len(path):,} characters; at most {MAX_PATH:,}")
    parts = path.split("/")
    for why, wrong in (
        ("contains a NUL or another control character", any(c < " " for c in path)),
        ("contains a backslash: separate folders with '/'", "\\" in path),
        ("is absolute: give it relative to the project folder", path.startswith("/")),
        ("starts with a drive letter: give it relative to the project folder", path[1:2] == ":"),
        ("contains ':', which Windows agents read as a drive or a stream", ":" in path),
        ("climbs out of the project folder ('..')", ".." in parts),
        ("has an empty or '.' folder ('//', './' or a '/' at an end)", bool({"", "."} & set(parts))),
        (
            "has a name ending in '.' or ' ', which Windows agents drop",
            any(p.endswith((".", " ")) for p in parts),
        ),
    ):
        if wrong:
            raise InvalidField(field, f"{path!r} {why}")
    return path


def _check_no_clash(path: str, index: int, files_at: dict[str, int], folders_at: dict[str, int]) -> None:
    """``path`` is not a file already named (ignoring case), nor a folder of one, nor inside
    a folder that is a file already named: on the agent one would overwrite the other."""
    folded = path.casefold()
    parts = folded.split("/")
    folders = ["/".join(parts[:n]) for n in range(1, len(parts))]
    field = f"files[{index}].path"
    if folded in files_at:
        why = "is the same file on agents that ignore case (Windows, macOS) as"
        raise InvalidField(field, f"{path!r} {why} files[{files_at[folded]}]")
    if folded in folders_at:
        raise InvalidField(field, f"{path!r} is a folder of files[{folders_at[folded]}], not a file")
    for folder in folders:
        if folder in files_at:
            raise InvalidField(
                field, f"{path!r} needs {folder!r} as a folder: files[{files_at[folder]}] is a file"
            )
        folders_at.setdefault(folder, index)
    files_at[folded] = index
