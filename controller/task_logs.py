"""Task logs: one file per attempt, written at the offsets the agent numbered.

Writing at the agent's offset makes a replayed chunk (after a crash before the ack)
land on the bytes it already wrote instead of duplicating them. Followers of a live
attempt get each chunk as it is written; TailLog reads the file first, then follows.

Logs are the controller's largest files, so those of jobs that ended longer ago than
the retention (``--log-retention``) are removed by a background task (``prune``); the
attempts keep their records, and TailLog says where such a log went.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

from renderq.controller.errors import NotPossibleNow
from renderq.controller.model import Attempt, Job
from renderq.states import JOB_FINAL

log = logging.getLogger(__name__)

DAY = 86400.0

FOLLOW_QUEUE = 1_024

Chunk = tuple[int, bytes] | None
"""(offset, data); None marks the end of the attempt."""


class TaskLogs:
    def __init__(self, root: Path, retention_days: float = 0.0) -> None:
        self.root = root
        self.retention_days = retention_days
        """Days the logs of an ended job are kept; 0: forever."""
        self._open: dict[int, BinaryIO] = {}
        self._followers: dict[int, set[asyncio.Queue[Chunk]]] = defaultdict(set)

    def path(self, job_id: int, task_id: int, attempt_id: int) -> Path:
        return self.root / f"job-{job_id}" / f"task-{task_id}" / f"attempt-{attempt_id}.log"

    def append(self, job_id: int, task_id: int, attempt_id: int, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset``; return the log's size after it."""
        handle = self._open.get(attempt_id)
        if handle is None:
            path = self.path(job_id, task_id, attempt_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "r+b" if path.exists() else "w+b", buffering=0)  # noqa: SIM115
            self._open[attempt_id] = handle
        handle.seek(offset)
        handle.write(data)
        for queue in self._followers.get(attempt_id, ()):
            if queue.full():
                log.warning("log follower too slow, ending its stream attempt=%d", attempt_id)
                queue.get_nowait()
                queue.put_nowait(None)
            else:
                queue.put_nowait((offset, data))
        return offset + len(data)

    def finish(self, attempt_id: int) -> None:
        """The attempt ended: close its file and end its followers' streams."""
        handle = self._open.pop(attempt_id, None)
        if handle is not None:
            handle.close()
        for queue in self._followers.pop(attempt_id, set()):
            if not queue.full():
                queue.put_nowait(None)

    def follow(self, attempt_id: int) -> asyncio.Queue[Chunk]:
        queue: asyncio.Queue[Chunk] = asyncio.Queue(FOLLOW_QUEUE)
        self._followers[attempt_id].add(queue)
        return queue

    def unfollow(self, attempt_id: int, queue: asyncio.Queue[Chunk]) -> None:
        self._followers.get(attempt_id, set()).discard(queue)

    def delete_job(self, job_id: int) -> None:
        shutil.rmtree(self.root / f"job-{job_id}", ignore_errors=True)

    def check_kept(self, attempt: Attempt, now: float) -> None:
        """Raise NotPossibleNow, saying why, when the attempt's log is gone with the retention:
        it had output and ended longer ago than the retention, and its file is no more."""
        if not self.retention_days or not attempt.log_size or attempt.end_time is None:
            return
        if attempt.end_time > now - self.retention_days * DAY:
            return
        if not self.path(attempt.job_id, attempt.task_id, attempt.id).exists():
            raise NotPossibleNow(
                f"the log of attempt {attempt.id} was removed after {self.retention_days:g} days "
                "(log retention)"
            )

    async def prune(self, jobs: Mapping[int, Job], now: float) -> list[int]:
        """Remove the logs of the jobs that ended longer ago than the retention before ``now``;
        the ids of the jobs whose logs went. Only the files of ended attempts are removed (a
        job retried meanwhile may have started new ones), and the folders left empty."""
        if not self.retention_days:
            return []
        on_disk = await asyncio.to_thread(self._job_folders)
        ended_by = now - self.retention_days * DAY
        expired = [
            job
            for job in (jobs.get(job_id) for job_id in on_disk)
            if job is not None
            and job.state in JOB_FINAL
            and job.end_time is not None
            and job.end_time < ended_by
        ]
        files = [
            self.path(job.id, task.id, attempt_id)
            for job in expired
            for task in job.tasks
            for attempt_id in task.attempt_ids
            if attempt_id not in self._open
        ]
        await asyncio.to_thread(_remove, files, [self.root / f"job-{job.id}" for job in expired])
        return [job.id for job in expired]

    def _job_folders(self) -> list[int]:
        """The ids of the jobs that have a folder of logs."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return [int(name[4:]) for name in names if name.startswith("job-") and name[4:].isdigit()]


def _remove(files: list[Path], job_folders: list[Path]) -> None:
    """Remove ``files``, then whichever of the jobs' folders (and their task folders) are empty."""
    for file in files:
        with contextlib.suppress(FileNotFoundError):
            file.unlink()
    for folder in job_folders:
        with contextlib.suppress(OSError):
            for task_folder in folder.iterdir():
                with contextlib.suppress(OSError):
                    task_folder.rmdir()
            folder.rmdir()
