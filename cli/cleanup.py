"""``renderq cleanup``: remove ended jobs' workspaces from every agent.

Workspaces stay on the agents after their job, so that a retried frame finds its files;
this verb frees the disk they hold: the jobs named, or every ended job that matches
``--state``, ``--older-than`` and ``--owner`` (``--all``: every ended job). Each online
agent removes what it has and says how much it freed.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from renderq.cli.connection import client_verb
from renderq.cli.failures import UserError
from renderq.cli.output import print_json
from renderq.cli.tables import Column, print_table
from renderq.client.enums import from_label
from renderq.client.units import format_size, parse_duration
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

ENDED = ("completed", "failed", "cancelled")
COLUMNS = [
    Column("AGENT", cut=True),
    Column("WORKSPACES", right=True),
    Column("FREED", right=True),
    Column("NOTE", wrap=True),
]


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    parser = verbs.add_parser(
        "cleanup",
        parents=[common],
        help="remove ended jobs' workspaces from the agents",
        description="Remove the workspaces of ended jobs from every online agent: the JOBs "
        "named, or every ended job that matches --state, --older-than and --owner (--all: every "
        "ended job). Prints what each agent removed and freed.",
    )
    parser.add_argument("job_ids", type=int, nargs="*", metavar="JOB", help="the id of a job that ended")
    parser.add_argument(
        "--state", action="append", default=[], choices=ENDED, help="only jobs that ended so (repeatable)"
    )
    parser.add_argument(
        "--older-than",
        type=duration_flag,
        metavar="DURATION",
        help="only jobs that ended at least this long ago: 90s, 30m, 12h, 7d",
    )
    parser.add_argument("--owner", metavar="NAME", help="only this person's jobs")
    parser.add_argument("--all", action="store_true", help="every ended job")
    parser.set_defaults(run=client_verb(_cleanup))


def duration_flag(text: str) -> float:
    """An argparse type: ``12h``, ``7d`` as seconds."""
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cleanup_request(args: argparse.Namespace) -> fpb.CleanupWorkspacesRequest:
    """The request the command line asks for; UserError when it names jobs and filters them
    too, or says nothing of which workspaces to remove."""
    filtered = bool(args.state or args.older_than is not None or args.owner)
    if args.job_ids and (filtered or args.all):
        raise UserError("name jobs, or choose them with --state, --older-than, --owner or --all; not both")
    if args.all and filtered:
        raise UserError("--all is every ended job: leave out --state, --older-than and --owner")
    if not (args.job_ids or filtered or args.all):
        raise UserError(
            "say which workspaces to remove: JOB ..., or --state, --older-than, --owner, or --all"
        )
    states = [from_label(pb.JobState, state) for state in args.state]
    request = fpb.CleanupWorkspacesRequest(job_ids=args.job_ids, states=states, owner=args.owner)
    if args.older_than is not None:
        request.older_than.FromNanoseconds(int(args.older_than * 1e9))
    return request


async def _cleanup(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    answer = await stub.CleanupWorkspaces(cleanup_request(args))
    if args.json:
        print_json(answer)
        return 0
    if not answer.job_ids:
        print("no ended job matches: nothing to clean")
        return 0
    print(f"cleaned the workspaces of {_jobs(list(answer.job_ids))}")
    rows = [
        [agent.agent_id, str(agent.workspaces_removed), format_size(agent.bytes_freed), agent.error or "-"]
        for agent in answer.agents
    ]
    removed = sum(agent.workspaces_removed for agent in answer.agents)
    freed = sum(agent.bytes_freed for agent in answer.agents)
    print_table(COLUMNS, [*rows, ["total", str(removed), format_size(freed), ""]], "")
    return 0


def _jobs(job_ids: list[int]) -> str:
    """``job 3`` or ``4 jobs (3, 4, 9, 12)``, ten ids at most."""
    if len(job_ids) == 1:
        return f"job {job_ids[0]}"
    shown = ", ".join(map(str, job_ids[:10])) + (", ..." if len(job_ids) > 10 else "")
    return f"{len(job_ids)} jobs ({shown})"
