"""systemd: a unit in /etc/systemd/system (``--user``: ~/.config/systemd/user) and, for
secrets, an environment file only root (or the user) can read.

The unit uses only what systemd 252 (Debian 12) accepts: ``systemd-analyze verify``
there warns about RestartSteps= and RestartMaxDelaySec= (254), so a failed service is
restarted after a fixed delay rather than a growing one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from renderq.cli.service_spec import Service
from renderq.cli.service_steps import MakeDir, Plan, RemoveFile, Run, Step, WriteFile

SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
SYSTEM_ENV_DIR = Path("/etc/renderq")
RESTART_DELAY_S = 10

_PLAIN_WORD = re.compile(r"[\w@%+=:,./-]+", re.ASCII)
_PLAIN_VALUE = re.compile(r"[\w@%+=:,./-]*", re.ASCII)


@dataclass(frozen=True)
class Places:
    """Where the unit and its environment file live."""

    unit: Path
    env_file: Path

    @classmethod
    def of(cls, kind: str, per_user: bool) -> Places:
        name = f"renderq-{kind}.service"
        if not per_user:
            return cls(SYSTEM_UNIT_DIR / name, SYSTEM_ENV_DIR / f"{kind}.env")
        config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        return cls(config / "systemd" / "user" / name, config / "renderq" / f"{kind}.env")


def systemctl(per_user: bool) -> tuple[str, ...]:
    return ("systemctl", "--user") if per_user else ("systemctl",)


def follow_log(name: str, per_user: bool) -> str:
    return f"journalctl {'--user ' if per_user else ''}-u {name}.service -f"


def install(service: Service, places: Places) -> Plan:
    """Write the unit (and the secrets), then reload, enable and (re)start: a restart,
    not ``enable --now``, so that a service already running takes its new flags."""
    unit, text = f"{service.name}.service", unit_text(service, places)
    steps: list[Step] = [
        MakeDir(Path(service.data_dir), owner=service.owner),
        WriteFile(places.unit, text.encode()),
    ]
    if service.secrets:
        names = ", ".join(name for name, _ in service.secrets)
        secrets = env_text(service, _read(places.env_file))
        steps.append(WriteFile(places.env_file, secrets.encode(), mode=0o600, holds=names))
    command = systemctl(service.per_user)
    steps += [
        Run((*command, "daemon-reload")),
        Run((*command, "enable", unit)),
        Run((*command, "restart", unit)),
    ]
    done = [
        f"{unit} is enabled and started; follow its log with: {follow_log(service.name, service.per_user)}"
    ]
    if service.per_user:
        done.append(
            "A user unit runs while you are logged in; to start it at boot and keep it after you log "
            f"out: loginctl enable-linger {os.environ.get('USER') or '$USER'}"
        )
    return Plan(tuple(steps), preview=text, done=tuple(done))


def uninstall(kind: str, per_user: bool, places: Places) -> tuple[Plan, str]:
    """Stop and disable, then remove the unit and its secrets; and the data folder the
    unit named (kept), or "" when nothing is installed."""
    unit = places.unit.name
    if not places.unit.exists():
        other = "a system unit? leave out --user" if per_user else "a user unit? pass --user"
        said = f"{unit} is not installed (no {places.unit}; {other}); nothing to remove"
        return Plan((), notes=(said,)), ""
    command = systemctl(per_user)
    steps: list[Step] = [Run((*command, "disable", "--now", unit)), RemoveFile(places.unit)]
    if places.env_file.exists():
        steps.append(RemoveFile(places.env_file))
    steps.append(Run((*command, "daemon-reload")))
    plan = Plan(tuple(steps), done=(f"{unit} is stopped, disabled and removed",))
    return plan, working_directory(_read(places.unit))


def unit_text(service: Service, places: Places) -> str:
    removal = f"renderq {service.kind} uninstall-service{' --user' if service.per_user else ''}"
    reader = "you" if service.per_user else "root"
    lines = [
        f"# Written by `renderq {service.kind} install-service`; `{removal}` removes it.",
        f"# Secrets are not written here but in {places.env_file}, readable by {reader} only.",
        "[Unit]",
        f"Description={service.description}",
        *_network(service.per_user),
        "",
        "[Service]",
        "Type=exec",
        *_identity(service.user),
        f"WorkingDirectory={_setting(service.data_dir)}",
        "Environment=PYTHONUNBUFFERED=1",
        f"EnvironmentFile=-{_setting(str(places.env_file))}",
        f"ExecStart={' '.join(exec_word(word) for word in service.argv)}",
        "Restart=on-failure",
        "# A fixed delay: a growing one (RestartSteps=, RestartMaxDelaySec=) needs systemd 254.",
        f"RestartSec={RESTART_DELAY_S}s",
        "# SIGTERM reaches renderq alone: it stops its own tasks (SIGTERM, kill grace, SIGKILL)",
        "# and says goodbye; what is left when TimeoutStopSec= runs out is killed.",
        "KillMode=mixed",
        f"TimeoutStopSec={service.stop_timeout_s}s",
        f"SyslogIdentifier={service.name}",
        "",
        "[Install]",
        f"WantedBy={'default.target' if service.per_user else 'multi-user.target'}",
    ]
    return "\n".join(lines) + "\n"


def _network(per_user: bool) -> list[str]:
    """A system service waits for the network; a user manager cannot see network-online.target."""
    if per_user:
        return []
    return ["After=network-online.target", "Wants=network-online.target"]


def _identity(user: str) -> list[str]:
    if not user:
        return []
    group = _primary_group(user)
    return [f"User={user}", *([f"Group={group}"] if group else [])]


def _primary_group(user: str) -> str:
    """The user's primary group where this machine knows the user; "" lets systemd look it up."""
    if user == "root":
        return "root"
    try:
        import grp
        import pwd

        return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except (ImportError, KeyError):
        return ""


def env_text(service: Service, existing: str) -> str:
    """The environment file: what it held, with the given secrets replaced or added."""
    names = {name for name, _ in service.secrets}
    header = f"# Secrets of {service.name}.service, read by systemd when it starts it. Keep it mode 0600."
    kept = [
        line for line in (existing.splitlines() or [header]) if line.partition("=")[0].strip() not in names
    ]
    return "\n".join([*kept, *(f"{name}={_env_value(value)}" for name, value in service.secrets)]) + "\n"


def _env_value(value: str) -> str:
    if _PLAIN_VALUE.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def exec_word(word: str) -> str:
    """One word of ExecStart=, quoted the way systemd reads it: ``%`` and ``$`` doubled
    (no specifier, no variable), and double quotes around anything but plain characters."""
    text = word.replace("%", "%%").replace("$", "$$")
    if _PLAIN_WORD.fullmatch(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _setting(path: str) -> str:
    """A path as a setting's value: only ``%`` (a specifier) needs doubling."""
    return path.replace("%", "%%")


def working_directory(unit: str) -> str:
    """The data folder an installed unit names."""
    for line in unit.splitlines():
        if line.startswith("WorkingDirectory="):
            return line.partition("=")[2].replace("%%", "%")
    return ""


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
