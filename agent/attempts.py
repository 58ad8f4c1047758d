"""The attempts this agent knows: those running and those whose events wait in the outbox.

Attempt ids are the fencing tokens of the farm: the controller reconciles on every
hello by the ids listed here, so an attempt is known from its ``assign`` until its
last event is acked, and a second ``assign`` with the same id (a replay after a
reconnect) never starts a second process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from pathlib import Path

from renderq.agent.blob_cache import BlobCache
from renderq.agent.config import AgentConfig
from renderq.agent.leftovers import TaskRecord
from renderq.agent.materialise import Materialiser
from renderq.agent.outbox import Outbox
from renderq.agent.output_serving import HashedOutputs
from renderq.agent.policy import refusal
from renderq.agent.process_tree import oom_watch
from renderq.agent.run_as import TaskUser
from renderq.agent.runner import AttemptRunner, ParserFactory
from renderq.durations import WORK_BUCKETS, Durations
from renderq.plugins.base import OutputParser
from renderq.plugins.registry import get_plugin
from renderq.v1 import agent_service_pb2 as apb

log = logging.getLogger(__name__)

EXIT_REFUSED = 126
"""Exit code reported for an assignment the node refused (as a shell does for "cannot execute")."""


class Attempts:
    def __init__(self, config: AgentConfig, outbox: Outbox, task_user: TaskUser | None) -> None:
        self._config = config
        self._outbox = outbox
        self._task_user = task_user
        """Who the tasks run as; None: the agent's own user."""
        self._running: dict[int, tuple[AttemptRunner, asyncio.Task[None]]] = {}
        self._assigned: set[int] = set()
        self._waiting: deque[apb.AssignTask] = deque()
        """Tasks sent ahead (``AssignTask.queued``) waiting for a slot, in the order sent."""
        self._closing = False
        self.task_seconds = Durations(WORK_BUCKETS)
        """How long each task ran, from its assignment until it ended (the metrics endpoint reads it)."""
        self._record = TaskRecord(config.data_dir / "task-processes")
        self._record.end_leftovers()
        self._oom = oom_watch()
        """One for all attempts: one kill the kernel counts explains one task's death at most."""
        self.blobs = BlobCache(config.blob_cache)
        """The project files of every job, by content; the link fills it."""
        self._files = Materialiser(self.blobs, task_user)
        self.hashed = HashedOutputs()
        """The outputs its attempts hashed, which the link serves to the controller."""

    def assign(self, request: apb.AssignTask) -> None:
        attempt_id = request.attempt_id
        if attempt_id in self._assigned:
            log.info("assign ignored, attempt already known attempt=%d", attempt_id)
            return
        self._assigned.add(attempt_id)
        why = refusal(self._config, request)
        if why:
            log.warning("assignment refused attempt=%d job=%d why=%r", attempt_id, request.job_id, why)
            frames = [frame for command in request.commands for frame in command.frames]
            self._outbox.append(
                attempt_id, apb.TaskFinished(exit_code=EXIT_REFUSED, error_message=why, failed_frames=frames)
            )
            return
        if request.queued and (self._waiting or len(self._running) >= self._config.slots):
            self._waiting.append(request)
            return
        self._start(request)

    def _start(self, request: apb.AssignTask) -> None:
        attempt_id = request.attempt_id
        if len(self._running) >= self._config.slots:
            log.warning(
                "assign beyond the agent's slots attempt=%d running=%d slots=%d",
                attempt_id, len(self._running), self._config.slots,
            )  # fmt: skip
        runner = AttemptRunner(
            request,
            self._config.workspaces,
            self._outbox,
            self._config.kill_grace,
            _parser_factory(request.plugin),
            self._task_user,
            self._record,
            self._oom,
            self._files,
            self.hashed,
        )
        started = time.monotonic()
        task = asyncio.create_task(runner.run(), name=f"attempt-{attempt_id}")
        self._running[attempt_id] = (runner, task)
        task.add_done_callback(lambda _: self._finished(attempt_id, started))

    def cancel(self, attempt_id: int, reason: str) -> None:
        entry = self._running.get(attempt_id)
        if entry is not None:
            entry[0].cancel(reason)
            return
        waiting = next((request for request in self._waiting if request.attempt_id == attempt_id), None)
        if waiting is None:
            log.info("cancel ignored, attempt not running attempt=%d", attempt_id)
            return
        self._waiting.remove(waiting)
        self._never_started(waiting, f"cancelled: {reason}" if reason else "cancelled")

    def _never_started(self, request: apb.AssignTask, why: str) -> None:
        """A task that waited for a slot ends without a process, its frames unfinished."""
        log.info(
            "task cancelled before it started attempt=%d job=%d why=%r",
            request.attempt_id,
            request.job_id,
            why,
        )
        frames = [frame for command in request.commands for frame in command.frames]
        self._outbox.append(
            request.attempt_id, apb.TaskFinished(error_message=why, failed_frames=frames, cancelled=True)
        )

    def waiting(self) -> int:
        """Tasks sent ahead that wait for a slot."""
        return len(self._waiting)

    def running_ids(self) -> list[int]:
        return sorted(self._running)

    def running_job_ids(self) -> set[int]:
        """Jobs with an attempt running or waiting here: their workspaces are in use."""
        running = {runner.job_id for runner, _ in self._running.values()}
        return running | {request.job_id for request in self._waiting}

    @property
    def workspaces(self) -> Path:
        """Where the jobs' workspaces are (see workspace.py)."""
        return self._config.workspaces

    def known_ids(self) -> list[int]:
        """Running and waiting attempts plus those whose events are not acked yet."""
        waiting = {request.attempt_id for request in self._waiting}
        return sorted(set(self._running) | waiting | self._outbox.attempt_ids())

    async def shutdown(self) -> None:
        """Kill every running task's tree and wait for it: nobody would report them. Tasks
        waiting for a slot end unstarted, their frames returned to the controller."""
        self._closing = True
        while self._waiting:
            self._never_started(self._waiting.popleft(), "cancelled: the agent is shutting down")
        for runner, _ in self._running.values():
            runner.cancel("the agent is shutting down")
        await asyncio.gather(*(task for _, task in self._running.values()), return_exceptions=True)
        self._record.close()

    def _finished(self, attempt_id: int, started: float) -> None:
        self._running.pop(attempt_id, None)
        self.task_seconds.observe(time.monotonic() - started)
        while self._waiting and not self._closing and len(self._running) < self._config.slots:
            self._start(self._waiting.popleft())


def _parser_factory(plugin_name: str) -> ParserFactory:
    plugin = get_plugin(plugin_name)
    if plugin is not None:
        return plugin.output_parser
    if plugin_name:
        log.warning("unknown plugin, output is not parsed plugin=%s", plugin_name)
    return OutputParser
