"""``renderq agent install-service [FLAGS]``, ``renderq controller install-service [FLAGS]``
and their ``uninstall-service``: run a server under the OS's service manager.

The flags are the server's own, checked by its own parser before anything is written
(service_spec.py); each OS's module says what to write and run (systemd, launchd) or
what to type (Windows), as a Plan that service_steps.py carries out or only shows.
``main.py`` routes these two words here before its own parser sees them, because
``renderq agent`` takes flags, not subcommands.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from renderq import farm_key
from renderq.cli import service_launchd, service_systemd, service_windows
from renderq.cli.failures import INTERRUPTED, UserError, report, warn
from renderq.cli.service_spec import (
    KINDS,
    OS_NAMES,
    SYSTEM_DATA_DIRS,
    Service,
    StrictParser,
    Target,
    build,
    this_os,
)
from renderq.cli.service_steps import Plan, carry_out, preview
from renderq.xdg import data_home

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs

INSTALL = "install-service"
UNINSTALL = "uninstall-service"

DATA_KEPT = {
    "agent": "the node's id and farm key: installed again, it carries on as the same node",
    "controller": "the farm's database, key, tokens and task logs",
}

INSTALL_EPILOG = """\
{kind} flags: every flag of `renderq {kind}` (see `renderq {kind} --help`), checked by its
own parser before anything is written. Paths are made absolute. Without --data-dir the
service keeps its state in {linux_dir} (macOS: {macos_dir};
Windows: {windows_dir}; --user: the usual per-user folder).
Secrets{secret_flags} never go in the unit: systemd reads them from
/etc/renderq/{kind}.env (--user: ~/.config/renderq/{kind}.env), mode 0600{elsewhere}.

examples:
  sudo renderq {kind} install-service {example}
  renderq {kind} install-service --dry-run > renderq-{kind}.service
  systemd-analyze verify ./renderq-{kind}.service
  renderq {kind} install-service --os windows --python 'C:\\Python312\\python.exe'
"""

EXAMPLE_FLAGS = {"agent": "--join rqk_... --slots 2 --run-as render", "controller": "--service-user renderq"}


def handles(words: Sequence[str]) -> bool:
    """Whether ``words`` ask for a service verb: ``agent install-service ...`` and the like."""
    return len(words) >= 2 and words[0] in KINDS and words[1] in (INSTALL, UNINSTALL)


def mention_in(verbs: Verbs) -> None:
    """Say in ``renderq agent --help`` (and the controller's) that the service verbs exist."""
    for kind in KINDS:
        parser = verbs.choices[kind]
        text = (
            f"As a service (systemd, launchd or Windows): `renderq {kind} {INSTALL} [FLAGS]`, "
            f"removed with `renderq {kind} {UNINSTALL}`; see their --help."
        )
        parser.epilog = f"{parser.epilog}\n\n{text}" if parser.epilog else text


def run(words: Sequence[str], command: Sequence[str] = ()) -> int:
    """Run ``renderq KIND install-service|uninstall-service ...``; return the exit code."""
    kind, verb, rest = words[0], words[1], list(words[2:])
    try:
        if command:
            raise UserError(f"{verb} takes no command after --")
        if verb == INSTALL:
            install(kind, rest)
        else:
            uninstall(kind, rest)
        return 0
    except UserError as error:
        return report(error)
    except KeyboardInterrupt:
        return INTERRUPTED


def install(kind: str, words: list[str]) -> None:
    options, server_words = _install_parser(kind).parse_known_args(words)
    target = _target(options)
    service = build(kind, server_words, target, options.python, options.service_user)
    if service.unseen:
        warn(
            f"the service will not see ${', $'.join(service.unseen)} from this shell: "
            f"give {'them' if len(service.unseen) > 1 else 'it'} as flags (or in {service.kind}.toml)"
        )
    plan = _with_notes(_install_plan(service, target), service, target)
    if options.dry_run or target.os == "windows":
        preview(plan)
        return
    _check_can_change(target, service.user)
    carry_out(plan)


def uninstall(kind: str, words: list[str]) -> None:
    options, extra = _uninstall_parser(kind).parse_known_args(words)
    if extra:
        raise UserError(f"{UNINSTALL} takes none of the flags of `renderq {kind}`: {' '.join(extra)}")
    target = _target(options)
    if target.os == "windows":
        preview(service_windows.uninstall(kind))
        return
    if target.os == "linux":
        places = service_systemd.Places.of(kind, target.per_user)
        plan, data_dir = service_systemd.uninstall(kind, target.per_user, places)
    else:
        plist = service_launchd.Places.of(kind, target.per_user)
        plan, data_dir = service_launchd.uninstall(kind, target.per_user, plist)
    if data_dir:
        kept = (
            f"Its data folder {data_dir} is kept ({DATA_KEPT[kind]}); delete it by hand if no longer needed."
        )
        plan = replace(plan, done=(*plan.done, kept))
    if options.dry_run or not plan.steps:
        preview(plan)
        return
    _check_can_change(target, "")
    carry_out(plan)


def _install_parser(kind: str) -> StrictParser:
    agent = kind == "agent"
    epilog = INSTALL_EPILOG.format(
        kind=kind,
        linux_dir=SYSTEM_DATA_DIRS["linux"] / ("agent" if agent else ""),
        macos_dir=SYSTEM_DATA_DIRS["macos"] / ("agent" if agent else ""),
        windows_dir=SYSTEM_DATA_DIRS["windows"] / ("agent" if agent else ""),
        secret_flags=" (--join, or $RENDERQ_JOIN_TOKEN)" if agent else "",
        elsewhere="; launchd and Windows keep the farm key in the data folder instead" if agent else "",
        example=EXAMPLE_FLAGS[kind],
    )
    description = (
        f"Run `renderq {kind}` as a service that starts at boot and restarts after a failure:\n"
        "a systemd unit (reloaded, enabled and started), a launchd job on macOS, or the\n"
        "sc.exe command lines for Windows (printed)."
    )
    parser = _parser(kind, INSTALL, description, epilog)
    parser.usage = f"%(prog)s [options] [{kind.upper()} FLAGS...]"
    parser.add_argument(
        "--service-user", metavar="USER", default=None,
        help="the user a system service runs as (default root: the agent's --run-as drops "
        "privileges per task)",
    )  # fmt: skip
    parser.add_argument(
        "--python", metavar="PATH", default=None,
        help="the Python interpreter that runs renderq (default: this one; required for another OS)",
    )  # fmt: skip
    return parser


def _uninstall_parser(kind: str) -> StrictParser:
    return _parser(
        kind,
        UNINSTALL,
        f"Stop and remove the `renderq {kind}` service and its file of secrets; its data folder is kept.",
    )


def _parser(kind: str, verb: str, description: str, epilog: str | None = None) -> StrictParser:
    """The options both verbs take."""
    parser = StrictParser(
        prog=f"renderq {kind} {verb}",
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--user", action="store_true",
        help="a service of your own (systemd --user, a launchd agent) instead of a system one",
    )  # fmt: skip
    parser.add_argument(
        "--os", choices=OS_NAMES, default=this_os(),
        help=f"the service manager's OS (default: this machine's, {this_os() or 'unknown'})",
    )  # fmt: skip
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the unit (or plist) and what would be done; change nothing",
    )
    return parser


def _target(options: argparse.Namespace) -> Target:
    if options.os is None:
        raise UserError(f"this machine's service manager is unknown: pass --os ({', '.join(OS_NAMES)})")
    if options.os == "windows" and options.user:
        raise UserError("--user: a Windows service is system-wide")
    return Target(options.os, per_user=options.user)


def _install_plan(service: Service, target: Target) -> Plan:
    if target.os == "linux":
        return service_systemd.install(service, service_systemd.Places.of(service.kind, target.per_user))
    if target.os == "macos":
        return service_launchd.install(service, service_launchd.Places.of(service.kind, target.per_user))
    return service_windows.install(service)


def _with_notes(plan: Plan, service: Service, target: Target) -> Plan:
    """What an operator must know once it runs: where verbs find the admin token, and an
    agent that will refuse every controller for want of the farm key."""
    notes, done = list(plan.notes), list(plan.done)
    data_dir = Path(service.data_dir)
    if service.kind == "controller" and target.os != "windows" and data_dir != data_home():
        who = f"{service.user or 'you'} only"
        done.append(
            f"Verbs on this machine find its admin token ({data_dir}/admin.token, readable by {who}) with "
            f"--data-dir {data_dir} or RENDERQ_DATA_DIR={data_dir}; others need `renderq token create`."
        )
    no_key = not service.secrets and not (data_dir / farm_key.FILE_NAME).exists()
    if service.kind == "agent" and target.native and no_key:
        notes.append(
            "This agent has no farm key yet and will refuse every controller: pass --join with the "
            "token from `renderq join-token` on the controller's machine."
        )
    return replace(plan, notes=tuple(notes), done=tuple(done))


def _check_can_change(target: Target, user: str) -> None:
    """Refuse, before writing anything, what cannot work on this machine."""
    if not target.native:
        raise UserError(
            f"this machine is not {target.os}: only --dry-run can show a {target.os} service here"
        )
    if not target.per_user and os.geteuid() != 0:
        raise UserError(
            "a system service needs root: run it with sudo, or pass --user for a service of your own"
        )
    if user and user != "root":
        import pwd

        try:
            pwd.getpwnam(user)
        except KeyError:
            raise UserError(
                f"--service-user {user}: there is no such user on this machine (create it first)"
            ) from None
