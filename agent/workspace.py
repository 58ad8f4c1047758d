"""Per-job workspaces on the agent: ``<workspaces>/<owner>/<job>/``.

Every job gets its own folder so tasks of different jobs never see each other's
files, and the folder stays after the job: a failed frame retried later on this node
finds its project files and earlier renders where they were. Jobs are grouped by
owner, so a person on the node finds theirs at a glance (and ``renderq cleanup`` has
one folder per job to remove).

The owner's name and the job's folder come from the controller, and tasks may plant
symbolic links in what they own: the name becomes one safe folder name
(``owner_folder``), and no folder on the way is ever followed through a link.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from renderq.agent.run_as import TaskUser
from renderq.v1 import agent_service_pb2 as apb

MAX_OWNER_FOLDER = 64
"""Characters of an owner's folder name: far below every file system's limit on a name."""
_SAFE_OWNER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]*")
"""Names every OS takes as one plain folder name: no separator, colon (a drive), NUL,
space or leading dot, and no leading ``_``, which only the hashed names below start with."""
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul", *(f"com{n}" for n in range(10)), *(f"lpt{n}" for n in range(10))}
)
"""Names Windows opens as devices instead of folders, whatever the extension (``nul.txt``)."""
_HASHED_LENGTH = 12
"""Hex digits of SHA-256 in a hashed owner folder: enough that two names never meet by chance."""


def owner_folder(owner: str) -> str:
    """The folder name of ``owner``'s jobs: the name itself when it is one safe folder name
    on every OS, else ``_`` and the start of its SHA-256 (``_3f2a9c01b7de``), so that an
    empty, hostile or merely exotic name (``../etc``, ``C:``, ``José``) still gets a folder
    of its own that no safe name can take."""
    if (
        len(owner) <= MAX_OWNER_FOLDER
        and _SAFE_OWNER.fullmatch(owner)
        and ".." not in owner
        and not owner.endswith(".")
        and owner.split(".", 1)[0].lower() not in _WINDOWS_DEVICES
    ):
        return owner
    return "_" + hashlib.sha256(owner.encode()).hexdigest()[:_HASHED_LENGTH]


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def for_job(cls, workspaces: Path, assignment: apb.AssignTask, user: TaskUser | None) -> Workspace:
        """The workspace of the assignment's job, in its owner's folder under ``workspaces``,
        created on first use and given to ``user``, the user its tasks run as (None: the
        agent's own), so they can write there. Its path is absolute: output paths reported
        to the controller are built on it. Raises OSError, with a sentence, where a link or
        a file stands in the place of one of its folders."""
        root, folders = _job_folders(workspaces, assignment.owner, assignment.job_id)
        workspace = cls(root)
        if not os.path.isdir(workspaces):
            workspaces.mkdir(parents=True, exist_ok=True)
        # The owner's folder stays the agent's: a task cannot swap its job's folder for a link.
        for folder in folders:
            _make_folder(folder)
        if user is not None:
            # The user must pass through the owner's folder, whatever the agent's umask made it
            # (only the agent can change it, and it was checked to be a folder just now).
            os.chmod(folders[0], 0o755)
            # Also on every later use (a workspace may predate --run-as), and never through a
            # link: the user may have replaced a folder with one pointing anywhere, say /etc.
            for folder in folders[1:]:
                os.chown(folder, user.uid, user.gid, follow_symlinks=False)
        return workspace

    @property
    def source(self) -> Path:
        """Files as they arrived from the controller (archives before unpacking)."""
        return self.root / "source"

    @property
    def project(self) -> Path:
        """The project the renderer opens."""
        return self.root / "project"

    @property
    def renders(self) -> Path:
        """Where renderers write their frames."""
        return self.root / "renders"

    def tokens(self) -> dict[str, str]:
        """The command tokens that name this workspace's places."""
        root = str(self.root)  # joined as text: four paths built per task were a good part of its start
        return {
            "{workspace}": root,
            "{source}": f"{root}{os.sep}source",
            "{project}": f"{root}{os.sep}project",
            "{renders}": f"{root}{os.sep}renders",
        }


@functools.lru_cache(maxsize=64)
def _job_folders(workspaces: Path, owner: str, job_id: int) -> tuple[Path, tuple[str, ...]]:
    """A job's workspace root (absolute), and the folders every task of it checks: the
    owner's, the root, then its places. Built once per job as text, not as paths per task."""
    root = (workspaces / owner_folder(owner) / str(job_id)).absolute()
    places = (root.parent, root, root / "source", root / "project", root / "renders")
    return root, tuple(str(place) for place in places)


def _make_folder(folder: str) -> None:
    """Create ``folder`` (its parent is a checked folder) unless it exists, and make sure it
    is a real folder: whatever was created below a link would land where the link points.

    Looked at before it is made: every task of a job finds its folders there, and an
    ``lstat`` is one system call where a ``mkdir`` that fails is one plus an exception."""
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        with contextlib.suppress(FileExistsError):  # made by another task just now
            os.mkdir(folder)
        mode = os.lstat(folder).st_mode
    if not stat.S_ISDIR(mode):
        raise OSError(
            errno.ENOTDIR,
            f"{folder} is a symbolic link or a file, not a folder (the agent never follows a link "
            "in a workspace); remove it, or run `renderq cleanup` on the job",
        )
