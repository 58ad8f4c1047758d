"""``renderq why JOB [FRAME]``: why a job (or a frame) is not running, in words.

The controller answers from the rules its scheduler decides with (ExplainJob), so the
answer is what the scheduler would do now: what holds the whole job back, then each
agent and the first reason it is passed over.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from renderq.cli.connection import client_verb
from renderq.cli.output import print_json
from renderq.cli.tables import Column, print_table
from renderq.v1 import farm_service_pb2 as fpb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

COLUMNS = [Column("AGENT"), Column("WHY NOT", wrap=True)]


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    text = "why a job (or one of its frames) is not running"
    parser = verbs.add_parser("why", parents=[common], help=text, description=text.capitalize() + ".")
    parser.add_argument("job_id", type=int, metavar="JOB")
    parser.add_argument("frame", type=int, nargs="?", metavar="FRAME", help="one frame of the job")
    parser.set_defaults(run=client_verb(_why))


async def _why(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    request = fpb.ExplainJobRequest(job_id=args.job_id)
    if args.frame is not None:
        request.frame = args.frame
    answer = await stub.ExplainJob(request)
    if args.json:
        print_json(answer)
        return 0
    what = f"frame {args.frame} of job {args.job_id}" if args.frame is not None else f"job {args.job_id}"
    for reason in answer.reasons:
        print(f"{what}: {reason}")
    if answer.agents:
        rows = [[v.agent_id, v.reason or "could take a task now"] for v in answer.agents]
        print_table(COLUMNS, rows, "")
    elif not answer.reasons:
        print(f"{what}: nothing holds it back; it starts at the next dispatch")
    return 0
