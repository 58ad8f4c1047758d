"""What a service runs, whatever the OS: the server's flags, checked by the server's own
parser, with the secrets taken out, paths made absolute and the data folder named.

A service starts far from the shell that installed it (another working directory, no
environment, maybe another machine), so the command it runs must stand on its own: a
relative path would point elsewhere, a secret on the command line would be readable by
every user (``ps``, the unit file, the registry), and a typo would only show in the log
of a service that keeps restarting. Hence everything here happens before anything is
written.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any, Literal, NoReturn, cast

from renderq import farm_key, settings
from renderq.agent import config as agent_config
from renderq.cli import servers
from renderq.cli.failures import UserError
from renderq.controller import config as controller_config

if TYPE_CHECKING:
    from renderq.cli.connection import Verbs

Os = Literal["linux", "macos", "windows"]
OS_NAMES: tuple[Os, ...] = ("linux", "macos", "windows")
KINDS = ("agent", "controller")

Config = agent_config.AgentConfig | controller_config.ControllerConfig

STOP_MARGIN_S = 30
"""Seconds a service may take to stop beyond the agent's kill grace: its goodbye to the
controller, the last events, the store's last write."""

SYSTEM_DATA_DIRS: dict[Os, PurePath] = {
    "linux": PurePosixPath("/var/lib/renderq"),
    "macos": PurePosixPath("/Library/Application Support/renderq"),
    "windows": PureWindowsPath(r"C:\ProgramData\renderq"),
}
"""The controller's data folder as a system service; the agent's is ``agent`` inside, as
it is under the per-user default (renderq/xdg.py)."""


def this_os() -> Os | None:
    if sys.platform.startswith("linux"):
        return "linux"
    if sys.platform == "darwin":
        return "macos"
    return "windows" if sys.platform == "win32" else None


@dataclass(frozen=True)
class Target:
    """Where the service will run: which OS, system-wide or for one user, and whether
    that is this machine (only then can its files be written and its users looked up)."""

    os: Os
    per_user: bool = False

    @property
    def native(self) -> bool:
        return self.os == this_os()

    def path(self, text: str) -> PurePath:
        return PureWindowsPath(text) if self.os == "windows" else PurePosixPath(text)


@dataclass(frozen=True)
class Service:
    kind: str
    """``agent`` or ``controller``."""
    argv: tuple[str, ...]
    """The whole command: interpreter, ``-m renderq``, the verb and its flags; no secret."""
    data_dir: str
    secrets: tuple[tuple[str, str], ...] = ()
    """(environment variable, value) pairs the service needs and its command must not show."""
    user: str = ""
    """Who a system service runs as; empty for a per-user service (or Windows' LocalSystem)."""
    stop_timeout_s: int = STOP_MARGIN_S
    per_user: bool = False
    unseen: tuple[str, ...] = ()
    """Variables of this shell that set a setting the service will not have: it starts
    with an environment of its own."""

    @property
    def name(self) -> str:
        return f"renderq-{self.kind}"

    @property
    def owner(self) -> str | None:
        """Who the folders and files the service writes to must belong to: its user, when
        that is not root (nor the user installing a per-user service)."""
        return self.user if self.user not in ("", "root") else None

    @property
    def description(self) -> str:
        return f"renderq render farm {self.kind}"

    def join_key(self) -> bytes | None:
        """The farm key in the join token, for systems with no file of environment
        variables (launchd, Windows): the agent finds it in its data folder instead."""
        join = join_variable()
        others = sorted(name for name, _ in self.secrets if name != join)
        if others:
            raise UserError(f"this service manager has no file for secrets: {', '.join(others)}")
        token = dict(self.secrets).get(join)
        return farm_key.from_token(token) if token else None


@dataclass(frozen=True)
class Flag:
    """One flag as typed: ``--slots 2`` or ``--slots=2``."""

    action: argparse.Action
    option: str
    values: tuple[str, ...]
    inline: bool = False

    def words(self) -> list[str]:
        if self.inline:
            return [f"{self.option}={self.values[0]}"]
        return [self.option, *self.values]


class StrictParser(argparse.ArgumentParser):
    """A parser that raises instead of exiting and takes no abbreviation: the unit must
    say ``--data-dir``, not ``--data``, and a server's flag must never pass for an
    abbreviation of one of install-service's own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UserError(f"`{self.prog}`: {message}; nothing was written")


def server_parser(kind: str) -> argparse.ArgumentParser:
    """``renderq agent``'s (or ``controller``'s) parser, built by the module that runs it."""
    root = StrictParser(prog="renderq")
    verbs = cast("Verbs", root.add_subparsers(dest="verb"))
    servers.register(verbs)
    parser = verbs.choices[kind]
    assert isinstance(parser, argparse.ArgumentParser)
    return parser


def schema(kind: str) -> settings.Schema[Any]:
    return agent_config.SCHEMA if kind == "agent" else controller_config.SCHEMA


def secret_variable(setting: settings.Setting) -> str:
    """The variable a service gets a secret setting from: the name operators know (the
    older one a setting keeps, ``RENDERQ_JOIN_TOKEN``), else the derived one."""
    return setting.variables[-1]


def join_variable() -> str:
    join = agent_config.SCHEMA.setting("join")
    assert join is not None
    return secret_variable(join)


def build(kind: str, words: Sequence[str], target: Target, python: str | None, user: str | None) -> Service:
    """The service for ``renderq KIND WORDS``, or a UserError that says what to fix."""
    parser = server_parser(kind)
    first = _load(kind, parser.parse_args(words), target)
    secret = {s.flag: s for s in schema(kind).settings if s.secret}
    flags = split_flags(parser, words)
    secrets = _secrets(kind, [f for f in flags if f.option in secret], first)
    kept = [_absolute(f, target) for f in flags if f.option not in secret]
    data_dir = _flag_value(kept, "--data-dir")
    if not data_dir:
        data_dir = _default_data_dir(first, target)
        kept.append(Flag(parser._option_string_actions["--data-dir"], "--data-dir", (data_dir,)))
    command = [word for flag in kept for word in flag.words()]
    loaded = _load(kind, parser.parse_args(command), target)
    return Service(
        kind=kind,
        argv=(_interpreter(python, target), "-m", "renderq", kind, *command),
        data_dir=data_dir,
        secrets=secrets,
        per_user=target.per_user,
        user=_service_user(target, user, loaded),
        stop_timeout_s=_stop_timeout(loaded.config),
        unseen=_unseen(kind, loaded),
    )


def split_flags(parser: argparse.ArgumentParser, words: Sequence[str]) -> list[Flag]:
    """``words`` as flags, each with its values; ``parser`` has accepted them already."""
    flags: list[Flag] = []
    index = 0
    while index < len(words):
        option, equals, inline = words[index].partition("=")
        action = parser._option_string_actions[option]
        if equals:
            flags.append(Flag(action, option, (inline,), inline=True))
            index += 1
            continue
        count = _value_count(action, words[index + 1 :])
        flags.append(Flag(action, option, tuple(words[index + 1 : index + 1 + count])))
        index += 1 + count
    return flags


def _value_count(action: argparse.Action, rest: Sequence[str]) -> int:
    if isinstance(action.nargs, int):
        return action.nargs
    if action.nargs is None:
        return 1
    values = 0
    while values < len(rest) and not rest[values].startswith("-"):
        values += 1
    return min(values, 1) if action.nargs == "?" else values


def _secrets(kind: str, given: list[Flag], loaded: settings.Loaded[Config]) -> tuple[tuple[str, str], ...]:
    """The secrets given as flags or set in this shell's environment (where the server
    itself would find them), by the variable the service gets each from."""
    secrets: dict[str, str] = {}
    for setting in (s for s in schema(kind).settings if s.secret):
        flag = next((f for f in given if f.option == setting.flag), None)
        if flag is not None:
            secrets[secret_variable(setting)] = flag.values[0]
        elif loaded.origins[setting.key].source == "environment":
            secrets[secret_variable(setting)] = str(getattr(loaded.config, setting.attr))
    token = secrets.get(join_variable())
    if token is not None:
        try:
            farm_key.from_token(token)
        except farm_key.FarmKeyError as exc:
            raise UserError(f"--join: {exc}; nothing was written") from None
    return tuple(sorted(secrets.items()))


def _absolute(flag: Flag, target: Target) -> Flag:
    """A path flag's value made absolute from here; on another OS it must be absolute already."""
    if flag.action.type is not Path or not flag.values:
        return flag
    value = flag.values[0]
    if target.path(value).is_absolute():
        return flag
    if not target.native:
        raise UserError(f"{flag.option} {value}: give an absolute path for a service on {target.os}")
    return replace(flag, values=(os.path.abspath(os.path.expanduser(value)),))


def _flag_value(flags: list[Flag], option: str) -> str:
    return next((f.values[0] for f in flags if f.option == option and f.values), "")


def _load(kind: str, args: argparse.Namespace, target: Target) -> settings.Loaded[Config]:
    """The settings the server would start with here (its files, this environment, the
    flags): what it would refuse at start is refused now."""
    if not target.native:
        args.config = None  # a file on the other machine, not this one's
    try:
        loaded: settings.Loaded[Config] = settings.load(schema(kind), args)
    except settings.SettingsError as error:
        raise UserError(f"{kind} settings: {error}; nothing was written") from None
    return loaded


def _stop_timeout(config: Config) -> int:
    """Longer than the agent's kill grace, so that its tasks die by its hand and it says
    goodbye before the service manager kills what is left."""
    grace = config.kill_grace if isinstance(config, agent_config.AgentConfig) else 0.0
    return math.ceil(grace) + STOP_MARGIN_S


def _default_data_dir(loaded: settings.Loaded[Config], target: Target) -> str:
    """The folder a settings file or variable names; else for a system service the
    system's place for such state, for a per-user one the server's own default."""
    if loaded.origins["data_dir"].source != "default" or (target.per_user and target.native):
        return str(loaded.config.data_dir)
    if target.per_user:
        raise UserError(f"pass --data-dir: a per-user service on {target.os} cannot use folders of this one")
    base = SYSTEM_DATA_DIRS[target.os]
    return str(base / "agent" if isinstance(loaded.config, agent_config.AgentConfig) else base)


def _interpreter(python: str | None, target: Target) -> str:
    """This Python, as invoked (a venv's ``bin/python`` stays a venv's, not the symlink's
    target), unless --python names the one on the other machine."""
    if python is None:
        if not target.native:
            raise UserError(f"pass --python PATH: the Python interpreter on the {target.os} machine")
        return os.path.abspath(sys.executable)
    if not target.path(python).is_absolute():
        raise UserError(f"--python {python}: give the interpreter's absolute path")
    return python


def _service_user(target: Target, user: str | None, loaded: settings.Loaded[Config]) -> str:
    """Root by default: the agent drops privileges per task (--run-as), which only root can."""
    if target.os == "windows" and user:
        raise UserError(
            "--service-user is for systemd and launchd: a Windows service runs as LocalSystem; "
            "change its account later with `sc.exe config NAME obj= ACCOUNT password= PASSWORD`"
        )
    if target.per_user or target.os == "windows":
        if user:
            raise UserError("--service-user is for a system service: a per-user service runs as you")
        return ""
    chosen = user or "root"
    run_as = getattr(loaded.config, "run_as", None)
    if chosen != "root" and run_as and loaded.origins["run_as"].source in ("flag", "file"):
        raise UserError(f"--run-as needs an agent running as root, not as {chosen}")
    return chosen


def _unseen(kind: str, loaded: settings.Loaded[Config]) -> tuple[str, ...]:
    """The variables of this shell behind a setting (secrets aside: they are carried)."""
    secret = {s.key for s in schema(kind).settings if s.secret}
    return tuple(
        str(origin.where)
        for key, origin in loaded.origins.items()
        if origin.source == "environment" and key not in secret
    )
