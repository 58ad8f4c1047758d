"""``renderq controller`` and ``renderq agent``: the two long-running services.

Their flags come from each service's own config module; the service itself is
imported only when its verb runs, so the client verbs start fast and a render node
never loads the controller (nor the other way round).
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from renderq.agent import config as agent_config
from renderq.controller import config as controller_config

if TYPE_CHECKING:
    from renderq.cli.farm import Verbs

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


def add_log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS, help="least severe events logged"
    )


def configure_logging(level: str) -> None:
    """One line per event on stderr, where a service manager (systemd, `renderq up`) collects it."""
    logging.basicConfig(stream=sys.stderr, level=level, format=LOG_FORMAT)


def register(verbs: Verbs) -> None:
    controller = verbs.add_parser(
        "controller",
        help="run the controller",
        description="Run the controller: it serves the FarmService API, finds agents (mDNS or --agent), "
        "schedules frames on them and keeps the farm's state in DuckDB.",
    )
    controller_config.add_arguments(controller)
    add_log_level(controller)
    controller.set_defaults(run=_run_controller)

    agent = verbs.add_parser(
        "agent",
        help="run an agent on a render node",
        description="Run an agent: it advertises this node over mDNS, accepts the controller's link and "
        "runs the tasks it is given.",
    )
    agent_config.add_arguments(agent)
    add_log_level(agent)
    agent.set_defaults(run=_run_agent)


def _run_controller(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    from renderq.controller.main import main

    return main(controller_config.from_args(args))


def _run_agent(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    from renderq.agent.main import main

    return main(agent_config.from_args(args))
