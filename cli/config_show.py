"""``renderq config show agent|controller``: the settings a server would start with, and
where each one came from (its default, which file, which variable, which flag).

It loads them exactly as the server does (renderq/settings.py) and takes the same flags,
so a service that behaves unexpectedly is explained without reading its files, its unit
and its environment one by one. The join token is never printed: ``***`` says it is set.
"""

from __future__ import annotations

import argparse
import functools
from typing import TYPE_CHECKING, Any

from renderq import settings
from renderq.agent import config as agent_config
from renderq.cli.output import print_document
from renderq.cli.servers import load_settings
from renderq.cli.tables import Column, print_table
from renderq.controller import config as controller_config

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs

SCHEMAS: tuple[settings.Schema[Any], ...] = (agent_config.SCHEMA, controller_config.SCHEMA)
COLUMNS = (Column("KEY"), Column("VALUE", wrap=True), Column("FROM", wrap=True))
UNSET = "(none)"


def register(verbs: Verbs) -> None:
    config = verbs.add_parser(
        "config",
        help="show the settings a server starts with",
        description="The settings of the controller and the agent: see `renderq config show --help`.",
    )
    actions = config.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    show = actions.add_parser(
        "show",
        help="print a server's effective settings and where each came from",
        description="Print the settings `renderq agent` or `renderq controller` would start with, here "
        "and now (the same files, variables and flags), and where each came from. Secrets show as ***.",
    )
    servers = show.add_subparsers(dest="server", metavar="SERVER", required=True)
    for schema in SCHEMAS:
        parser = servers.add_parser(
            schema.server,
            help=f"the {schema.server}'s settings",
            description=f"Print the settings `renderq {schema.server}` would start with (give it the "
            "same flags to see theirs too), and where each came from.",
        )
        settings.add_flags(parser, schema)
        parser.add_argument("--json", action="store_true", help="print them as a JSON object")
        parser.set_defaults(run=functools.partial(_show, schema))


def _show(schema: settings.Schema[Any], args: argparse.Namespace) -> int:
    loaded = load_settings(schema, args)
    if args.json:
        print_document(document(schema, loaded))
        return 0
    print(_files_line(schema, loaded))
    rows = [
        [s.key, _text(s, getattr(loaded.config, s.attr)), str(loaded.origins[s.key])] for s in schema.settings
    ]
    print_table(COLUMNS, rows, empty="")
    return 0


def document(schema: settings.Schema[Any], loaded: settings.Loaded[Any]) -> dict[str, Any]:
    """``{"server", "files": [read, in order], "settings": {KEY: {"value", "source", "where"}}}``:
    ``source`` is default, file, environment or flag; ``where`` the file, the variable or
    the flag (null for a default)."""
    return {
        "server": schema.server,
        "files": [str(path) for path in loaded.files],
        "settings": {
            s.key: {
                "value": s.plain(getattr(loaded.config, s.attr)),
                "source": loaded.origins[s.key].source,
                "where": loaded.origins[s.key].where,
            }
            for s in schema.settings
        },
    }


def _text(setting: settings.Setting, value: object) -> str:
    return UNSET if value is None else setting.shown(value)


def _files_line(schema: settings.Schema[Any], loaded: settings.Loaded[Any]) -> str:
    if loaded.files:
        return f"{schema.server} settings; files read: {', '.join(map(str, loaded.files))}"
    looked = " and ".join(map(str, settings.config_files(schema.server)))
    return f"{schema.server} settings; no file read (looked for {looked})"
