"""Per-job workspaces on the agent.

Every job gets its own folder so tasks of different jobs never see each other's
files, and the folder stays after the job: a failed frame retried later on this node
finds its project files and earlier renders where they were.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from renderq.agent.run_as import TaskUser


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def for_job(cls, workspaces: Path, job_id: int, owner: TaskUser | None) -> Workspace:
        """The job's workspace under ``workspaces``, created on first use and given to
        ``owner``, the user its tasks run as (None: the agent's own), so they can write
        there. Its path is absolute: output paths reported to the controller are built on it."""
        workspace = cls((workspaces / f"job-{job_id}").absolute())
        places = (workspace.source, workspace.project, workspace.renders)
        for folder in places:
            folder.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            # Also on every later use (a workspace may predate --run-as), and never through a
            # link: the owner may have replaced a folder with one pointing anywhere, say /etc.
            for folder in (workspace.root, *places):
                os.chown(folder, owner.uid, owner.gid, follow_symlinks=False)
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
        return {
            "{workspace}": str(self.root),
            "{source}": str(self.source),
            "{project}": str(self.project),
            "{renders}": str(self.renders),
        }
