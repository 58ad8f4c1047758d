"""``renderq wait``: block until a job ends; the exit code says how it ended."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import TYPE_CHECKING

from renderq.cli.connection import client_verb
from renderq.cli.failures import BLOCKED, FIXABLE, INTERRUPTED, NOT_ALLOWED, TIMED_OUT, UNREACHABLE, UserError
from renderq.cli.output import print_json
from renderq.cli.progress import JobProgress, blocked_sentence, follow_job
from renderq.cli.schema import parameter_types
from renderq.client.enums import label
from renderq.client.units import format_seconds
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

EPILOG = f"""\
exit codes:
  0    the job completed
  1    the job failed or was cancelled
  {BLOCKED}    the job is blocked: a job it depends on failed or was cancelled (the reason
       names it); it runs by itself once that job is retried and completes
  {TIMED_OUT}  --timeout ran out before the job ended
  {FIXABLE}    as for every verb: a request to fix (such as an unknown job)
  {UNREACHABLE}    as for every verb: the controller cannot be reached
  {NOT_ALLOWED}    as for every verb: not allowed (no valid API token)
  {INTERRUPTED}  interrupted (Ctrl-C)
"""


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    parser = verbs.add_parser(
        "wait",
        parents=[common],
        help="wait until a job ends",
        description="Wait until a job is completed, failed or cancelled, or blocked by a failed "
        "dependency, showing its progress; the exit code says which. With --json, the job as it ended.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("job_id", type=int, metavar="ID")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="give up after this long")
    parser.set_defaults(run=client_verb(_wait))


async def _wait(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    progress = JobProgress(sys.stdout)
    show = (lambda job: None) if args.json else progress.update
    job: pb.Job | None = None
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(args.timeout):
                job = await follow_job(stub, args.job_id, show)
    finally:
        progress.close()
    if job is None:
        raise UserError(f"job {args.job_id} did not end within {format_seconds(args.timeout)}", TIMED_OUT)
    if args.json:
        print_json(job, await parameter_types(stub))
    if job.state == pb.JOB_STATE_COMPLETED:
        return 0
    if job.state == pb.JOB_STATE_BLOCKED:
        raise UserError(blocked_sentence(job), BLOCKED)
    reason = f": {job.last_error}" if job.last_error else ""
    raise UserError(f"job {job.id} {label(pb.JobState, job.state)}{reason}", 1)
