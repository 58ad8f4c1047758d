"""The ``renderq`` command: one entry point for the services and for every script verb.

Each verb lives in the module named for what it does; this module only assembles the
parser, runs the chosen verb and turns failures into a sentence and an exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, NoReturn, cast

from renderq import __version__
from renderq.cli import (
    access,
    actions,
    agent_set,
    analyze,
    backup,
    blobs,
    certs,
    cleanup,
    config_show,
    fetch,
    job_set,
    limits,
    listings,
    logs,
    outputs,
    pathmap,
    servers,
    services,
    submit,
    tui,
    up,
    wait,
    why,
)
from renderq.cli.connection import client_options, connection_options
from renderq.cli.failures import EXIT_CODES, FIXABLE, INTERRUPTED, UserError, report
from renderq.client.errors import CallFailed

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs

DESCRIPTION = """\
renderq: a render farm manager.

Run a farm on this machine:  renderq up --demo
On a LAN, start `renderq controller` once and `renderq agent` on every render node;
they find each other over mDNS. Every other verb talks to the controller, found by
--controller, else $RENDERQ_CONTROLLER, else mDNS. `renderq VERB --help` tells more.
"""

EPILOG = f"""\
{EXIT_CODES}
--json: objects with the .proto field names, states as the words the text shows
("completed"), durations in seconds, times in RFC 3339, keys sorted; logs as JSON Lines;
a failure as {{"error": {{"code", "exit_code", "message"}}}} on stderr.
"""


class CommandLineError(Exception):
    """argparse refused the command line (raised instead of printing, so that it can be
    reported as JSON under ``--json``)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise CommandLineError(self, message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="renderq",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"renderq {__version__}")
    # Every verb's parser is a _Parser too (argparse makes them of the parent's class).
    verbs = cast("Verbs", parser.add_subparsers(dest="verb", metavar="VERB", required=True))
    connection = connection_options()
    common = client_options(connection)
    up.register(verbs)
    servers.register(verbs)
    services.mention_in(verbs)
    config_show.register(verbs)
    certs.register(verbs)
    submit.register(verbs, common)
    listings.register(verbs, common)
    logs.register(verbs, common)
    outputs.register(verbs, common)
    fetch.register(verbs, common)
    wait.register(verbs, common)
    actions.register(verbs, common)
    cleanup.register(verbs, common)
    job_set.register(verbs, common)
    agent_set.register(verbs, common)
    access.register(verbs, common)
    backup.register(verbs, common)
    limits.register(verbs, common)
    blobs.register(verbs, common)
    pathmap.register(verbs, common)
    why.register(verbs, common)
    analyze.register(verbs, common)
    tui.register(verbs, connection)
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
    if services.handles(words):
        sys.exit(services.run(words, command))
    parser = build_parser()
    try:
        args = parser.parse_args(words)
        if command and not getattr(args, "takes_argv", False):
            raise CommandLineError(parser, f"{args.verb} takes no command after --")
    except CommandLineError as bad:
        sys.exit(_refuse(bad, as_json="--json" in words))
    args.argv = command
    sys.exit(_run(args))


def _refuse(bad: CommandLineError, as_json: bool) -> int:
    """argparse's own output (usage, then the error), or the JSON error object."""
    if as_json:
        return report(UserError(f"{bad.parser.prog}: {bad.message}", FIXABLE), as_json=True)
    bad.parser.print_usage(sys.stderr)
    print(f"{bad.parser.prog}: error: {bad.message}", file=sys.stderr)
    return FIXABLE


def _run(args: argparse.Namespace) -> int:
    try:
        code: int = args.run(args)
        return code
    except (CallFailed, UserError) as error:
        return report(error, as_json=getattr(args, "json", False))
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`renderq logs 3 | head`): nothing left to say to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
