"""``renderq controller`` and ``renderq agent``: the two long-running services.

Their flags, files and variables come from each service's settings class through
renderq/settings.py; the service itself is imported only when its verb runs, so the
client verbs start fast and a render node never loads the controller (nor the other way
round).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, get_args

from renderq import farm_key, settings
from renderq.agent import config as agent_config
from renderq.cli.failures import UserError
from renderq.cli.output import print_document
from renderq.client.credentials import DATA_DIR_ENV, local_data_dir
from renderq.controller import config as controller_config
from renderq.log_format import Format, Level, capture_python_reports, formatter
from renderq.xdg import data_home

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from renderq.cli.connection import Verbs

C = TypeVar("C", bound="DataclassInstance")


def add_log_level(parser: argparse.ArgumentParser) -> None:
    """``--log-level`` for ``renderq up``, which hands it to the servers it starts."""
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=get_args(Level),
        help="least severe events logged",
    )


def configure_logging(level: Level, log_format: Format = "text") -> None:
    """One line per event on stderr, where a service manager (systemd, `renderq up`) collects
    it: text for people, or one JSON object per line for a log collector."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(log_format))
    logging.basicConfig(level=level, handlers=[handler])
    capture_python_reports()


def load_settings(schema: settings.Schema[C], args: argparse.Namespace) -> settings.Loaded[C]:
    """The server's settings from its files, the environment and ``args``; a mistake in
    any of them is the one sentence the command ends with (exit code 2)."""
    try:
        return settings.load(schema, args)
    except settings.SettingsError as error:
        raise UserError(f"{schema.server} settings: {error}") from None


def register(verbs: Verbs) -> None:
    controller = verbs.add_parser(
        "controller",
        help="run the controller",
        description="Run the controller: it serves the FarmService API, finds agents (mDNS or --agent), "
        "schedules frames on them and keeps the farm's state in DuckDB.",
    )
    settings.add_flags(controller, controller_config.SCHEMA)
    controller.set_defaults(run=_run_controller)

    agent = verbs.add_parser(
        "agent",
        help="run an agent on a render node",
        description="Run an agent: it advertises this node over mDNS, accepts the controller's link and "
        "runs the tasks it is given.",
    )
    settings.add_flags(agent, agent_config.SCHEMA)
    agent.set_defaults(run=_run_agent)
    _register_join_token(verbs)


def _register_join_token(verbs: Verbs) -> None:
    parser = verbs.add_parser(
        "join-token",
        help="print the line that adds a render node to this farm",
        description="Print the command that starts an agent with this farm's key. Run it on the controller's "
        "machine (it reads the key file); paste the line on the new node once: the agent keeps the key.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"the controller's state (default: ${DATA_DIR_ENV}, else {data_home()})",
    )
    parser.add_argument("--json", action="store_true", help="print the token and the line as JSON")
    parser.set_defaults(run=_join_token)


def _join_token(args: argparse.Namespace) -> int:
    path = local_data_dir(args.data_dir) / farm_key.FILE_NAME
    try:
        key = farm_key.load(path)
    except (farm_key.FarmKeyError, OSError) as exc:
        raise UserError(f"cannot read the farm key: {exc}") from None
    if key is None:
        raise UserError(
            f"no farm key at {path}: the controller makes it at its first start; "
            "pass --data-dir if the controller keeps its state elsewhere"
        )
    token = farm_key.to_token(key)
    line = f"renderq agent --join {token}"
    if args.json:
        print_document({"command": line, "token": token})
    else:
        print(line)
    return 0


def _run_controller(args: argparse.Namespace) -> int:
    config = load_settings(controller_config.SCHEMA, args).config
    configure_logging(config.log_level, config.log_format)
    from renderq.controller.main import main

    return main(config)


def _run_agent(args: argparse.Namespace) -> int:
    config = load_settings(agent_config.SCHEMA, args).config
    configure_logging(config.log_level, config.log_format)
    from renderq.agent.main import main

    return main(config)
