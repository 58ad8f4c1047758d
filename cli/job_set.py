"""``renderq job-set JOB``: change a job's settings in flight (UpdateJob, by field mask).

The flags are submit's own, spelled and parsed alike; only the settings given are sent.
The controller decides what may change when (controller/job_updates.py): priority, name
and retries at any time, the scheduling settings while the job has not ended, each
checked as at submit.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TYPE_CHECKING

from google.protobuf import field_mask_pb2

from renderq.cli.actions import show_job
from renderq.cli.connection import client_verb
from renderq.cli.failures import UserError
from renderq.cli.submit import (
    add_limit,
    add_max_agent_failures,
    add_max_retries,
    add_min_runtime,
    add_name,
    add_pool,
    add_priority,
    add_requirements,
    add_reservation,
    requirements,
    reservation,
)
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

SETTINGS: dict[str, tuple[str, ...]] = {
    "priority": ("priority",),
    "name": ("name",),
    "max_retries": ("max_retries",),
    "pool": ("pool",),
    "reservation": ("task_cores", "task_memory", "task_gpus"),
    "requirements": (
        "require_cores",
        "require_ram",
        "require_gpus",
        "require_gpu_memory",
        "require_os",
        "require_renderer",
        "require_tag",
    ),
    "limits": ("limit", "no_limits"),
    "max_agent_failures": ("max_agent_failures",),
    "min_runtime": ("min_runtime",),
}
"""Each update_mask path -> the flags (their dests) that change it, in the order notes name them.
A flag's dest is its name without the dashes: ``task_cores`` is ``--task-cores``."""

DESCRIPTION = """\
Change a job in flight and print it. Only the settings given change. Priority, name and
max retries change any job; the others only a job that has not ended, checked as at
submit (refused when no known agent could run the job), from its next dispatch on:
running tasks keep going as they started. --limit replaces the job's limits (repeat it
for several). The flags are submit's; a default their help names is what submit gives
a new job that leaves the flag out."""

EPILOG = """\
examples:
  renderq job-set 3 --priority 90 --name "shot010 final"
  renderq job-set 3 --task-cores 8 --task-memory 40GiB   # and 0 GPUs: the whole reservation
  renderq job-set 3 --require-os Linux --require-tag gpu --require-tag rtx
  renderq job-set 3 --pool ""                            # any pool
  renderq job-set 3 --limit maya; renderq job-set 3 --no-limits
"""


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    parser = verbs.add_parser(
        "job-set",
        parents=[common],
        help="change a job in flight: priority, name, retries, pool, reservation, requirements, limits",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("job_id", type=int, metavar="JOB", help="job id, as `renderq jobs` lists it")
    add_priority(parser)
    add_name(parser)
    add_max_retries(parser)
    add_pool(parser)
    add_limit(parser)
    parser.add_argument("--no-limits", action="store_true", help="from now on the job holds no limit")
    add_max_agent_failures(parser)
    add_min_runtime(parser)
    held = add_reservation(parser)
    held.description = "any of these replaces the whole reservation: one not given becomes 0"
    needs = add_requirements(parser)
    needs.description = "any of these replaces all the requirements: one not given becomes none"
    # None is "not given": nothing of that setting is sent.
    parser.set_defaults(**{dest: None for dests in SETTINGS.values() for dest in dests}, run=_run)


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def update_request(args: argparse.Namespace) -> fpb.UpdateJobRequest:
    """The request the flags ask for: each setting a flag was given for, in the mask and
    in the job (the flags' types keep each value in its field's range); a contradiction
    or no change at all is the user's to fix."""
    if args.limit is not None and args.no_limits:
        raise UserError("--limit and --no-limits contradict each other; give one of them")
    job = pb.Job(id=args.job_id)
    paths: list[str] = []
    for path, dests in SETTINGS.items():
        given = [dest for dest in dests if getattr(args, dest) is not None]
        if not given:
            continue
        _set(job, path, args)
        paths.append(path)
    if not paths:
        raise UserError(
            "job-set needs a change: --priority, --name, --max-retries, --pool, --task-*, "
            "--require-*, --limit, --no-limits, --max-agent-failures or --min-runtime"
        )
    return fpb.UpdateJobRequest(job=job, update_mask=field_mask_pb2.FieldMask(paths=paths))


def _set(job: pb.Job, path: str, args: argparse.Namespace) -> None:
    match path:
        case "reservation":
            job.reservation.CopyFrom(reservation(args))
        case "requirements":
            job.requirements.CopyFrom(requirements(args))
        case "limits":
            job.limits.extend(args.limit or [])
        case "min_runtime":
            job.min_runtime.FromTimedelta(timedelta(seconds=args.min_runtime))
        case _:
            setattr(job, path, getattr(args, path))


def _run(args: argparse.Namespace) -> int:
    """The flags are checked before the controller is looked for."""
    request = update_request(args)
    changed = ", ".join(path.replace("_", " ") for path in request.update_mask.paths)

    async def verb(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
        job = (await stub.UpdateJob(request)).job
        return await show_job(args, stub, job, f"; changed {changed}")

    return client_verb(verb)(args)
