"""The requests the controller sends on an agent's link, each built in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from renderq.controller.model import Attempt, Job, duration
from renderq.plugins.base import CommandSpec
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb


def ack_request(sequence: int) -> apb.LinkRequest:
    """Every agent event up to ``sequence`` is stored: the agent may forget it."""
    return apb.LinkRequest(ack=apb.Ack(sequence=sequence))


def cancel_request(attempt_id: int, reason: str) -> apb.LinkRequest:
    return apb.LinkRequest(cancel=apb.CancelTask(attempt_id=attempt_id, reason=reason))


def drain_request() -> apb.LinkRequest:
    return apb.LinkRequest(drain=apb.Drain())


def cleanup_request(request_id: int, job_ids: Sequence[int]) -> apb.LinkRequest:
    """Remove the workspaces of ``job_ids``; the agent answers ``cleaned`` with ``request_id``."""
    return apb.LinkRequest(cleanup=apb.CleanupWorkspaces(request_id=request_id, job_ids=job_ids))


def assign_request(
    job: Job,
    attempt: Attempt,
    commands: list[CommandSpec],
    gpus: Sequence[int] = (),
    environment: Mapping[str, str] | None = None,
    shares: Sequence[str] = (),
    inputs: Sequence[pb.FileEntry] = (),
    *,
    queued: bool = False,
) -> apb.LinkRequest:
    """Run ``commands`` (the plugin built them for the attempt's frames) as ``attempt``,
    on the GPUs ``gpus``, with ``environment`` (the job's, its paths as the agent mounts them);
    outputs are read only in the job's workspace or below ``shares`` (the mapped shares).
    ``inputs`` (other jobs' outputs, ``job_inputs.input_files``) are placed with its files.
    ``queued``: it waits on the agent for a slot (``queue_ahead``)."""
    assign = apb.AssignTask(
        attempt_id=attempt.id,
        task_id=attempt.task_id,
        job_id=job.id,
        plugin=job.plugin,
        commands=[
            apb.Command(
                argv=c.argv,
                frames=c.frames,
                expected_outputs=[apb.ExpectedOutput(frame=o.frame, path=o.path) for o in c.expected_outputs],
                environment=c.environment,
            )
            for c in commands
        ],
        environment=job.environment if environment is None else environment,
        gpu_indices=gpus,
        owner=job.owner,
        files=[*job.files, *inputs],
        shares=shares,
        queued=queued,
    )
    if job.task_timeout:
        assign.timeout.CopyFrom(duration(job.task_timeout))
    return apb.LinkRequest(assign=assign)


def blob_chunk_request(wanted: apb.BlobWanted, data: bytes = b"", error: str = "") -> apb.LinkRequest:
    """The chunk of a blob an agent asked for (``BlobWanted``), or why it gets none."""
    chunk = apb.BlobChunk(blob=wanted.blob, offset=wanted.offset, data=data, error=error)
    return apb.LinkRequest(blob=chunk)
