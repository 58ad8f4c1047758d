"""The farm: the in-memory authority over jobs, tasks, frames, attempts and agents.

It composes the parts that each own one responsibility over the shared state
(``farm_state``): the state rules of frames, tasks and jobs, the work queue and the
dispatcher, the agents' liveness and task events, and job and agent control. Every
change happens on the event loop and is handed to the recorder (DuckDB, then the event
bus). At start the farm is rebuilt from what the database last knew (``restore``).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict

from renderq.controller.agent_control import AgentControl
from renderq.controller.agent_liveness import AgentLiveness
from renderq.controller.blob_store import BlobStore
from renderq.controller.cleanup import Cleanups
from renderq.controller.config import ControllerConfig
from renderq.controller.dispatcher import Dispatcher
from renderq.controller.farm_state import FarmState
from renderq.controller.holdings import hold_of
from renderq.controller.job_control import NEXT_JOB_ID, NEXT_TASK_ID, JobControl
from renderq.controller.limit_control import LimitControl
from renderq.controller.model import Agent, Job
from renderq.controller.object_storage import ObjectStorage
from renderq.controller.output_collection import OutputCollector
from renderq.controller.output_pushing import OutputPushing
from renderq.controller.path_map_control import PathMapControl
from renderq.controller.recorder import Recorder
from renderq.controller.scene_analysis import SceneAnalyses
from renderq.controller.state_rules import StateRules
from renderq.controller.store import Loaded
from renderq.controller.task_events import TaskEvents
from renderq.controller.task_logs import TaskLogs
from renderq.controller.test_frame_rules import test_frames_restored
from renderq.controller.work_queue import WorkQueue
from renderq.states import JOB_FINAL, TASK_ACTIVE
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)


class Farm:
    def __init__(
        self,
        recorder: Recorder,
        logs: TaskLogs,
        epoch: int,
        agent_timeout: float,
        blobs: BlobStore | None = None,
        storage: ObjectStorage | None = None,
    ) -> None:
        self.state = FarmState(recorder, logs, agent_timeout)
        self.blobs = blobs if blobs is not None else BlobStore(logs.root.parent / "blobs")
        """Project files by content (by default beside the task logs, as in the data dir)."""
        self.queue = WorkQueue()
        self.rules = StateRules(self.state, self.queue)
        self.dispatcher = Dispatcher(self.state, self.queue, self.rules, epoch)
        self.liveness = AgentLiveness(self.state, self.queue, self.rules)
        self.pushing = OutputPushing(self.state, self.blobs, storage or ObjectStorage(ControllerConfig()))
        """Outputs of ``s3://`` jobs to object storage (none configured: AWS's defaults)."""
        self.outputs = OutputCollector(self.state, self.blobs, self.pushing)
        self.outputs.settled = self.queue.wake
        self.task_events = TaskEvents(self.state, self.queue, self.rules, self.liveness, self.outputs)
        self.job_control = JobControl(self.state, self.queue, self.rules)
        self.agent_control = AgentControl(self.state, self.queue)
        self.limit_control = LimitControl(self.state, self.queue)
        self.cleanups = Cleanups(self.state)
        self.analyses = SceneAnalyses(self.state, self.blobs)
        self.dispatcher.free_limits = self.limit_control.free
        self.path_maps = PathMapControl(recorder)
        self.dispatcher.mapper_for = self.path_maps.mapper_for

    def restore(self, loaded: Loaded) -> None:
        """Rebuild memory from the database at start. Agents start offline; tasks
        they were running stay theirs until they reconnect or time out."""
        state = self.state
        now = time.time()
        for agent in loaded.agents:
            agent.status = pb.AGENT_STATUS_OFFLINE
            agent.last_seen = now
            state.agents[agent.id] = agent
        for attempt in loaded.attempts:
            state.attempts[attempt.id] = attempt
        state.limits = {limit.name: limit for limit in loaded.limits}
        self.path_maps.restore(loaded.path_mappings)
        for job in loaded.jobs:
            state.jobs[job.id] = job
            self._restore_job(job, now)
        attempt_ids: defaultdict[int, list[int]] = defaultdict(list)
        for attempt in sorted(state.attempts.values(), key=lambda a: a.id):
            attempt_ids[attempt.task_id].append(attempt.id)
        for task_id, ids in attempt_ids.items():
            if (attempted := state.tasks.get(task_id)) is not None:
                attempted.attempt_ids = ids
        # The stored counters outlive deleted jobs: no id is issued twice in a farm's life.
        jobs = self.job_control
        jobs.next_job_id = max(int(loaded.meta.get(NEXT_JOB_ID, "1")), max(state.jobs, default=0) + 1)
        jobs.next_task_id = max(int(loaded.meta.get(NEXT_TASK_ID, "1")), max(state.tasks, default=0) + 1)
        for job in state.jobs.values():
            if job.state in (pb.JOB_STATE_WAITING, pb.JOB_STATE_BLOCKED):
                self.rules.refresh_job(job)  # their reasons are derived, not stored
        log.info(
            "restored jobs=%d tasks=%d attempts=%d agents=%d epoch=%d",
            len(state.jobs),
            len(state.tasks),
            len(state.attempts),
            len(state.agents),
            self.dispatcher.epoch,
        )
        self.queue.wake()

    def _restore_job(self, job: Job, now: float) -> None:
        """Rebuild what is kept in step in memory only: counts, queues, slots, and which
        frames of a frame-by-frame job are ready (its dependencies, with lower ids, are
        restored already)."""
        state = self.state
        self.rules.dependencies.add(job)
        for number in job.test_frame_numbers:
            if number in job.frames:
                job.frames[number].test = True
        job.counts = dict(Counter(frame.state for frame in job.frames.values()))
        for frame in job.frames.values():
            if frame.state == pb.FRAME_STATE_RENDERING:
                job.rendering.add(frame.number)
            elif frame.outputs:
                self.outputs.restore(job, frame)
        for task in job.tasks:
            state.tasks[task.id] = task
            if task.state == pb.TASK_STATE_PENDING:
                self.rules.queue_task(job, task)
            elif task.state in TASK_ACTIVE:
                agent = state.agents.setdefault(task.agent_id, Agent(id=task.agent_id, last_seen=now))
                state.holdings.take(agent, task.attempt_id, hold_of(job, task))
                job.running_tasks += 1
        self.queue.update_runnable(job)
        test_frames_restored(self.rules, job)
        if job.frame_by_frame and job.state not in JOB_FINAL:
            self.rules.refresh_job(job)  # what its frames wait for is derived, not stored
