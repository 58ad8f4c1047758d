"""``renderq logs``: a task attempt's output, raw, as it arrives."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from renderq.cli.failures import UserError
from renderq.cli.farm import client_verb
from renderq.cli.listings import list_tasks
from renderq.cli.output import to_dict
from renderq.client.units import is_set
from renderq.v1 import farm_service_pb2 as fs
from renderq.v1 import resources_pb2 as rs

if TYPE_CHECKING:
    from renderq.cli.farm import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

_ACTIVE = {rs.TASK_STATE_RUNNING, rs.TASK_STATE_ASSIGNED}


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    parser = verbs.add_parser(
        "logs",
        parents=[common],
        help="print a task's log",
        description="Print the log of the task that renders FRAME (or of --task). Without either, the "
        "job's running task, else the one that started last. --json prints one JSON object per chunk.",
    )
    parser.add_argument("job_id", type=int, metavar="ID")
    parser.add_argument("frame", type=int, nargs="?", metavar="FRAME")
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new output until the attempt ends"
    )
    parser.add_argument(
        "--attempt", type=int, default=0, metavar="N", help="attempt id (default: the latest)"
    )
    parser.add_argument("--task", type=int, default=0, metavar="N", help="task id instead of a frame")
    parser.set_defaults(run=client_verb(_logs))


async def _logs(args: argparse.Namespace, farm: FarmServiceAsyncStub) -> int:
    request = fs.TailLogRequest(job_id=args.job_id, attempt_id=args.attempt, follow=args.follow)
    if args.frame is not None:
        request.frame = args.frame
    else:
        request.task_id = args.task or await _relevant_task(farm, args.job_id)
    out = sys.stdout.buffer
    async for chunk in farm.TailLog(request):
        if args.json:
            out.write(json.dumps(to_dict(chunk)).encode() + b"\n")
        else:
            out.write(chunk.data)
        out.flush()
    return 0


async def _relevant_task(farm: FarmServiceAsyncStub, job_id: int) -> int:
    """The task a person asking for "the job's log" means: one that runs now, else the
    one that started last."""
    tasks = await list_tasks(farm, job_id)
    started = [t for t in tasks if t.state in _ACTIVE] or [t for t in tasks if is_set(t.start_time)]
    if not started:
        raise UserError(f"job {job_id} has no task that has started yet, so there is no log to show")
    return max(started, key=lambda t: t.start_time.ToNanoseconds()).id
