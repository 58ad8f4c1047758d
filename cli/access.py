"""Who may use the farm: API tokens (``token create|list|revoke``), ``whoami`` and ``audit``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from renderq.cli.connection import client_verb
from renderq.cli.failures import UserError
from renderq.cli.output import print_json
from renderq.cli.tables import Column, print_table
from renderq.client.credentials import TOKEN_ENV
from renderq.client.enums import from_label, label, labels
from renderq.client.paging import collect_pages
from renderq.client.units import format_time
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

ROLES_HELP = (
    "viewer: read and watch; operator: also submit and control jobs; admin: also agents, tokens, audit"
)


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    token = verbs.add_parser(
        "token", help="create, list and revoke API tokens (admin)", description=f"API tokens. {ROLES_HELP}."
    )
    actions = token.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create", parents=[common], help="make a token and print it (shown this once)", description=ROLES_HELP
    )
    create.add_argument("name", metavar="NAME", help="who or what uses it, e.g. nightly-comp-script")
    create.add_argument("--role", choices=labels(pb.Role), default="viewer", help="default %(default)s")
    create.set_defaults(run=client_verb(_create))
    listing = actions.add_parser(
        "list", parents=[common], help="list tokens, revoked ones included", description="List API tokens."
    )
    listing.set_defaults(run=client_verb(_list))
    revoke = actions.add_parser(
        "revoke",
        parents=[common],
        help="make a token stop working at once",
        description="Revoke an API token.",
    )
    revoke.add_argument("token_id", metavar="ID", help="token id, as `renderq token list` shows it")
    revoke.set_defaults(run=client_verb(_revoke))

    whoami_help = "the name and role of the token in use"
    whoami = verbs.add_parser(
        "whoami", parents=[common], help=whoami_help, description=whoami_help.capitalize() + "."
    )
    whoami.set_defaults(run=client_verb(_whoami))

    audit_help = "every state-changing call: who, what, when, and how it ended (admin)"
    audit = verbs.add_parser(
        "audit", parents=[common], help=audit_help, description=audit_help.capitalize() + "."
    )
    audit.add_argument(
        "--limit", type=int, default=50, metavar="N", help="newest N records (default %(default)s)"
    )
    audit.set_defaults(run=client_verb(_audit))


async def _create(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    answer = await stub.CreateToken(
        fpb.CreateTokenRequest(name=args.name, role=from_label(pb.Role, args.role))
    )
    if args.json:
        print_json(answer)
        return 0
    print(f"token {answer.token.id} ({answer.token.name}, {args.role}); it is shown this once:")
    print(f"  {answer.secret}")
    print(f"Use it with --token TOKEN or {TOKEN_ENV}=TOKEN.")
    return 0


async def _list(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    tokens = await collect_pages(
        lambda page: stub.ListTokens(fpb.ListTokensRequest(page_token=page)), lambda r: r.tokens
    )
    if args.json:
        print_json(tokens)
        return 0
    columns = [
        Column("ID"),
        Column("NAME", cut=True),
        Column("ROLE"),
        Column("CREATED", spare=2),
        Column("BY", spare=1, cut=True),
        Column("REVOKED"),
    ]
    rows = [
        [
            t.id,
            t.name,
            label(pb.Role, t.role),
            format_time(t.create_time),
            t.created_by,
            format_time(t.revoke_time) if t.HasField("revoke_time") else "-",
        ]
        for t in tokens
    ]
    print_table(columns, rows, empty="no tokens")
    return 0


async def _revoke(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    token = (await stub.RevokeToken(fpb.RevokeTokenRequest(token_id=args.token_id))).token
    if args.json:
        print_json(token)
    else:
        print(f"token {token.id} ({token.name}) revoked")
    return 0


async def _whoami(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    caller = await stub.GetCaller(fpb.GetCallerRequest())
    if args.json:
        print_json(caller)
    else:
        print(f"{caller.name} (token {caller.token_id}, {label(pb.Role, caller.role)})")
    return 0


async def _audit(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    if args.limit < 1:
        raise UserError("--limit must be 1 or more")
    records: list[pb.AuditRecord] = []
    page = ""
    while len(records) < args.limit:
        answer = await stub.ListAuditRecords(
            fpb.ListAuditRecordsRequest(page_size=min(args.limit - len(records), 1000), page_token=page)
        )
        records.extend(answer.records)
        page = answer.next_page_token
        if not page:
            break
    if args.json:
        print_json(records)
        return 0
    columns = [
        Column("#", right=True, spare=2),
        Column("TIME"),
        Column("WHO", cut=True),
        Column("CALL"),
        Column("TARGET", spare=1, cut=True),
        Column("OUTCOME", wrap=True),
    ]
    rows = [
        [
            str(r.sequence),
            format_time(r.time),
            f"{r.caller} ({label(pb.Role, r.role)})",
            r.method,
            r.target or "-",
            r.outcome if not r.error else f"{r.outcome}: {r.error}",
        ]
        for r in records
    ]
    print_table(columns, rows, empty="no state-changing calls yet")
    return 0
