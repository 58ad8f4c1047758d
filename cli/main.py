"""The ``renderq`` command: one entry point for the services and for every script verb.

Each verb lives in the module named for what it does; this module only assembles the
parser, runs the chosen verb and turns failures into a sentence and an exit code.
"""

from __future__ import annotations

import argparse
import os
import sys

from renderq import __version__
from renderq.cli import access, actions, certs, listings, logs, servers, submit, tui, up, wait
from renderq.cli.failures import INTERRUPTED, UserError, report
from renderq.cli.farm import client_options
from renderq.client.errors import FarmError

DESCRIPTION = """\
renderq: a render farm manager.

Run a farm on this machine:  renderq up --demo
On a LAN, start `renderq controller` once and `renderq agent` on every render node;
they find each other over mDNS. Every other verb talks to the controller, found by
--controller, else $RENDERQ_CONTROLLER, else mDNS. `renderq VERB --help` tells more.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="renderq", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"renderq {__version__}")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    common = client_options()
    up.register(verbs)
    servers.register(verbs)
    certs.register(verbs)
    submit.register(verbs, common)
    listings.register(verbs, common)
    logs.register(verbs, common)
    wait.register(verbs, common)
    actions.register(verbs, common)
    access.register(verbs, common)
    tui.register(verbs, common)
    return parser


def _split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """Words after the first ``--`` are a command line for the job, never renderq options."""
    if "--" not in argv:
        return argv, []
    cut = argv.index("--")
    return argv[:cut], argv[cut + 1 :]


def main(argv: list[str] | None = None) -> None:
    """Run one verb and exit with its code."""
    words, command = _split_command(sys.argv[1:] if argv is None else list(argv))
    parser = build_parser()
    args = parser.parse_args(words)
    if command and not getattr(args, "takes_argv", False):
        parser.error(f"{args.verb} takes no command after --")
    args.argv = command
    sys.exit(_run(args))


def _run(args: argparse.Namespace) -> int:
    try:
        code: int = args.run(args)
        return code
    except (FarmError, UserError) as error:
        return report(error)
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`renderq logs 3 | head`): nothing left to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
