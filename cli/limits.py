"""``renderq limit set|list|delete``: farm-wide counters such as renderer licences.

A job names the limits its tasks hold (``renderq submit --limit maya``); the farm never
runs more tasks holding a limit than its capacity, across jobs and agents.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from renderq.cli.connection import client_verb
from renderq.cli.output import print_document, print_json
from renderq.cli.tables import Column, print_table
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

COLUMNS = [
    Column("LIMIT"),
    Column("IN USE", right=True),
    Column("CAPACITY", right=True),
    Column("HELD BY", wrap=True),
]


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    limit = verbs.add_parser(
        "limit",
        help="licences and other farm-wide counters",
        description="Farm-wide counters: at most CAPACITY tasks naming a limit run at once "
        "(`renderq submit --limit NAME`).",
    )
    actions = limit.add_subparsers(dest="action", metavar="ACTION", required=True)
    set_ = actions.add_parser(
        "set", parents=[common], help="create a limit or change its capacity (admin)",
        description="Create a limit or change its capacity. Lowering it stops new starts; "
        "running tasks keep what they hold.",
    )  # fmt: skip
    set_.add_argument("name", metavar="NAME", help="e.g. maya")
    set_.add_argument("capacity", type=int, metavar="N", help="how many tasks may hold it at once")
    set_.set_defaults(run=client_verb(_set))
    listing = actions.add_parser(
        "list", parents=[common], help="every limit: in use, capacity, jobs holding it",
        description="Every limit, how much of it is in use and which jobs hold it.",
    )  # fmt: skip
    listing.set_defaults(run=client_verb(_list))
    delete = actions.add_parser(
        "delete", parents=[common], help="delete a limit no unfinished job names (admin)",
        description="Delete a limit that no unfinished job names.",
    )  # fmt: skip
    delete.add_argument("name", metavar="NAME")
    delete.set_defaults(run=client_verb(_delete))


async def _set(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    request = fpb.SetLimitRequest(limit=pb.Limit(name=args.name, capacity=args.capacity))
    limit = (await stub.SetLimit(request)).limit
    if args.json:
        print_json(limit)
    else:
        print(f"limit {limit.name}: {limit.in_use} of {limit.capacity} in use")
    return 0


async def _list(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    limits = list((await stub.ListLimits(fpb.ListLimitsRequest())).limits)
    if args.json:
        print_json(limits)
        return 0
    rows = [
        [
            limit.name,
            str(limit.in_use),
            str(limit.capacity),
            ", ".join(f"job {job_id}" for job_id in limit.holder_job_ids) or "-",
        ]
        for limit in limits
    ]
    print_table(COLUMNS, rows, "no limits (renderq limit set NAME N makes one)")
    return 0


async def _delete(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    await stub.DeleteLimit(fpb.DeleteLimitRequest(name=args.name))
    if args.json:
        print_document({"deleted": True, "name": args.name})
    else:
        print(f"limit {args.name} deleted")
    return 0
