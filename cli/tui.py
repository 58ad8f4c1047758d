"""``renderq tui``: the operator's terminal UI, against the controller the flags name."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from renderq.client.address import resolve_controller
from renderq.client.credentials import resolve_credentials

if TYPE_CHECKING:
    from renderq.cli.farm import Verbs


def register(verbs: Verbs, common: argparse.ArgumentParser) -> None:
    text = "the terminal UI: jobs, frames, agents, logs and every action, live"
    parser = verbs.add_parser("tui", parents=[common], help=text, description=text.capitalize() + ".")
    parser.set_defaults(run=_tui)


def _tui(args: argparse.Namespace) -> int:
    # Imported here: Textual is the heaviest import, and only this verb needs it.
    from renderq.tui.app import RenderqApp

    app = RenderqApp(lambda: resolve_controller(args.controller), resolve_credentials(args.token, args.tls))
    app.run()
    return 0
