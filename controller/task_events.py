"""The numbered events an agent reports about the attempts it runs: started, log,
progress, frame completed, finished.

Each event is applied once, however often it is replayed, and acked once it is stored.
Only the task's current attempt may change the task and its frames: a late report of a
superseded attempt is kept as that attempt's history and nothing more (fencing).

A task the kernel killed for lack of memory was given too little, not broken by its
agent: the first time, it runs again reserving 1.5 times the peak its agent measured,
using up no retry and counting against no agent. A second time is an ordinary failure.
"""

from __future__ import annotations

import logging
import time

from renderq.controller.agent_liveness import AgentLiveness
from renderq.controller.bad_agents import note_failure, stranded_reason, too_quick
from renderq.controller.farm_state import FarmState, LinkHandle
from renderq.controller.holdings import task_memory
from renderq.controller.link_messages import ack_request
from renderq.controller.model import Agent, Attempt, AttemptState, Frame, Job, Output, Task
from renderq.controller.output_collection import OutputCollector
from renderq.controller.state_rules import StateRules
from renderq.controller.test_frame_rules import after_test_task, refresh_estimate
from renderq.controller.thumbnails import Thumbnails
from renderq.controller.work_queue import WorkQueue
from renderq.durations import WORK_BUCKETS, Durations
from renderq.states import FRAME_ACTIVE, TASK_ACTIVE
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)


class TaskEvents:
    def __init__(
        self,
        state: FarmState,
        queue: WorkQueue,
        rules: StateRules,
        liveness: AgentLiveness,
        outputs: OutputCollector,
    ) -> None:
        self.state = state
        self.queue = queue
        self.rules = rules
        self.liveness = liveness
        self.outputs = outputs
        self.thumbnails = Thumbnails(state, outputs.blobs)
        self.render_seconds = Durations(WORK_BUCKETS)
        """The render time agents report for each completed frame (the metrics endpoint reads it)."""

    def apply(self, agent_id: str, link: LinkHandle, event: apb.AgentEvent) -> None:
        """Apply one numbered agent event (once, however often it is replayed)."""
        state = self.state
        agent = state.agents[agent_id]
        self.liveness.heard_from(agent)
        if event.sequence <= agent.last_sequence:
            seq = agent.last_sequence
            state.rec.after_commit(("ack", agent_id), lambda: link.send(ack_request(seq)))
            return
        agent.last_sequence = event.sequence
        state.rec.changed(agent, publish=False)
        seq = event.sequence
        state.rec.after_commit(("ack", agent_id), lambda: link.send(ack_request(seq)))
        attempt = state.attempts.get(event.attempt_id)
        if attempt is None:
            # Its job was deleted (or it predates the controller's records): only its slot matters.
            if event.HasField("finished") and state.holdings.release(agent, event.attempt_id) is not None:
                state.rec.changed(agent)
                self.queue.wake()
            log.info("event for unknown attempt agent=%s attempt=%d", agent_id, event.attempt_id)
            return
        kind = event.WhichOneof("kind")
        if kind == "log":
            attempt.log_size = state.logs.append(
                attempt.job_id, attempt.task_id, attempt.id, event.log.offset, event.log.data
            )
            state.rec.changed(attempt)
            return
        when = event.time.ToNanoseconds() / 1e9 if event.HasField("time") else time.time()
        if kind == "finished":
            self._attempt_finished(agent, attempt, event.finished, when)
            return
        task = state.tasks.get(attempt.task_id)
        if task is None or not state.is_current(attempt.id):
            if kind == "frame_completed":
                attempt.completed_frames.append(event.frame_completed.frame)
                state.rec.changed(attempt)
            return
        job = state.jobs[task.job_id]
        if kind == "started":
            attempt.workspace = event.started.workspace
            self._started(job, task, attempt, when)
        elif kind == "progress":
            self._progress(job, task, attempt, event.progress)
        elif kind == "frame_completed":
            self._frame_completed(job, task, attempt, event.frame_completed)
        self.rules.refresh_job(job)

    def _started(self, job: Job, task: Task, attempt: Attempt, when: float) -> None:
        attempt.state = AttemptState.RUNNING
        attempt.start_time = when
        self.state.rec.changed(attempt)
        task.state = pb.TASK_STATE_RUNNING
        task.start_time = time.time()
        self.state.rec.changed(task)
        self._start_next_frame(job, attempt)

    def _start_next_frame(self, job: Job, attempt: Attempt, number: int | None = None) -> None:
        if number is None:
            number = next((n for n in attempt.frames if job.frames[n].state == pb.FRAME_STATE_ASSIGNED), None)
        if number is None or number not in attempt.frames:
            return
        frame = job.frames[number]
        if frame.state == pb.FRAME_STATE_ASSIGNED:
            self.rules.set_frame_state(job, frame, pb.FRAME_STATE_RENDERING)
            frame.start_time = time.time()
            self.state.rec.changed(frame)

    def _progress(self, job: Job, task: Task, attempt: Attempt, p: apb.TaskProgress) -> None:
        frame: Frame | None
        if p.frame and p.frame in attempt.frames:
            self._start_next_frame(job, attempt, p.frame)
            frame = job.frames[p.frame]
        else:
            frame = next(
                (job.frames[n] for n in attempt.frames if job.frames[n].state == pb.FRAME_STATE_RENDERING),
                None,
            )
        if frame is None or frame.state != pb.FRAME_STATE_RENDERING:
            return
        frame.progress = max(0.0, min(1.0, p.frame_progress))
        self.state.rec.changed(frame)
        done = sum(1 for n in attempt.frames if job.frames[n].state == pb.FRAME_STATE_COMPLETED)
        task.progress = (done + frame.progress) / len(attempt.frames)
        self.state.rec.changed(task)

    def _frame_completed(self, job: Job, task: Task, attempt: Attempt, done: apb.FrameCompleted) -> None:
        rec = self.state.rec
        attempt.completed_frames.append(done.frame)
        rec.changed(attempt)
        frame = job.frames.get(done.frame)
        if frame is None or done.frame not in attempt.frames or frame.state not in FRAME_ACTIVE:
            return
        self.rules.set_frame_state(job, frame, pb.FRAME_STATE_COMPLETED)
        frame.outputs = [Output(o.path, o.size_bytes, o.xxh3_128) for o in done.outputs]
        frame.warnings = list(done.warnings)
        self.outputs.frame_completed(job, frame)
        self.thumbnails.frame_completed(job, frame, done.thumbnails)
        frame.render_time = done.render_time.ToTimedelta().total_seconds()
        self.render_seconds.observe(frame.render_time)
        frame.progress = 1.0
        frame.exit_code = 0
        frame.error_message = ""
        frame.start_time = frame.start_time or time.time()
        frame.end_time = time.time()
        rec.changed(frame)
        completed = sum(1 for n in attempt.frames if job.frames[n].state == pb.FRAME_STATE_COMPLETED)
        task.progress = completed / len(attempt.frames)
        rec.changed(task)
        refresh_estimate(self.rules, job)
        self._start_next_frame(job, attempt)

    def _attempt_finished(self, agent: Agent, attempt: Attempt, fin: apb.TaskFinished, when: float) -> None:
        """Close the attempt's history; if it is current, settle its task's frames.

        ``when`` is the agent's own time of the end, as the start is (see "started"),
        so an attempt's times measure the process, not the network."""
        state = self.state
        state.logs.finish(attempt.id)
        state.holdings.release(agent, attempt.id)
        state.rec.changed(agent)
        self.queue.wake()
        attempt.end_time = when
        attempt.exit_code = fin.exit_code
        attempt.error_message = fin.error_message
        attempt.peak_rss_bytes = fin.peak_rss_bytes
        attempt.cpu_time = fin.cpu_time.ToTimedelta().total_seconds()
        if fin.cancelled and not fin.timed_out:
            attempt.state = AttemptState.CANCELLED
        else:
            attempt.state = AttemptState.FAILED if fin.error_message else AttemptState.COMPLETED
        state.rec.changed(attempt)
        task = state.tasks.get(attempt.task_id)
        if task is None or task.attempt_id != attempt.id or task.state not in TASK_ACTIVE:
            log.info("late result kept as history attempt=%d task=%d", attempt.id, attempt.task_id)
            return
        job = state.jobs[task.job_id]
        job.running_tasks -= 1
        task.exit_code = fin.exit_code
        task.error_message = fin.error_message
        task.peak_rss_bytes = fin.peak_rss_bytes
        task.cpu_time = attempt.cpu_time
        task.end_time = attempt.end_time
        more_memory = self._more_memory(job, task, attempt, fin)
        quick = too_quick(job, fin)
        failed = not more_memory and (
            quick or (fin.error_message and not (fin.cancelled and not fin.timed_out))
        )
        if failed and note_failure(job, agent.id, quick or fin.error_message):
            state.rec.changed(job)
        elif not (failed or fin.cancelled or more_memory):
            state.pace.finished(job.id, fin.duration.ToTimedelta().total_seconds())
        self._settle_frames(job, attempt, fin, quick, requeue=more_memory)
        task.state = pb.TASK_STATE_PENDING
        self.rules.settle_task(job, task)
        if failed and (stranded := stranded_reason(job, state.agents.values())):
            self._fail_stranded(job, stranded)
        after_test_task(self.rules, job, task)
        self.rules.refresh_job(job)
        # A line per task that went well is a DEBUG line (as its assignment): at hundreds of
        # tasks a second INFO lines were a good part of the controller's work per task.
        log.log(
            logging.DEBUG if attempt.state == AttemptState.COMPLETED else logging.INFO,
            "attempt finished job=%d task=%d attempt=%d agent=%s exit=%d state=%s",
            job.id,
            task.id,
            attempt.id,
            agent.id,
            fin.exit_code,
            attempt.state,
        )

    def _more_memory(self, job: Job, task: Task, attempt: Attempt, fin: apb.TaskFinished) -> bool:
        """The kernel killed the task for lack of memory, for the first time: it will reserve
        1.5 times the peak its agent measured (never less than before, never more than the
        largest agent has) and its frames wait
        again without using up a retry. True when so; a second time is an ordinary failure."""
        if not fin.out_of_memory or task.out_of_memory:
            return False
        task.out_of_memory = True
        largest = max((a.hardware.ram_bytes for a in self.state.agents.values()), default=0)
        raised = min(int(1.5 * fin.peak_rss_bytes), largest)  # more than any agent has would never run
        task.memory_reservation_bytes = max(task_memory(job, task), raised)
        log.warning(
            "task killed for lack of memory, requeued reserving more job=%d task=%d attempt=%d "
            "agent=%s peak_rss=%d reservation=%d",
            job.id, task.id, attempt.id, attempt.agent_id, fin.peak_rss_bytes, task.memory_reservation_bytes,
        )  # fmt: skip
        return True

    def _fail_stranded(self, job: Job, why: str) -> None:
        """No agent may run the job any more: its waiting frames fail for good, so the job
        ends (and ``renderq wait`` returns) instead of waiting for an agent that never comes."""
        for task in job.tasks:
            waiting = [job.frames[n] for n in task.frames if job.frames[n].state == pb.FRAME_STATE_PENDING]
            for frame in waiting:
                self.rules.fail_frame(job, frame, why, final=True)
            if waiting and task.state == pb.TASK_STATE_PENDING:
                self.rules.settle_task(job, task)
        log.warning("job stranded job=%d why=%r", job.id, why)

    def _settle_frames(
        self, job: Job, attempt: Attempt, fin: apb.TaskFinished, quick: str = "", *, requeue: bool = False
    ) -> None:
        """The frames of a current attempt that ended: completed ones keep their result,
        unfinished ones fail a try (or wait again, when the agent stopped them itself).
        ``quick``: the task ended under the job's minimum run time, so what it completed
        fails a try too. ``requeue``: unfinished ones wait again without using up a try,
        keeping the attempt's error to show what happened (the task runs again with more
        memory)."""
        rec = self.state.rec
        for n in attempt.frames:
            frame = job.frames[n]
            if (
                quick
                and frame.attempt_id == attempt.id
                and frame.state in (pb.FRAME_STATE_COMPLETED, *FRAME_ACTIVE)
            ):
                self.rules.fail_frame(job, frame, quick, exit_code=fin.exit_code)
            elif frame.state == pb.FRAME_STATE_COMPLETED and frame.attempt_id == attempt.id:
                frame.peak_rss_bytes = fin.peak_rss_bytes
                rec.changed(frame)
            elif frame.state in FRAME_ACTIVE:
                if requeue or (fin.cancelled and not fin.timed_out):
                    # The agent stopped it on its own (shutting down), or the task was given too
                    # little memory: not the frame's fault.
                    self.rules.set_frame_state(job, frame, pb.FRAME_STATE_PENDING)
                    frame.progress = 0.0
                    if requeue:
                        frame.error_message = fin.error_message
                        frame.exit_code = fin.exit_code
                        frame.peak_rss_bytes = fin.peak_rss_bytes
                    rec.changed(frame)
                else:
                    error = fin.error_message or f"the task ended without finishing frame {n}"
                    frame.peak_rss_bytes = fin.peak_rss_bytes
                    self.rules.fail_frame(job, frame, error, exit_code=fin.exit_code)
