"""A job's inputs from other jobs (``Job.inputs_from``): their stored outputs, as files of
this job's workspace.

Each stored output of source job N becomes a ``FileEntry`` at ``job-N/<base name>``, so
the agent places it at ``{project}/job-N/<base name>`` like any project file. The entries
are computed at each dispatch, never cached on the job: a source's outputs arrive (and
may be retried) after this job was submitted.

Names come from the paths agents reported, so they are judged here before any agent
writes them. Two outputs of one source with one base name (compared without case, as
Windows and macOS do) but different content take their path below the source's
``renders`` folder instead (``job-N/left/frame_0001.png``); where that does not tell them
apart either, neither is sent and the controller's log says so: no input silently
replaces another. Outputs kept on their nodes, failed or not yet arrived are left out,
with a warning.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator

from renderq.controller.blob_store import Key
from renderq.controller.farm_state import FarmState
from renderq.controller.model import Job, Output
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

INPUT_MODE = 0o644
"""Inputs are data, never programs: readable by all, executable by none."""
RENDERS = "renders"
"""The folder of a job's workspace its renders go to (``{renders}``)."""
_SEPARATORS = re.compile(r"[/\\]")
_UNSAFE = re.compile(r"^[A-Za-z]:|[\x00-\x1f]")
"""A drive letter or a control character: no part of a name an input may take."""


def input_files(state: FarmState, job: Job) -> list[pb.FileEntry]:
    """One entry per stored output of each job in ``job.inputs_from``, named below
    ``job-<id>/``; an entry whose path one of the job's own files takes is left out."""
    own = {f.path.casefold() for f in job.files}
    entries: list[pb.FileEntry] = []
    for source_id in job.inputs_from:
        source = state.jobs.get(source_id)
        if source is None:
            log.warning("inputs of job=%d: job %d no longer exists", job.id, source_id)
            continue
        for name, output in _named(job, source):
            path = f"job-{source.id}/{name}"
            if path.casefold() in own:
                log.warning("input of job=%d left out: its own file %s has the name", job.id, path)
                continue
            entries.append(pb.FileEntry(path=path, blob=output.blob, mode=INPUT_MODE))
    return entries


def input_blobs(state: FarmState, job: Job) -> frozenset[Key]:
    """The blobs of the stored outputs of ``job``'s sources: what the agents running it
    may fetch besides its own files."""
    return frozenset((o.xxh3_128, o.size_bytes) for _, o in _stored(state, job))


def inputs_on_their_way(state: FarmState, job: Job) -> bool:
    """Some output of a source is still travelling to the controller: dispatching now
    would leave it out."""
    return any(o.storage == pb.OUTPUT_STORAGE_PENDING for _, o in _outputs(state, job))


def _outputs(state: FarmState, job: Job) -> Iterator[tuple[Job, Output]]:
    for source_id in job.inputs_from:
        source = state.jobs.get(source_id)
        if source is not None:
            for frame in source.frames.values():
                yield from ((source, o) for o in frame.outputs)


def _stored(state: FarmState, job: Job) -> Iterator[tuple[Job, Output]]:
    return ((s, o) for s, o in _outputs(state, job) if o.storage == pb.OUTPUT_STORAGE_CONTROLLER)


def _named(job: Job, source: Job) -> list[tuple[str, Output]]:
    """The stored outputs of ``source`` (one per content) with the names they take, by
    the module's rules; the others are logged."""
    stored: dict[Key, Output] = {}
    for frame in source.frames.values():
        for output in frame.outputs:
            if output.storage == pb.OUTPUT_STORAGE_CONTROLLER:
                stored.setdefault((output.xxh3_128, output.size_bytes), output)
            else:
                log.warning(
                    "input of job=%d left out: job %d frame %d output %s is not on the controller (%s)",
                    job.id, source.id, frame.number, output.path, pb.OutputStorage.Name(output.storage),
                )  # fmt: skip
    bases = Counter(_fold(_base_name(o.path)) for o in stored.values())
    named = [
        (name if bases[_fold(name)] == 1 else _below_renders(o.path), o)
        for o, name in ((o, _base_name(o.path)) for o in stored.values())
    ]
    counts = Counter(_fold(name) for name, _ in named)
    kept: list[tuple[str, Output]] = []
    for name, output in named:
        if name is not None and counts[_fold(name)] == 1:
            kept.append((name, output))
        else:
            log.warning(
                "input of job=%d left out: job %d output %s has no name of its own to take",
                job.id, source.id, output.path,
            )  # fmt: skip
    return kept


def _fold(name: str | None) -> str | None:
    return None if name is None else name.casefold()


def _base_name(path: str) -> str | None:
    """The last component of a path an agent reported (either slash), None if unsafe."""
    name = _SEPARATORS.split(path)[-1]
    return name if _safe(name) else None


def _below_renders(path: str) -> str | None:
    """The path below the last ``renders`` folder on it (``left/frame_0001.png``), None
    when there is none or a part of it is unsafe."""
    parts = _SEPARATORS.split(path)
    if RENDERS not in parts[:-1]:
        return None
    below = parts[len(parts) - parts[::-1].index(RENDERS) :]
    return "/".join(below) if below and all(_safe(p) for p in below) else None


def _safe(part: str) -> bool:
    """One plain component: not empty, ``.`` or ``..``, no drive, no control character."""
    return part not in ("", ".", "..") and not _UNSAFE.search(part)
