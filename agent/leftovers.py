"""Task processes an earlier run of this agent left behind, found and ended at its start.

An agent that stops cleanly kills its tasks. One killed with SIGKILL (or by the OOM
killer, or a crash) cannot: its tasks run on in process groups of their own, unseen,
holding CPU, GPU memory and licences. So the agent notes each task process as it starts
and as it ends, in a small append-only file in its data folder; at its next start it
ends the processes still listed, if they are still the same processes (same pid,
started before the note: pids are reused), and says so in its log.

Appending a line costs microseconds (one write to a file held open, where opening it for
each line took ten system calls), so the hot path of dispatch does not feel it; the file is
rewritten short whenever no task runs.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import sys
import time
from pathlib import Path

import psutil

log = logging.getLogger(__name__)

COMPACT_AFTER = 10_000
"""Lines after which the file is rewritten as soon as no task runs."""


class TaskRecord:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._running: dict[int, float] = {}
        self._lines = 0
        self._fd = -1
        """The file, open for appending (-1: not open yet, or replaced by a rewrite)."""

    def end_leftovers(self) -> list[int]:
        """End the task processes the file lists that still run; their pids. Then start afresh."""
        ended = [pid for pid, started in _listed(self.path).items() if _end(pid, started)]
        if ended:
            log.warning(
                "ended %d task process(es) left running by an earlier run of this agent pids=%s",
                len(ended),
                ",".join(map(str, ended)),
            )
        self._rewrite()
        return ended

    def started(self, pid: int) -> None:
        """A task process started just now (its process group is its pid)."""
        noted = noted_now()
        self._running[pid] = noted
        self._append(f"+ {pid} {noted!r}\n")

    def ended(self, pid: int) -> None:
        if self._running.pop(pid, None) is None:
            return
        if not self._running and self._lines > COMPACT_AFTER:
            self._rewrite()
        else:
            self._append(f"- {pid}\n")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _append(self, line: str) -> None:
        try:
            if self._fd < 0:
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
                self._fd = os.open(self.path, flags, 0o644)
            os.write(self._fd, line.encode())
            self._lines += 1
        except OSError as exc:
            log.warning("cannot note task processes path=%s error=%s", self.path, exc.strerror or exc)

    def _rewrite(self) -> None:
        lines = "".join(f"+ {pid} {started!r}\n" for pid, started in self._running.items())
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(lines)
            os.replace(partial, self.path)
            self.close()  # the file held open is the one just replaced
            self._lines = len(self._running)
        except OSError as exc:
            log.warning("cannot note task processes path=%s error=%s", self.path, exc.strerror or exc)


def noted_now() -> float:
    """The time to note for a task process that started just now, on the clock of psutil's
    ``create_time`` (which ``_end`` compares it with): on Linux the boot time plus the
    clock since boot, the clock the kernel stamps a process's start with. Reading the
    process's own start from ``/proc/PID/stat`` took three system calls per task and a
    path lookup the kernel builds afresh for every new pid."""
    if sys.platform == "linux":
        return _boot_time() + time.clock_gettime(time.CLOCK_BOOTTIME)
    return time.time()


@functools.cache
def _boot_time() -> float:
    """Read once per run (psutil reads ``/proc/stat`` every time)."""
    return psutil.boot_time()


def same_process(create_time: float, noted: float) -> bool:
    """Whether a process that started at ``create_time`` is the task process noted at
    ``noted``, just after its start.

    A pid is reused only once its process was reaped, after it was noted: a process
    started later is another one. One started before, with that pid, can only be the
    task: the note follows its start by the time the start took, under a minute however
    loaded the node. A note in the older form, the exact start, passes the same test."""
    return -NOTED_WITHIN <= create_time - noted <= TICK


NOTED_WITHIN = 60.0
"""Seconds between a task process's start and its note, at most."""
TICK = 0.02
"""Seconds a start may seem to follow its note: the kernel counts starts in clock ticks
(10 ms, rounded down), and each run of the agent reads the boot time afresh."""


def _listed(path: Path) -> dict[int, float]:
    """pid -> start time of the processes the file says were started and never ended."""
    listed: dict[int, float] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return listed
    for line in text.splitlines():
        words = line.split()
        with contextlib.suppress(ValueError, IndexError):
            if words[0] == "+":
                listed[int(words[1])] = float(words[2])
            elif words[0] == "-":
                listed.pop(int(words[1]), None)
    return listed


def _end(pid: int, started: float) -> bool:
    """Kill the task whose group leader was ``pid`` (if it is still that process) and its tree."""
    try:
        leader = psutil.Process(pid)
        if not same_process(leader.create_time(), started):
            return False  # the pid was reused by another process
        tree = [leader, *leader.children(recursive=True)]
    except psutil.Error:
        return False
    if sys.platform != "win32":
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    for proc in tree:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(tree, timeout=5)
    return True
