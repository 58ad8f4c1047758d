"""``renderq blobs gc``: remove the uploaded project files no job names any more.

The controller also does this by itself at start and daily with a 7-day retention; the
verb is for freeing space now, or seeing what would go (``--dry-run``).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from renderq.cli.cleanup import duration_flag
from renderq.cli.connection import client_verb
from renderq.cli.output import print_json
from renderq.client.units import format_size
from renderq.v1 import farm_service_pb2 as fpb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    blobs = verbs.add_parser(
        "blobs",
        help="uploaded project files on the controller",
        description="Project files uploaded with `renderq submit --upload`, kept once by content.",
    )
    actions = blobs.add_subparsers(dest="action", metavar="ACTION", required=True)
    gc = actions.add_parser(
        "gc", parents=[common], help="remove the files no job names (admin)",
        description="Remove the uploaded files no job names any more and that were not used "
        "for the retention (default 7 days).",
    )  # fmt: skip
    gc.add_argument(
        "--older-than", type=duration_flag, metavar="AGE", help="retention, e.g. 12h or 7d (default 7d)"
    )
    gc.add_argument("--dry-run", action="store_true", help="say what would go, remove nothing")
    gc.set_defaults(run=client_verb(_gc))


async def _gc(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    request = fpb.CollectBlobsRequest(dry_run=args.dry_run)
    if args.older_than is not None:
        request.older_than.FromNanoseconds(int(args.older_than * 1e9))
    answer = await stub.CollectBlobs(request)
    if args.json:
        print_json(answer)
        return 0
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"{verb} {answer.blobs_removed} files ({format_size(answer.bytes_freed)}); {answer.blobs_kept} kept"
    )
    return 0
