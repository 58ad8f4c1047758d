"""``renderq tui``: the operator's terminal UI, against the controller the flags name."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from renderq.cli.connection import credentials_from
from renderq.client.address import resolve_controller

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs


def register(verbs: Verbs, connection: argparse.ArgumentParser) -> None:
    """``connection``: the flags that name the controller; a screen has no use for --json."""
    text = "the terminal UI: jobs, frames, agents, logs and every action, live"
    parser = verbs.add_parser("tui", parents=[connection], help=text, description=text.capitalize() + ".")
    parser.set_defaults(run=_tui)


def _tui(args: argparse.Namespace) -> int:
    # Imported here: Textual is the heaviest import, and only this verb needs it.
    from renderq.tui.app import RenderqApp

    app = RenderqApp(lambda: resolve_controller(args.controller), credentials_from(args))
    app.run()
    return 0
