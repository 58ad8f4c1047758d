"""launchd (macOS): a property list in /Library/LaunchDaemons (``--user``:
~/Library/LaunchAgents), loaded with ``launchctl bootstrap``.

launchd reads no file of environment variables and every user can read a plist, so no
secret goes in it: the agent's join token is written as the farm key into its data
folder (mode 0600, owned by the service's user), where the agent looks for it at every
start; it needs no token after that.
"""

from __future__ import annotations

import os
import plistlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from renderq import farm_key
from renderq.cli.service_spec import Service
from renderq.cli.service_steps import MakeDir, Plan, RemoveFile, Run, Step, WriteFile

SYSTEM_PLIST_DIR = Path("/Library/LaunchDaemons")
SYSTEM_LOG_DIR = Path("/Library/Logs/renderq")
RESTART_DELAY_S = 10
"""launchd's ThrottleInterval: at least this long between two starts."""


@dataclass(frozen=True)
class Places:
    """Where the plist and the log live, and the launchd domain that runs the job."""

    plist: Path
    log: Path
    domain: str

    @classmethod
    def of(cls, kind: str, per_user: bool) -> Places:
        name = f"renderq-{kind}"
        if not per_user:
            return cls(SYSTEM_PLIST_DIR / f"{name}.plist", SYSTEM_LOG_DIR / f"{name}.log", "system")
        home = Path.home() / "Library"
        uid = os.getuid() if hasattr(os, "getuid") else 501
        return cls(
            home / "LaunchAgents" / f"{name}.plist", home / "Logs" / "renderq" / f"{name}.log", f"gui/{uid}"
        )


def install(service: Service, places: Places) -> Plan:
    """Make the folders, keep the key, write the plist, then load it afresh (bootout of a
    job already loaded, so that it takes its new arguments; then enable and bootstrap)."""
    owner = service.owner
    steps: list[Step] = [
        MakeDir(Path(service.data_dir), owner=owner),
        MakeDir(places.log.parent, owner=owner),
    ]
    notes: tuple[str, ...] = ()
    key = service.join_key()
    if key is not None:
        key_file = Path(service.data_dir) / farm_key.FILE_NAME
        steps.append(WriteFile(key_file, key, mode=0o600, owner=owner, holds="the farm key"))
        notes = (
            f"The join token is not put in the plist (every user can read it): the farm key goes to "
            f"{key_file} (mode 0600), where the agent reads it at every start.",
        )
    job = f"{places.domain}/{service.name}"
    steps += [
        WriteFile(places.plist, plist_bytes(service, places)),
        Run(("launchctl", "bootout", job), may_fail=True),
        Run(("launchctl", "enable", job)),
        Run(("launchctl", "bootstrap", places.domain, str(places.plist))),
    ]
    done = (f"{service.name} is loaded and started; follow its log with: tail -f {places.log}",)
    return Plan(tuple(steps), preview=plist_bytes(service, places).decode(), done=done, notes=notes)


def plist_bytes(service: Service, places: Places) -> bytes:
    """The job: restarted when it fails (not when it is stopped), its output in one log."""
    job: dict[str, Any] = {
        "Label": service.name,
        "ProgramArguments": list(service.argv),
        "WorkingDirectory": service.data_dir,
        "EnvironmentVariables": {"PYTHONUNBUFFERED": "1"},
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ThrottleInterval": RESTART_DELAY_S,
        # Seconds between SIGTERM and SIGKILL: longer than the agent's kill grace.
        "ExitTimeOut": service.stop_timeout_s,
        "StandardOutPath": str(places.log),
        "StandardErrorPath": str(places.log),
    }
    if service.owner:
        job["UserName"] = service.owner
    return plistlib.dumps(job, sort_keys=False)


def uninstall(kind: str, per_user: bool, places: Places) -> tuple[Plan, str]:
    """Unload the job and remove its plist; and the data folder it named (kept)."""
    if not places.plist.exists():
        other = "a system job? leave out --user" if per_user else "a job of your own? pass --user"
        return Plan(
            (), notes=(f"renderq-{kind} is not installed (no {places.plist}; {other}); nothing to remove",)
        ), ""
    try:
        data_dir = str(plistlib.loads(places.plist.read_bytes()).get("WorkingDirectory", ""))
    except (OSError, plistlib.InvalidFileException):
        data_dir = ""
    steps = (
        Run(("launchctl", "bootout", f"{places.domain}/renderq-{kind}"), may_fail=True),
        RemoveFile(places.plist),
    )
    return Plan(
        steps, done=(f"renderq-{kind} is stopped and removed; its log {places.log} is kept",)
    ), data_dir
