"""Per-job workspaces on the agent.

Every job gets its own folder so tasks of different jobs never see each other's
files, and the folder stays after the job: a failed frame retried later on this node
finds its project files and earlier renders where they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def for_job(cls, workspaces: Path, job_id: int) -> Workspace:
        """The job's workspace under ``workspaces``, created on first use. Its path is
        absolute: output paths reported to the controller are built on it."""
        workspace = cls((workspaces / f"job-{job_id}").absolute())
        for folder in (workspace.source, workspace.project, workspace.renders):
            folder.mkdir(parents=True, exist_ok=True)
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
