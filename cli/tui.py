"""``renderq tui``: the operator's terminal UI, against the controller the flags name.

``--web`` serves the same app to browsers instead (see renderq/cli/web.py); each browser
session runs ``renderq tui --web-session``, which asks its visitor for a token.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from renderq.cli.connection import credentials_from
from renderq.client.address import resolve_controller
from renderq.client.credentials import Credentials
from renderq.tls import TLS_ENV

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs

DEFAULT_WEB = "127.0.0.1:8420"


def register(verbs: Verbs, connection: argparse.ArgumentParser) -> None:
    """``connection``: the flags that name the controller; a screen has no use for --json."""
    text = "the terminal UI: jobs, frames, agents, logs and every action, live"
    parser = verbs.add_parser("tui", parents=[connection], help=text, description=text.capitalize() + ".")
    parser.add_argument(
        "--web",
        nargs="?",
        const=DEFAULT_WEB,
        metavar="HOST:PORT",
        help=f"serve the UI to web browsers on HOST:PORT (default {DEFAULT_WEB}); each visitor "
        "gives their own API token; any host but loopback needs --tls DIR (DIR/node.pem, node.key)",
    )
    # Each browser session's own process (the --web server starts it): asks for a token.
    parser.add_argument("--web-session", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(run=_tui)


def _tui(args: argparse.Namespace) -> int:
    if args.web:
        from renderq.cli.web import serve

        return serve(args)
    # Imported here: Textual is the heaviest import, and only this verb needs it.
    from renderq.tui.app import RenderqApp

    credentials = web_session_credentials(args.tls) if args.web_session else credentials_from(args)
    app = RenderqApp(lambda: resolve_controller(args.controller), credentials, ask_token=args.web_session)
    app.run()
    return 0


def web_session_credentials(tls_dir: Path | None) -> Credentials:
    """A browser session's credentials: TLS only. Never ``--token``, ``$RENDERQ_TOKEN`` or
    the local admin token: those belong to whoever serves the page, not to its visitor."""
    if tls_dir is None and os.environ.get(TLS_ENV):
        tls_dir = Path(os.environ[TLS_ENV])
    return Credentials(tls_dir=tls_dir)
