"""``renderq wait``: block until a job ends; the exit code says how it ended."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import TYPE_CHECKING

from renderq.cli.failures import TIMED_OUT
from renderq.cli.farm import client_verb
from renderq.cli.output import label, print_json
from renderq.cli.progress import JobProgress, follow_job
from renderq.client.units import format_seconds
from renderq.v1 import resources_pb2 as rs

if TYPE_CHECKING:
    from renderq.cli.farm import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    parser = verbs.add_parser(
        "wait",
        parents=[common],
        help="wait until a job ends",
        description="Wait until a job is completed, failed or cancelled, showing its progress. "
        f"Exit code 0 when it completed, 1 when it failed or was cancelled, {TIMED_OUT} on --timeout.",
    )
    parser.add_argument("job_id", type=int, metavar="ID")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="give up after this long")
    parser.set_defaults(run=client_verb(_wait))


async def _wait(args: argparse.Namespace, farm: FarmServiceAsyncStub) -> int:
    progress = JobProgress(sys.stdout)
    show = (lambda job: None) if args.json else progress.update
    job: rs.Job | None = None
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.timeout):
                job = await follow_job(farm, args.job_id, show)
    finally:
        progress.close()
    if job is None:
        print(
            f"renderq: job {args.job_id} did not end within {format_seconds(args.timeout)}", file=sys.stderr
        )
        return TIMED_OUT
    if args.json:
        print_json(job)
    if job.state == rs.JOB_STATE_COMPLETED:
        return 0
    reason = f": {job.last_error}" if job.last_error else ""
    print(f"renderq: job {job.id} {label(rs.JobState, job.state)}{reason}", file=sys.stderr)
    return 1
