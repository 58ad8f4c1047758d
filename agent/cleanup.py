"""Removing the workspaces of ended jobs when the controller asks (``renderq cleanup``).

Workspaces stay after their job so that a retried frame finds its files; only the
controller knows when a job is over for good, so it asks every agent to remove the
folders of the jobs it names. Tasks may have left symbolic links anywhere in a workspace
(to /etc, to another job's renders): nothing here follows one. Sizes are read with lstat,
a link is removed as a link, and ``shutil.rmtree`` never descends into one. The work is
all file system calls, so it runs in a worker thread, never on the link's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import stat
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from renderq.v1 import agent_service_pb2 as apb

log = logging.getLogger(__name__)

MAX_ERRORS = 3
"""Problems named in the answer; the rest are counted (the log has them all)."""


@dataclass
class Removed:
    """What one cleanup removed, and what it could not."""

    workspaces: int = 0
    bytes_freed: int = 0
    problems: list[str] = field(default_factory=list)

    def error(self) -> str:
        """The problems in one sentence; empty when there were none."""
        named = "; ".join(self.problems[:MAX_ERRORS])
        more = len(self.problems) - MAX_ERRORS
        return f"{named}; and {more} more" if more > 0 else named


def remove_workspaces(workspaces: Path, job_ids: Iterable[int], running: Collection[int]) -> Removed:
    """Remove the workspaces of ``job_ids`` (in whichever owner's folder they are) under
    ``workspaces``, except those of the ``running`` jobs, whose tasks use them now."""
    removed = Removed()
    wanted = set(job_ids)
    for job_id in sorted(wanted & set(running)):
        removed.problems.append(f"kept the workspace of job {job_id}: a task of it runs on this agent")
    names = {str(job_id) for job_id in wanted - set(running)}
    try:
        owners = [entry.path for entry in os.scandir(workspaces) if entry.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return removed
    except OSError as exc:
        removed.problems.append(f"cannot list {workspaces}: {exc.strerror or exc}")
        return removed
    for owner in owners:
        try:
            found = [Path(entry.path) for entry in os.scandir(owner) if entry.name in names]
        except OSError as exc:
            removed.problems.append(f"cannot list {owner}: {exc.strerror or exc}")
            continue
        for folder in found:
            _remove(folder, removed)
    return removed


def _remove(folder: Path, removed: Removed) -> None:
    """Remove one workspace, counting the bytes that went; a link in its place goes as a link."""
    size = tree_size(folder)
    try:
        if stat.S_ISDIR(os.lstat(folder).st_mode):
            shutil.rmtree(folder)
        else:
            folder.unlink()
    except OSError as exc:
        left = tree_size(folder)
        removed.bytes_freed += size - left
        removed.problems.append(f"cannot remove {exc.filename or folder}: {exc.strerror or exc}")
        log.warning("workspace not removed path=%s freed=%d left=%d error=%s", folder, size - left, left, exc)
        return
    removed.workspaces += 1
    removed.bytes_freed += size


def tree_size(path: Path) -> int:
    """Bytes of the files under ``path`` (a link counts as itself, never what it points to);
    0 when it is gone. Entries that vanish or cannot be read while it counts are skipped."""
    try:
        top = os.lstat(path)
    except OSError:
        return 0
    if not stat.S_ISDIR(top.st_mode):
        return top.st_size
    total = 0
    folders = [path]
    while folders:
        with contextlib.suppress(OSError), os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
                    continue
                with contextlib.suppress(OSError):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


async def clean(
    workspaces: Path, request: apb.CleanupWorkspaces, running: Collection[int]
) -> apb.CleanupDone:
    """Answer the controller's request: remove the workspaces in a worker thread, then say
    how many went and how many bytes they freed."""
    removed = await asyncio.to_thread(remove_workspaces, workspaces, request.job_ids, running)
    log.info(
        "workspaces cleaned request=%d jobs=%d removed=%d bytes_freed=%d problems=%d",
        request.request_id, len(request.job_ids), removed.workspaces, removed.bytes_freed,
        len(removed.problems),
    )  # fmt: skip
    return apb.CleanupDone(
        request_id=request.request_id,
        workspaces_removed=removed.workspaces,
        bytes_freed=removed.bytes_freed,
        error=removed.error(),
    )
