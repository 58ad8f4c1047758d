"""Task logs: one file per attempt, written at the offsets the agent numbered.

Writing at the agent's offset makes a replayed chunk (after a crash before the ack)
land on the bytes it already wrote instead of duplicating them. Followers of a live
attempt get each chunk as it is written; TailLog reads the file first, then follows.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections import defaultdict
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

FOLLOW_QUEUE = 1_024

Chunk = tuple[int, bytes] | None
"""(offset, data); None marks the end of the attempt."""


class TaskLogs:
    def __init__(self, root: Path) -> None:
        self.root = root
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
