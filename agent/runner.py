"""Runs one attempt of a task: its commands in order, reporting everything they do.

The controller knows a task only through the events this module puts in the outbox:
``started``, output in batched ``log`` chunks, throttled ``progress``, a
``frame_completed`` (with hashed outputs) as each frame is done, and last
``finished`` with the measurements of the whole process tree (and whether the kernel
killed it for lack of memory, see ``out_of_memory``). Output is read in
blocks, never line by line, so a renderer that prints a partial line (a progress bar
ending in ``\\r``) never stalls the stream; lines are cut from the blocks for the
plugin's parser.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import psutil
from google.protobuf.duration_pb2 import Duration

from renderq.agent.batching import LogBatcher, Throttle
from renderq.agent.child_process import ChildProcess, Flag, start_child
from renderq.agent.command_output import CommandOutput
from renderq.agent.leftovers import TaskRecord
from renderq.agent.materialise import MaterialiseError, Materialiser
from renderq.agent.out_of_memory import OomWatch, out_of_memory_message
from renderq.agent.outbox import EventKind, Outbox
from renderq.agent.output_serving import HashedOutputs
from renderq.agent.outputs import OutputProblem, describe_frame_outputs
from renderq.agent.process_tree import (
    TreeSampler,
    adopted_orphans,
    died_of_sigkill,
    kill_leftovers,
    kill_tree,
    reap_orphans,
)
from renderq.agent.run_as import TaskUser
from renderq.agent.task_setup import fill_tokens, task_environment
from renderq.agent.thumbnails import frame_thumbnails
from renderq.agent.workspace import Workspace
from renderq.frame_range import format_frames
from renderq.plugins.base import OutputParser
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb

log = logging.getLogger(__name__)

READ_SIZE = 65536
LOG_FLUSH_BYTES = 32 * 1024
LOG_FLUSH_DELAY = 0.05
"""Seconds after the first unflushed byte: output looks live without a message per line."""
LOG_LIMIT = 64 * 1024 * 1024
"""Bytes of an attempt's output kept in its log; its parser still reads all of it."""
READ_AHEAD = 16
"""Blocks read from the pipe ahead of the parser: a renderer that prints faster than
its output is parsed waits on its pipe instead of growing the agent's memory."""
PROGRESS_INTERVAL = 0.25
DRAIN_TIMEOUT = 2.0
"""Seconds to read what is left in the pipe once the tree is gone: a process that
escaped the tree may hold it open forever."""
EXIT_NOT_FOUND = 127
EXIT_CANNOT_RUN = 126
"""Exit codes reported when a command cannot start, as POSIX shells do."""

ParserFactory = Callable[[], OutputParser]


class AttemptRunner:
    """One attempt of one task, from its first command to its ``finished`` event."""

    def __init__(
        self,
        assignment: apb.AssignTask,
        workspaces: Path,
        outbox: Outbox,
        kill_grace: float,
        parser_factory: ParserFactory,
        user: TaskUser | None = None,
        record: TaskRecord | None = None,
        oom: OomWatch | None = None,
        files: Materialiser | None = None,
        hashed: HashedOutputs | None = None,
    ) -> None:
        self.attempt_id = assignment.attempt_id
        self.job_id = assignment.job_id
        self._record = record
        """Where task processes are noted, so a later run of the agent can end them."""
        self._oom = oom or OomWatch(None)
        """The kernel's count of out-of-memory kills, shared by the agent's attempts."""
        self._files = files
        """Places the job's files in its workspace; None: the assignment's files are ignored."""
        self._hashed = hashed or HashedOutputs()
        """The outputs the agent hashed: the controller may ask for them (output_serving.py)."""
        self._out_of_memory = False
        self._gpus = ",".join(str(index) for index in assignment.gpu_indices)
        """The task's GPUs as ``{gpus}`` and CUDA_VISIBLE_DEVICES say them: ``0,2``, or ""."""
        self._assignment = assignment
        self._workspaces = workspaces
        self._workspace: Path | None = None
        """The job's workspace root, once made: outputs below it are read without links."""
        self._shares = [Path(share) for share in assignment.shares]  # outputs: there or the workspace
        self._outbox = outbox
        self._kill_grace = kill_grace
        self._parser_factory = parser_factory
        self._user = user
        """Who the commands run as; None: the agent's own user."""
        self.log_ids = f"job={assignment.job_id} task={assignment.task_id} attempt={assignment.attempt_id}"
        self._tag = ("RENDERQ_ATTEMPT_ID", str(assignment.attempt_id))
        """In the environment of every process of the attempt (see ``_environment``)."""
        self._frames = list(dict.fromkeys(frame for cmd in assignment.commands for frame in cmd.frames))
        self._timeout = assignment.timeout.ToTimedelta().total_seconds()
        self._deadline: float | None = None
        self._completed: set[int] = set()
        self._stop = Flag()
        self._stop_message = ""
        self._cancelled = False
        self._timed_out = False
        self._announced = False
        self._peak_rss = 0
        self._cpu_time = 0.0
        self._log = LogBatcher(LOG_FLUSH_BYTES, LOG_FLUSH_DELAY, self._emit, LOG_LIMIT)
        self._progress: Throttle[apb.TaskProgress] = Throttle(PROGRESS_INTERVAL, self._emit)

    def cancel(self, reason: str) -> None:
        """Kill the running command's tree and run no further command."""
        if self._stop.is_set():
            return
        self._cancelled = True
        self._stop_message = f"cancelled: {reason}" if reason else "cancelled"
        log.info("task cancel requested %s reason=%r", self.log_ids, reason)
        self._stop.set()

    async def run(self) -> None:
        """Run every command, then report ``finished``; never raises for a task's failure."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        if self._timeout > 0:
            self._deadline = start + self._timeout
        try:
            exit_code, error = await self._run_commands()
        except Exception as exc:
            # The controller must hear of every attempt's end, even one this agent botched.
            log.exception("task failed inside the agent %s", self.log_ids)
            exit_code, error = EXIT_CANNOT_RUN, f"the agent failed while running the task: {exc}"
        self._announce(0, "")
        self._progress.close()
        self._log.close()
        if self._log.dropped:
            log.warning(
                "task log cut %s kept_bytes=%d dropped_bytes=%d", self.log_ids, LOG_LIMIT, self._log.dropped
            )
        failed = [frame for frame in self._frames if frame not in self._completed]
        seconds = loop.time() - start
        self._emit(
            apb.TaskFinished(
                exit_code=exit_code,
                error_message=error,
                failed_frames=failed,
                duration=_duration(seconds),
                cpu_time=_duration(self._cpu_time),
                peak_rss_bytes=self._peak_rss,
                cancelled=self._cancelled,
                timed_out=self._timed_out,
                out_of_memory=self._out_of_memory,
            )
        )
        # One line per task at a few hundred tasks a second was a good part of a short
        # task's cost: one that went well is a DEBUG line, like its start and its frames.
        log.log(
            logging.INFO if error or exit_code else logging.DEBUG,
            "task finished %s exit=%d failed_frames=%s cancelled=%s timed_out=%s out_of_memory=%s "
            "seconds=%.2f error=%r",
            self.log_ids, exit_code, format_frames(failed), self._cancelled, self._timed_out,
            self._out_of_memory, seconds, error,
        )  # fmt: skip

    async def _run_commands(self) -> tuple[int, str]:
        """Run the commands in order up to the first that fails; return its exit code and error."""
        try:
            # A few mkdirs (and chowns) on the agent's own disk: cheaper than a hop to a worker thread.
            workspace = Workspace.for_job(self._workspaces, self._assignment, self._user)
            self._workspace = workspace.root
        except OSError as exc:
            reason = exc.strerror or exc
            return EXIT_CANNOT_RUN, f"cannot create the job's workspace in {self._workspaces}: {reason}"
        try:
            if self._files is not None and not await self._files.materialise(
                self._assignment.files, workspace, self._stop, self._deadline
            ):
                self._expire()  # or cancelled: the loop below ends the attempt
        except MaterialiseError as exc:
            return EXIT_CANNOT_RUN, str(exc)
        exit_code = 0
        for command in self._assignment.commands:
            if self._deadline is not None and asyncio.get_running_loop().time() >= self._deadline:
                self._expire()
            if self._stop.is_set():
                return exit_code, self._stop_message
            exit_code, error = await self._run_command(command, workspace)
            if error:
                return exit_code, error
        return exit_code, ""

    def _expire(self) -> None:
        if self._stop.is_set():
            return
        self._cancelled = self._timed_out = True
        self._stop_message = f"timed out after {self._timeout:g} s"
        log.info("task timed out %s seconds=%g", self.log_ids, self._timeout)
        self._stop.set()

    def _emit(self, kind: EventKind) -> None:
        self._outbox.append(self.attempt_id, kind)

    def _announce(self, pid: int, workspace: str) -> None:
        """``started`` comes once per attempt, before anything else (pid 0: nothing could start)."""
        if self._announced:
            return
        self._announced = True
        self._emit(apb.TaskStarted(pid=pid, workspace=workspace))
        log.debug("task started %s pid=%d", self.log_ids, pid)

    async def _run_command(self, command: apb.Command, workspace: Workspace) -> tuple[int, str]:
        """Run one command to its end; return its exit code and, if it failed, why."""
        tokens = {**workspace.tokens(), "{python}": sys.executable, "{gpus}": self._gpus}
        argv = [fill_tokens(arg, tokens) for arg in command.argv]
        if not argv:
            return EXIT_CANNOT_RUN, "a command of this task has no program to run"
        expected: dict[int, list[Path]] = {}
        for wanted in command.expected_outputs:
            expected.setdefault(wanted.frame, []).append(workspace.root / fill_tokens(wanted.path, tokens))
        # Before the start: the kernel counts a kill before it sends the signal.
        oom_kills = self._oom.read()
        try:
            environment = self._environment(workspace, command.environment)
            child = await start_child(argv, workspace.root, environment, self._user)
        except OSError as exc:
            self._announce(0, str(workspace.root))
            return _start_failure(argv[0], exc)
        pid = child.pid
        if self._record is not None:
            self._record.started(pid)
        self._announce(pid, str(workspace.root))
        log.debug("command started %s pid=%d argv=%s", self.log_ids, pid, argv)
        output = CommandOutput(self, workspace.root, list(command.frames), expected, self._parser_factory())
        sampler = TreeSampler(pid)
        sampler.start()
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue(READ_AHEAD)
        reader = asyncio.create_task(_read_pipe(child, chunks))
        consumer = asyncio.create_task(self._consume(chunks, output))
        killed = False
        try:
            killed = await self._wait(child, sampler)
        finally:
            kill_leftovers(pid, self._tree(sampler))
            if self._record is not None:
                self._record.ended(pid)
            await sampler.stop()
            await self._drain(reader, child)
            try:
                await consumer
            finally:
                # A consumer that failed leaves the reader waiting for room in the queue.
                reader.cancel()
            reap_orphans()
        self._peak_rss = max(self._peak_rss, sampler.peak_rss)
        self._cpu_time += sampler.cpu_time()
        code = child.returncode
        assert code is not None
        if killed:
            return code, self._stop_message
        if died_of_sigkill(code) and self._oom.claim(oom_kills):
            self._out_of_memory = True
            log.warning("task killed for lack of memory %s peak_rss=%d", self.log_ids, self._peak_rss)
            return code, out_of_memory_message(self._peak_rss)
        if code == 0:
            return code, await output.finish()
        if code < 0:
            return code, f"killed by signal {_signal_name(-code)}"
        detail = f"exited with code {code}"
        return code, output.last_error or (f"{detail}: {output.last_line}" if output.last_line else detail)

    def _environment(self, workspace: Workspace, command: Mapping[str, str]) -> dict[str, str]:
        a = self._assignment
        return task_environment(
            user=self._user.environment() if self._user is not None else {},
            job={**a.environment, **command},
            gpus=self._gpus,
            renderq={
                "RENDERQ_JOB_ID": str(a.job_id),
                "RENDERQ_TASK_ID": str(a.task_id),
                self._tag[0]: self._tag[1],
                "RENDERQ_FRAMES": format_frames(self._frames),
                "RENDERQ_WORKSPACE": str(workspace.root),
            },
        )

    async def _wait(self, child: ChildProcess, sampler: TreeSampler) -> bool:
        """Wait for the process to exit, or kill its tree on cancel or timeout.

        Returns True when the tree was killed.
        """
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()
        child.exited.wake(woken)
        self._stop.wake(woken)
        remaining = None if self._deadline is None else max(0.0, self._deadline - loop.time())
        try:
            async with asyncio.timeout(remaining):
                await woken
        except TimeoutError:
            pass
        finally:
            self._stop.forget(woken)
            child.exited.forget(woken)
        if child.exited.is_set():
            return False
        self._expire()
        pid = child.pid
        log.info("killing task tree %s pid=%d grace=%g", self.log_ids, pid, self._kill_grace)
        await kill_tree(pid, self._kill_grace, self._tree(sampler))
        await child.exited.wait()
        return True

    def _tree(self, sampler: TreeSampler) -> list[psutil.Process]:
        """Every process of the attempt known besides the main one's descendants: seen by
        the sampler, or orphaned and adopted by the agent."""
        return [*sampler.processes(), *adopted_orphans(self._tag)]

    async def _drain(self, reader: asyncio.Task[None], child: ChildProcess) -> None:
        done, _ = await asyncio.wait({reader}, timeout=DRAIN_TIMEOUT)
        if not done:
            log.warning("output left unread, a process outside the task's tree holds it %s", self.log_ids)
            reader.cancel()
            child.close_output()

    async def _consume(self, chunks: asyncio.Queue[bytes | None], output: CommandOutput) -> None:
        while (data := await chunks.get()) is not None:
            self._log.add(data)
            await output.feed(data)
        await output.close()

    def report_progress(self, frame: int, fraction: float) -> None:
        self._progress.offer(apb.TaskProgress(frame=frame, frame_progress=min(max(fraction, 0.0), 1.0)))

    def is_completed(self, frame: int) -> bool:
        return frame in self._completed

    async def complete_frame(
        self, frame: int, paths: list[Path], render_time: float, warnings: Sequence[str] = ()
    ) -> str:
        """Hash the frame's outputs and report it done; return why not if an output is missing.

        A frame with no output to hash skips the worker threads: two hops per frame were a
        good part of what a short task cost its agent (bench/README.md, vs_celery.py)."""
        outputs: list[pb.OutputFile] = []
        thumbnails: list[apb.Thumbnail] = []
        if paths:
            try:
                outputs = await asyncio.to_thread(
                    describe_frame_outputs, frame, paths, self._workspace, self._shares
                )
            except OutputProblem as problem:
                return str(problem)
            for output in outputs:  # the controller may ask for them
                self._hashed.remember(self.job_id, output, self._workspace)
            thumbnails = await asyncio.to_thread(frame_thumbnails, outputs)
        # The log that led to this frame goes out before the frame itself.
        self._log.flush()
        took = _duration(render_time)
        done = apb.FrameCompleted(frame=frame, outputs=outputs, render_time=took, thumbnails=thumbnails)
        done.warnings.extend(warnings)
        self._emit(done)
        self._completed.add(frame)
        log.debug("frame completed %s frame=%d outputs=%d", self.log_ids, frame, len(outputs))
        return ""


async def _read_pipe(child: ChildProcess, chunks: asyncio.Queue[bytes | None]) -> None:
    """Move the child's output to ``chunks``; None marks its end (or giving up on it)."""
    try:
        while data := await child.read(READ_SIZE):
            await chunks.put(data)
    finally:
        # Even when cancelled: the consumer reads on until this marker, so there is room.
        await chunks.put(None)


def _start_failure(program: str, exc: OSError) -> tuple[int, str]:
    """Exit code and message for a command that could not start, as a shell would say it."""
    if isinstance(exc, FileNotFoundError):
        return EXIT_NOT_FOUND, f"{program}: command not found on this agent"
    if isinstance(exc, PermissionError):
        return EXIT_CANNOT_RUN, f"{program}: this agent is not allowed to run it (permission denied)"
    return EXIT_CANNOT_RUN, f"{program}: cannot start it on this agent: {exc.strerror or exc}"


def _signal_name(number: int) -> str:
    try:
        return f"{number} ({signal.Signals(number).name})"
    except ValueError:
        return str(number)


def _duration(seconds: float) -> Duration:
    duration = Duration()
    duration.FromNanoseconds(round(seconds * 1e9))
    return duration
