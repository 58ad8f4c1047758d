"""A task's process tree: how each OS starts it, measures it and kills it.

Renderers fork helpers (Blender's workers, a script's subprocesses). Each task
starts in a process group of its own (a new session on POSIX, a new process group
on Windows) so that the whole tree can be signalled at once, and psutil follows the
task's own descendants, including any that leave the group, so that none survives a
cancel and memory and CPU time cover the whole tree.

A helper that leaves the group and whose parent exits at once (a daemon: fork,
setsid, fork) would leave the tree before psutil ever saw it. On Linux the agent is
therefore the child subreaper of its tasks: such orphans become its own children
instead of init's, and each is told apart by the environment variable its task
gave it (``adopted_orphans``); the agent reaps them once they end.

Everything OS-specific about a task's processes lives here and in ``child_process``
(how the main one starts and is waited for); the runner stays the same on every system.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psutil

from renderq.agent.out_of_memory import OomWatch, linux_counter

SAMPLE_INTERVAL = 0.5
FIRST_SAMPLE_DELAY = 0.1
"""Long enough that a task which exits at once never pays for psutil."""
_POLL_INTERVAL = 0.05
_PR_SET_CHILD_SUBREAPER = 36

Tag = tuple[str, str]
"""An environment variable and its value that every process of one task inherits."""

_unreaped_tasks: set[int] = set()
"""Pids of task processes started here that asyncio has not reaped yet: theirs to reap."""
_starting = 0
"""Task processes being started: forked, but not yet in ``_unreaped_tasks``."""


def task_started(pid: int) -> None:
    """``pid`` is a task's main process, this process's to reap: ``reap_orphans`` leaves it."""
    _unreaped_tasks.add(pid)


def task_reaped(pid: int) -> None:
    _unreaped_tasks.discard(pid)


@contextlib.contextmanager
def starting_a_task() -> Iterator[None]:
    """Around a start whose pid is known only some loop turns after the fork (asyncio's
    subprocess transport): meanwhile ``reap_orphans`` must not mistake it for an orphan."""
    global _starting
    _starting += 1
    try:
        yield
    finally:
        _starting -= 1


def oom_watch() -> OomWatch:
    """How this system tells that the kernel killed a task for lack of memory: on Linux
    by its count of OOM kills (see ``out_of_memory``); elsewhere it cannot, and no task
    is ever said to have run out of memory."""
    if sys.platform == "linux":
        return OomWatch(linux_counter())
    return OomWatch(None)


def died_of_sigkill(returncode: int) -> bool:
    """The main process of a command died of SIGKILL, as the kernel's OOM killer ends
    its victims: killed itself, or a shell telling that its command was (128 + 9, as
    ``sh -c 'renderer ...'`` exits). Never on Windows, which has no such signal."""
    if sys.platform == "win32":
        return False
    return returncode in (-signal.SIGKILL, 128 + signal.SIGKILL)


async def kill_tree(root_pid: int, grace: float, known: Iterable[psutil.Process] = ()) -> None:
    """Ask the tree of ``root_pid`` to stop, wait up to ``grace`` seconds, then kill what is left.

    ``known`` are processes seen in the tree before (they may have left its group).
    """
    procs = _tree(_process(root_pid), known)
    if sys.platform == "win32":
        for proc in procs:
            _quietly(proc.terminate)
    else:
        _signal_group(root_pid, signal.SIGTERM)
        for proc in procs:
            if _group_of(proc) != root_pid:
                _quietly(proc.terminate)
    deadline = asyncio.get_running_loop().time() + grace
    # Polled: no OS signals the exit of a process that is not our child.
    while any(_running(proc) for proc in procs) and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(_POLL_INTERVAL)
    kill_leftovers(root_pid, procs)


def kill_leftovers(root_pid: int, known: Iterable[psutil.Process] = ()) -> None:
    """Kill at once whatever of the tree still runs: after its main process exited,
    nothing it started may stay behind.

    The root pid itself is only used as the group id: the root is gone, and its pid
    may already name another process.
    """
    if sys.platform != "win32":
        _signal_group(root_pid, signal.SIGKILL)
    for proc in known:
        if _running(proc):
            _quietly(proc.kill)


@functools.cache
def adopt_orphans() -> bool:
    """Become the child subreaper (Linux): orphaned descendants of the tasks become this
    process's children, where ``adopted_orphans`` finds them. Done once, by the first task."""
    if sys.platform != "linux":
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)


def adopted_orphans(tag: Tag) -> list[psutil.Process]:
    """The running processes of the task marked by ``tag`` that lost their parent and were
    adopted by this process, and their descendants.

    Only the adopted are looked at: the task processes asyncio still has to reap and this
    process's own helpers (in its session, where no task process can ever be) are not.
    A process that emptied its environment cannot be told apart and is left alone.
    """
    name, value = tag
    found: dict[int, psutil.Process] = {}
    for proc in _adopted():
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE and proc.environ().get(name) == value:
                found.setdefault(proc.pid, proc)
                for child in proc.children(recursive=True):
                    found.setdefault(child.pid, child)
    return list(found.values())


def reap_orphans() -> None:
    """Collect the exit status of adopted orphans that ended, so none lingers as a zombie.

    Not while a task process is being started: it is this process's child before it is
    known as a task, and a command as short as ``true`` may already have ended; reaping
    it would take its exit status from asyncio, which then reports 255 for a task that
    succeeded. The next call collects what this one skipped."""
    if _starting:
        return
    for proc in _adopted():
        with contextlib.suppress(psutil.Error, ChildProcessError):
            if proc.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(proc.pid, os.WNOHANG)


def _adopted() -> list[psutil.Process]:
    """Children of this process that it adopted (none unless it is the subreaper).

    The kernel hands orphans to the subreaper's main thread, whose ``children`` file
    lists them in microseconds, where psutil would read every process of the machine.
    """
    if not adopt_orphans():
        return []
    try:
        pids = {int(pid) for pid in _read_proc(f"/proc/self/task/{os.getpid()}/children").split()}
    except OSError:
        return []
    own_session = os.getsid(0)
    adopted = []
    for pid in pids - _unreaped_tasks:
        with contextlib.suppress(OSError, psutil.Error):
            if os.getsid(pid) != own_session:
                adopted.append(psutil.Process(pid))
    return adopted


def _read_proc(path: str) -> bytes:
    """A file of /proc, read with three system calls where ``open()`` makes six (it asks
    whether the file is a terminal and where it stands): read twice per task."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.Error:
        return None


def _tree(root: psutil.Process | None, known: Iterable[psutil.Process]) -> list[psutil.Process]:
    """The root, its current descendants and the known processes, once each."""
    procs = {proc.pid: proc for proc in known}
    if root is not None:
        with contextlib.suppress(psutil.Error):
            procs.setdefault(root.pid, root)
            for child in root.children(recursive=True):
                procs.setdefault(child.pid, child)
    return list(procs.values())


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    # The group outlives its leader, so its id stays valid while any member runs.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _group_of(proc: psutil.Process) -> int | None:
    try:
        return os.getpgid(proc.pid)
    except OSError:
        return None


def _running(proc: psutil.Process) -> bool:
    """Alive and not a zombie: a zombie has finished, it only waits to be reaped."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _quietly(action: Any) -> None:
    with contextlib.suppress(psutil.Error):
        action()


@dataclass
class _Seen:
    """What the last sample saw of one process."""

    process: psutil.Process
    ppid: int
    cpu: float
    children_cpu: float
    gone: bool = False
    reaped_by_tree: bool = False


@dataclass(frozen=True)
class _Reading:
    process: psutil.Process
    ppid: int
    rss: int
    cpu: float
    children_cpu: float


class TreeSampler:
    """Measures one task's process tree while it runs: peak RSS and CPU time.

    Samples every ``SAMPLE_INTERVAL`` seconds in a worker thread (psutil reads /proc
    or calls the OS), the first one shortly after start.
    """

    def __init__(self, root_pid: int) -> None:
        self._root_pid = root_pid
        self._seen: dict[int, _Seen] = {}
        self.peak_rss = 0
        self._first: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        # A timer until the first sample, not a task asleep: most short tasks end before it.
        self._first = asyncio.get_running_loop().call_later(FIRST_SAMPLE_DELAY, self._begin)

    def _begin(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"sample-tree-{self._root_pid}")

    async def stop(self) -> None:
        if self._first is not None:
            self._first.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def processes(self) -> list[psutil.Process]:
        """Every process seen in the tree, for killing stragglers that left its group."""
        return [seen.process for seen in self._seen.values()]

    def cpu_time(self) -> float:
        """User plus system seconds of every process seen, plus what they reaped unseen.

        A process reaped by a parent in the tree already counts in that parent's
        children times, so it is not counted again on its own.
        """
        return sum(seen.cpu + seen.children_cpu for seen in self._seen.values() if not seen.reaped_by_tree)

    async def _run(self) -> None:
        # One handle for the whole run: psutil checks that its pid still names the root.
        root = await asyncio.to_thread(_process, self._root_pid)
        if root is None:
            return
        while True:
            known = [seen.process for seen in self._seen.values() if not seen.gone]
            readings = await asyncio.to_thread(_read_tree, root, known)
            self._record(readings)
            await asyncio.sleep(SAMPLE_INTERVAL)

    def _record(self, readings: list[_Reading]) -> None:
        present = {reading.process.pid for reading in readings}
        for pid, seen in self._seen.items():
            if pid not in present and not seen.gone:
                seen.gone = True
                seen.reaped_by_tree = seen.ppid in present
        for reading in readings:
            self._seen[reading.process.pid] = _Seen(
                reading.process, reading.ppid, reading.cpu, reading.children_cpu
            )
        self.peak_rss = max(self.peak_rss, sum(reading.rss for reading in readings))


def _read_tree(root: psutil.Process, known: list[psutil.Process]) -> list[_Reading]:
    """One sample of the tree: the root, its descendants and known escapees (zombies
    included: their times are final and their parent has not counted them yet)."""
    readings = []
    for proc in _tree(root, known):
        try:
            with proc.oneshot():
                if not proc.is_running():
                    continue
                times = proc.cpu_times()
                rss = 0 if proc.status() == psutil.STATUS_ZOMBIE else proc.memory_info().rss
                readings.append(
                    _Reading(
                        proc,
                        proc.ppid(),
                        rss,
                        times.user + times.system,
                        getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0),
                    )
                )
        except psutil.Error:
            continue
    return readings
