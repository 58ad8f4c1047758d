"""The unprivileged user that tasks run as when the agent runs as root.

A task runs whatever its job asks (a scene's scripts, a plugin's programs), so on a
node where the agent needs root, the operator names a user (``--run-as``) whose
rights are all a task gets. The user is resolved once at start: a typo or a
privileged user stops the agent with a sentence instead of failing every task.

Tasks switch users through util-linux's ``setpriv``, not subprocess's ``user=``:
``user=`` makes Python fork the agent instead of vfork it, the fork runs gRPC's
fork handlers while gRPC threads are busy, and the child now and then dies of
SIGSEGV before it runs the task. A plain spawn of ``setpriv`` runs none of them.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from renderq.agent.config import AgentConfig

if sys.platform != "win32":
    import pwd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskUser:
    name: str
    uid: int
    gid: int
    """The user's primary group, the only group its tasks get."""
    home: str
    setpriv: str
    """Absolute path of the program that switches to the user, found at start."""

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run as this user, with its primary group and none of the agent's
        supplementary groups (root's). setpriv execs the program: the pid stays the same."""
        return [self.setpriv, f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups", "--", *argv]

    def environment(self) -> dict[str, str]:
        """What a login as this user would set: programs find their settings under HOME."""
        return {"HOME": self.home, "USER": self.name, "LOGNAME": self.name}


def resolve_task_user(config: AgentConfig) -> TaskUser | None:
    """The user tasks run as, or None when they run as the agent's own user.

    Raises ValueError, with a sentence for the operator, for an unknown or a privileged
    user, or when this node has no way to switch users.
    """
    root = _is_root()
    if not config.run_as:
        if root:
            log.warning(
                "tasks run as root: anything a job runs can take over this node; "
                "start the agent with --run-as USER (or $RENDERQ_RUN_AS) to run them as an unprivileged user"
            )
        return None
    if not root:
        log.warning(
            "--run-as %s ignored: only an agent running as root can switch users, "
            "so tasks run as the agent's own user",
            config.run_as,
        )
        return None
    try:
        entry = pwd.getpwnam(config.run_as)
    except KeyError:
        raise ValueError(f"--run-as {config.run_as}: there is no such user on this node") from None
    if entry.pw_uid == 0:
        raise ValueError(
            f"--run-as {config.run_as}: tasks must run as an unprivileged user, and this one has uid 0"
        )
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise ValueError(
            f"--run-as {config.run_as}: switching users needs setpriv (from util-linux) on the agent's PATH"
        )
    user = TaskUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, setpriv)
    log.info("tasks run as user=%s uid=%d gid=%d", user.name, user.uid, user.gid)
    return user


def check_can_enter(user: TaskUser, folder: Path) -> None:
    """Create ``folder`` and make sure ``user`` can enter it: tasks name their workspaces
    below it by absolute paths (``{renders}``), which fail for a user that a folder above
    stops (root's home is mode 700), frame after frame with a bare "permission denied".

    Asked of the user's own ``test -x``, which also honours ACLs and proves that switching
    to the user works. Raises ValueError with a sentence for the operator.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = subprocess.run(
            user.command(["test", "-x", str(folder)]), capture_output=True, text=True, check=False
        )
    except OSError as exc:
        reason = exc.strerror or exc
        raise ValueError(f"cannot prepare the job workspaces folder {folder}: {reason}") from None
    if probe.returncode == 0:
        return
    if probe.stderr.strip():
        raise ValueError(f"cannot run tasks as {user.name}: {probe.stderr.strip().splitlines()[-1]}")
    raise ValueError(
        f"tasks run as {user.name} cannot enter {folder}: every folder above it must let "
        f"{user.name} through; choose a --data-dir that {user.name} can reach"
    )


def _is_root() -> bool:
    return sys.platform != "win32" and os.geteuid() == 0
