"""A task's main process: started in a process group of its own, its stdout and stderr
merged in one pipe, its exit known the moment it happens.

On Linux the process is watched through a pidfd and its pipe read straight from the
file descriptor, both as callbacks of the event loop: asyncio's subprocess transport
(a protocol, two pipe transports, a child watcher and several loop turns before the
pid is even known) cost the agent 0.32-0.41 ms of CPU per process against 0.24-0.25 ms
this way (``bench/task_start.py``), about a tenth of everything the agent spends on a
task that ends in a blink. Other systems, and a Linux whose sandbox refuses pidfds, keep
asyncio's transport.

The exit is its own event: waiting for a process as asyncio's ``Process.wait()`` does
also waits for its pipe to close, which a leftover grandchild holding stdout would
delay forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from renderq.agent.process_tree import adopt_orphans, starting_a_task, task_reaped, task_started
from renderq.agent.program_lookup import forget, program_path
from renderq.agent.run_as import TaskUser

log = logging.getLogger(__name__)

PIPE_LIMIT = 64 * 1024
LOST_STATUS = 255
"""The exit code of a process whose status someone else took (as asyncio reports it)."""


class Flag(asyncio.Event):
    """An ``asyncio.Event`` that also resolves futures of its callers when set: a wait for
    the first of two flags then costs one future, where ``asyncio.wait`` on two
    ``Event.wait()`` costs two tasks and their turns of the loop, for every command."""

    def __init__(self) -> None:
        super().__init__()
        self._futures: list[asyncio.Future[None]] = []

    def wake(self, future: asyncio.Future[None]) -> None:
        """Resolve ``future`` once the flag is set (at once if it is)."""
        if self.is_set():
            _wake(future)
        else:
            self._futures.append(future)

    def forget(self, future: asyncio.Future[None]) -> None:
        """No longer resolve ``future`` (its wait is over)."""
        with contextlib.suppress(ValueError):
            self._futures.remove(future)

    def set(self) -> None:
        super().set()
        futures, self._futures = self._futures, []
        for future in futures:
            _wake(future)


class ChildProcess(Protocol):
    pid: int
    exited: Flag
    """Set when the process exits, whoever still holds its pipe."""

    @property
    def returncode(self) -> int | None:
        """As ``subprocess`` says it (negative: killed by that signal); None until it exits."""

    async def read(self, size: int) -> bytes:
        """Up to ``size`` bytes of output as they come; empty once every writer closed it."""

    def close_output(self) -> None:
        """Stop reading the output (a process outside the task's tree holds the pipe)."""


def watch_children_without_threads() -> None:
    """On Linux with Python 3.11, have asyncio watch its child processes through pidfds
    (the agent's other commands: ``nvidia-smi``, the scene analyser; elsewhere the tasks').

    3.11's default watcher starts a thread per child, and starting it blocks the event
    loop for about a millisecond each time; a pidfd needs no thread (3.12 and newer
    choose it by themselves). Call before the event loop starts.
    """
    if sys.version_info < (3, 12) and pidfds_work():
        asyncio.set_child_watcher(asyncio.PidfdChildWatcher())


async def start_child(argv: list[str], cwd: Path, env: dict[str, str], user: TaskUser | None) -> ChildProcess:
    """Start ``argv`` as ``user`` (None: as the agent's own user); raises OSError when the
    program cannot start (as ``user``, setpriv reports that on the pipe instead).

    Killing works the same on a tree of another user's processes: the agent then runs
    as root, which may signal them and read their environment (``adopted_orphans``).
    """
    adopt_orphans()
    command = user.command(argv) if user is not None else argv
    if not pidfds_work():
        return await TransportChild.start(command, cwd, env)
    program = program_path(command[0], env)
    try:
        return PidfdChild(command, cwd, env, program)
    except (FileNotFoundError, PermissionError):
        if program is None:
            raise
        forget(command[0], env)  # gone or changed within the second: the child looks again
        return PidfdChild(command, cwd, env)


@functools.cache
def pidfds_work() -> bool:
    """Whether this system gives pidfds (Linux 5.3 and newer, unless a sandbox's seccomp
    filter refuses the call), tried once."""
    if sys.platform != "linux" or not hasattr(os, "pidfd_open"):
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError as exc:
        log.info("no pidfds here (%s): task processes are watched by asyncio's transport", exc)
        return False
    return True


class PidfdChild:
    """Linux: the exit is a pidfd turning readable, the output a non-blocking pipe."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str], program: str | None = None) -> None:
        """``program``: the file to run, found on PATH already (``argv[0]`` stays its name)."""
        self._loop = asyncio.get_running_loop()
        self.exited = Flag()
        self._returncode: int | None = None
        self._readable: asyncio.Future[None] | None = None
        self._output, writer = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            # The child's end must block, as every program expects of its stdout.
            os.set_blocking(writer, True)
            popen = subprocess.Popen(
                argv, executable=program, stdin=subprocess.DEVNULL, stdout=writer, stderr=writer,
                cwd=cwd, env=env, start_new_session=True,
            )  # fmt: skip
        except BaseException:
            os.close(self._output)
            self._output = -1
            raise
        finally:
            os.close(writer)
        # No loop turn since the fork: reap_orphans cannot have taken it for an orphan.
        self.pid = popen.pid
        self._popen = popen
        task_started(self.pid)
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except OSError:
            # Out of descriptors: a process nobody watches must not run on.
            self._abandon()
            raise
        self._loop.add_reader(self._pidfd, self._reap)

    def _abandon(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)
        self._popen.wait()
        task_reaped(self.pid)
        self.close_output()

    @property
    def returncode(self) -> int | None:
        return self._returncode

    def _reap(self) -> None:
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        try:
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            code = LOST_STATUS
        task_reaped(self.pid)
        self._returncode = self._popen.returncode = code
        self.exited.set()

    async def read(self, size: int) -> bytes:
        while self._output >= 0:
            try:
                data = os.read(self._output, size)
            except BlockingIOError:
                await self._readable_again()
                continue
            if not data:
                self.close_output()
            return data
        return b""

    async def _readable_again(self) -> None:
        readable = self._readable = self._loop.create_future()
        self._loop.add_reader(self._output, _wake, readable)
        try:
            await readable
        finally:
            self._readable = None
            if self._output >= 0:
                self._loop.remove_reader(self._output)

    def close_output(self) -> None:
        if self._output < 0:
            return
        self._loop.remove_reader(self._output)
        os.close(self._output)
        self._output = -1
        if self._readable is not None:
            _wake(self._readable)  # a read under way returns the end of the output

    def __del__(self) -> None:
        # Only when the runner failed before reading to the end: the pipe must not leak.
        if self._output >= 0:
            os.close(self._output)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _ExitWatch(asyncio.subprocess.SubprocessStreamProtocol):
    """The protocol ``create_subprocess_exec`` uses, plus an event set when the process exits."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=PIPE_LIMIT, loop=loop)
        self.exited = Flag()
        self._pid = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._pid = transport.get_pid()
        task_started(self._pid)

    def process_exited(self) -> None:
        super().process_exited()
        task_reaped(self._pid)
        self.exited.set()


class TransportChild:
    """Elsewhere: asyncio's subprocess transport."""

    def __init__(self, process: asyncio.subprocess.Process, transport: asyncio.SubprocessTransport) -> None:
        self._process = process
        self._transport = transport
        self.pid = process.pid
        self.exited = Flag()

    @classmethod
    async def start(cls, argv: list[str], cwd: Path, env: dict[str, str]) -> TransportChild:
        loop = asyncio.get_running_loop()
        # The pid joins the tasks only once the pipes are connected, a few loop turns
        # after the fork; until then reap_orphans must not mistake it for an orphan.
        with starting_a_task():
            transport, protocol = await loop.subprocess_exec(
                lambda: _ExitWatch(loop),
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                cwd=cwd,
                env=env,
                **_own_group(),
            )
        child = cls(asyncio.subprocess.Process(transport, protocol, loop), transport)
        child.exited = protocol.exited
        return child

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    async def read(self, size: int) -> bytes:
        assert self._process.stdout is not None
        return await self._process.stdout.read(size)

    def close_output(self) -> None:
        self._transport.close()


def _own_group() -> dict[str, Any]:
    """Arguments for ``subprocess_exec`` that start the task in a group of its own."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}
