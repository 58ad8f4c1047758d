"""CleanupWorkspaces: which jobs' workspaces go, asked of every online agent, and what
each one freed.

Workspaces stay on the agents after their job, so that a retried frame finds its files,
until someone cleans them: job by job, or in bulk by state, age and owner. Only the
controller knows which jobs ended, so it picks them; every online agent gets the list
on its link (any of them may have run a task of those jobs) and answers with what it
removed. An agent that is offline, or silent past the deadline, is reported as such:
a cleanup is never held up by one node. Deleting a job asks the same of every online
agent in the background, as the job can no longer be named once it is gone.
"""

from __future__ import annotations

import asyncio
import itertools
import logging

from renderq.controller.errors import InvalidField, NotPossibleNow
from renderq.controller.farm_state import FarmState
from renderq.controller.link_messages import cleanup_request
from renderq.controller.model import Job
from renderq.controller.state_rules import state_word
from renderq.states import JOB_FINAL
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

REPLY_TIMEOUT = 30.0
"""Seconds an agent has to answer a cleanup (removing a large workspace takes a while)."""


class Cleanups:
    """The cleanups under way: each agent's answer is routed here by request id."""

    def __init__(self, state: FarmState) -> None:
        self._state = state
        self._request_ids = itertools.count(1)
        self._waiting: dict[tuple[int, str], asyncio.Future[apb.CleanupDone]] = {}
        """(request id, agent id) -> the answer that agent owes."""
        self._background: set[asyncio.Task[None]] = set()
        """Cleanups nobody awaits (after DeleteJob), held here so they are not collected mid-way."""

    def select(self, request: fpb.CleanupWorkspacesRequest, now: float) -> list[int]:
        """The jobs ``request`` names, each of them ended, or else every ended job that
        matches its filters. Raises InvalidField, NoSuchResource or NotPossibleNow."""
        filtered = bool(request.states or request.HasField("older_than") or request.owner)
        if request.job_ids:
            if filtered:
                raise InvalidField(
                    "job_ids", "name jobs, or filter them by states, older_than and owner; not both"
                )
            return [self._ended(job_id).id for job_id in dict.fromkeys(request.job_ids)]
        states = set(request.states) or JOB_FINAL
        unended = sorted(states - JOB_FINAL)
        if unended:
            word = pb.JobState.Name(unended[0]) if unended[0] in pb.JobState.values() else unended[0]
            raise InvalidField("states", f"{word} is not a state jobs end in: completed, failed or cancelled")
        older_than = request.older_than.seconds + request.older_than.nanos / 1e9
        if older_than < 0:
            raise InvalidField("older_than", "must not be negative")
        ended_by = now - older_than
        return [
            job.id
            for job in self._state.jobs.values()
            if job.state in states
            and job.end_time is not None
            and job.end_time <= ended_by
            and (not request.owner or job.owner == request.owner)
        ]

    def _ended(self, job_id: int) -> Job:
        job = self._state.job(job_id)
        if job.state not in JOB_FINAL:
            raise NotPossibleNow(f"job {job_id} is {state_word(job)}; cancel it or let it end first")
        return job

    async def clean(self, job_ids: list[int]) -> list[fpb.AgentCleanup]:
        """Ask every online agent to remove the workspaces of ``job_ids``; what each one
        freed, or why it did not answer, in the order of the agents' ids."""
        if not job_ids:
            return []
        request_id = next(self._request_ids)
        request = cleanup_request(request_id, job_ids)
        asked: dict[str, asyncio.Future[apb.CleanupDone]] = {}
        answers: list[fpb.AgentCleanup] = []
        loop = asyncio.get_running_loop()
        for agent_id in sorted(self._state.agents):
            link = self._state.links.get(agent_id)
            if link is None:
                answers.append(fpb.AgentCleanup(agent_id=agent_id, error="offline: it was not asked"))
                continue
            asked[agent_id] = self._waiting[(request_id, agent_id)] = loop.create_future()
            link.send(request)
        log.info("cleanup asked request=%d jobs=%d agents=%d", request_id, len(job_ids), len(asked))
        try:
            if asked:
                await asyncio.wait(asked.values(), timeout=REPLY_TIMEOUT)
        finally:
            for agent_id in asked:
                self._waiting.pop((request_id, agent_id), None)
        answers.extend(_answer(agent_id, future) for agent_id, future in asked.items())
        return sorted(answers, key=lambda answer: answer.agent_id)

    def clean_deleted(self, job_ids: list[int]) -> None:
        """Ask every online agent to remove the workspaces of ``job_ids``, which were just
        deleted, without waiting for the answers. Once a job is gone CleanupWorkspaces can
        no longer name it, so this is the only moment its workspaces can be reached; the
        deletion is not held up for a slow agent, and what each one freed is logged."""
        task = asyncio.create_task(self._clean_and_log(job_ids))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _clean_and_log(self, job_ids: list[int]) -> None:
        try:
            answers = await self.clean(job_ids)
        except Exception:
            log.exception("cleanup after delete failed jobs=%s", job_ids)
            return
        for answer in answers:
            log.log(
                logging.WARNING if answer.error else logging.INFO,
                "cleanup after delete jobs=%s agent=%s workspaces_removed=%d bytes_freed=%d error=%s",
                job_ids,
                answer.agent_id,
                answer.workspaces_removed,
                answer.bytes_freed,
                answer.error or "-",
            )

    def answered(self, agent_id: str, done: apb.CleanupDone) -> None:
        """An agent's answer (its link read it): to the cleanup that waits for it, if any still does."""
        future = self._waiting.get((done.request_id, agent_id))
        if future is None or future.done():
            log.info("cleanup answer came too late request=%d agent=%s", done.request_id, agent_id)
            return
        future.set_result(done)


def _answer(agent_id: str, future: asyncio.Future[apb.CleanupDone]) -> fpb.AgentCleanup:
    if not future.done():
        future.cancel()
        return fpb.AgentCleanup(agent_id=agent_id, error=f"it did not answer within {REPLY_TIMEOUT:g} s")
    done = future.result()
    return fpb.AgentCleanup(
        agent_id=agent_id,
        workspaces_removed=done.workspaces_removed,
        bytes_freed=done.bytes_freed,
        error=done.error,
    )
