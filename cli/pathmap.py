"""``renderq pathmap add|list|delete|test``: where shared storage is mounted on each OS.

A rule says what a path prefix becomes on agents of one OS (``Z:\\projects`` is
``/mnt/projects`` on Linux); the controller applies the rules to every task's paths when
it sends the task to an agent, so a job submitted from Windows runs on Linux and macOS.
``test`` shows what a path becomes, and by which rule, before a job finds out.
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

SYSTEMS = {"linux": "Linux", "windows": "Windows", "darwin": "Darwin"}
"""Each OS as typed (any case), and as agents report it (``platform.system()``)."""
COLUMNS = [Column("OS"), Column("FROM", cut=True), Column("TO", wrap=True)]


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    pathmap = verbs.add_parser(
        "pathmap",
        help="path mapping for shared storage mounted at different places per OS",
        description="Rules that rewrite a path prefix for agents of one OS (Z:\\projects on Windows "
        "is /mnt/projects on Linux), applied to every task's paths when it is sent to an agent.",
    )
    actions = pathmap.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add", parents=[common], help="add a rule, or replace the one for FROM and the OS (admin)",
        description="Make paths under FROM be under TO on agents of the OS. The longest matching "
        "prefix wins; a Windows FROM matches in any case, with either slash.",
    )  # fmt: skip
    add.add_argument(
        "from_path", metavar="FROM", help="the prefix as jobs write it: Z:\\projects, /Volumes/x"
    )
    add.add_argument("to_path", metavar="TO", help="where that is on agents of the OS")
    _os_option(add, "the OS of the agents the rule is for")
    add.set_defaults(run=client_verb(_add))
    listing = actions.add_parser("list", parents=[common], help="every rule, by OS")
    listing.set_defaults(run=client_verb(_list))
    delete = actions.add_parser(
        "delete", parents=[common], help="delete the rule for FROM and the OS (admin)"
    )
    delete.add_argument("from_path", metavar="FROM")
    _os_option(delete, "the OS the rule is for")
    delete.set_defaults(run=client_verb(_delete))
    test = actions.add_parser(
        "test", parents=[common], help="what PATH becomes on agents of an OS, and by which rule",
    )  # fmt: skip
    test.add_argument("path", metavar="PATH")
    _os_option(test, "the OS of the agents")
    test.set_defaults(run=client_verb(_test))


def _os_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--os", type=str.lower, choices=list(SYSTEMS), required=True, help=what)


def _rule(mapping: pb.PathMapping) -> str:
    return f"{mapping.from_path} -> {mapping.to_path} on {mapping.os}"


async def _add(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    mapping = pb.PathMapping(from_path=args.from_path, to_path=args.to_path, os=SYSTEMS[args.os])
    added = (await stub.AddPathMapping(fpb.AddPathMappingRequest(mapping=mapping))).mapping
    if args.json:
        print_json(added)
    else:
        print(f"path mapping {_rule(added)}")
    return 0


async def _list(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    mappings = list((await stub.ListPathMappings(fpb.ListPathMappingsRequest())).mappings)
    if args.json:
        print_json(mappings)
        return 0
    rows = [[m.os, m.from_path, m.to_path] for m in mappings]
    print_table(COLUMNS, rows, "no path mapping rules (renderq pathmap add FROM TO --os OS makes one)")
    return 0


async def _delete(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    os = SYSTEMS[args.os]
    await stub.DeletePathMapping(fpb.DeletePathMappingRequest(from_path=args.from_path, os=os))
    if args.json:
        print_document({"deleted": True, "from_path": args.from_path, "os": os})
    else:
        print(f"path mapping {args.from_path} on {os} deleted")
    return 0


async def _test(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
    answer = await stub.MapPath(fpb.MapPathRequest(path=args.path, os=SYSTEMS[args.os]))
    if args.json:
        print_json(answer)
        return 0
    print(answer.path)
    print(f"by the rule {_rule(answer.mapping)}" if answer.HasField("mapping") else "no rule applies")
    return 0
