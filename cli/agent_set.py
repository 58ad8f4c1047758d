"""``renderq agent-set AGENT``: an operator's overrides of the settings an agent announces.

An agent announces its slots, tags, pool and cost per hour each time it connects; an
override set here wins over what it announces, at once and across restarts of either
side, until ``--reset`` hands the setting back to the agent.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from google.protobuf import field_mask_pb2

from renderq.cli.connection import client_verb
from renderq.cli.failures import UserError
from renderq.cli.listings import setting_fields
from renderq.cli.output import print_json
from renderq.cli.tables import print_fields
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

SETTINGS = {"slots": "slots", "tags": "tags", "pool": "pool", "cost-per-hour": "cost_per_hour"}
"""``--reset`` word -> the AgentSettings field (the update_mask path), in the order shown."""
EVERY = "all"


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    help_text = "override an agent's slots, tags, pool or cost per hour (admin)"
    parser = verbs.add_parser(
        "agent-set",
        parents=[common],
        help=help_text,
        description="Override settings an agent announces, at once and until reset: the override "
        "wins over what the agent says when it (re)connects, and survives restarts of either side. "
        "Prints the settings in force afterwards.",
    )
    parser.add_argument("agent_id", metavar="AGENT", help="agent id, as `renderq agents` lists it")
    parser.add_argument("--slots", type=int, metavar="N", help="how many tasks it runs at once")
    parser.add_argument(
        "--tags",
        type=_tags,
        metavar="TAG,...",
        help='tags that replace the ones it announces, comma-separated ("" for no tags)',
    )
    parser.add_argument("--pool", metavar="NAME", help="the pool it belongs to")
    parser.add_argument(
        "--cost-per-hour",
        type=float,
        metavar="COST",
        help="what an hour of it costs, in the farm's currency per hour",
    )
    parser.add_argument(
        "--reset",
        action="append",
        default=[],
        choices=[*SETTINGS, EVERY],
        metavar="SETTING",
        help=f"drop the override of SETTING ({', '.join(SETTINGS)} or {EVERY}), so what the agent "
        f"announces is in force again (repeatable; {EVERY}: every setting not given above)",
    )
    parser.set_defaults(run=_run)


def _tags(text: str) -> list[str]:
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def overrides_request(args: argparse.Namespace) -> fpb.SetAgentOverridesRequest:
    """The request the flags ask for: each setting given is overridden, each reset one
    cleared (a path in the mask whose field is unset); a contradiction or no change at all
    is the user's to fix."""
    reset = set(SETTINGS.values()) if EVERY in args.reset else {SETTINGS[word] for word in args.reset}
    overrides = pb.AgentSettings()
    paths: list[str] = []
    for word, path in SETTINGS.items():
        value = getattr(args, path)  # each flag's dest is its field's name
        if value is not None:
            if path in reset and EVERY not in args.reset:
                raise UserError(f"--{word} and --reset {word} contradict each other; give one of them")
            if path == "tags":
                overrides.tags.SetInParent()  # set, even when empty: an empty tag list
                overrides.tags.tags.extend(value)
            else:
                setattr(overrides, path, value)
            paths.append(path)
        elif path in reset:
            paths.append(path)
    if not paths:
        raise UserError(
            "agent-set needs a change: --slots, --tags, --pool, --cost-per-hour or --reset SETTING"
        )
    return fpb.SetAgentOverridesRequest(
        agent_id=args.agent_id, overrides=overrides, update_mask=field_mask_pb2.FieldMask(paths=paths)
    )


def _run(args: argparse.Namespace) -> int:
    """The flags are checked before the controller is looked for."""
    request = overrides_request(args)

    async def verb(args: argparse.Namespace, stub: FarmServiceAsyncStub) -> int:
        agent = (await stub.SetAgentOverrides(request)).agent
        if args.json:
            print_json(agent)
        else:
            print_fields([("agent", agent.id), *setting_fields(agent)])
        return 0

    return client_verb(verb)(args)
