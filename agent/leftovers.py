"""Task processes an earlier run of this agent left behind, found and ended at its start.

An agent that stops cleanly kills its tasks. One killed with SIGKILL (or by the OOM
killer, or a crash) cannot: its tasks run on in process groups of their own, unseen,
holding CPU, GPU memory and licences. So the agent notes each task process as it starts
and as it ends, in a small append-only file in its data folder; at its next start it
ends the processes still listed, if they are still the same processes (same pid and
start time: pids are reused), and says so in its log.

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
        """A task process started (its process group is its pid)."""
        started = start_time(pid)
        if started is not None:
            self._running[pid] = started
            self._append(f"+ {pid} {started!r}\n")

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


def start_time(pid: int) -> float | None:
    """When ``pid`` started, as psutil's ``create_time`` says it (which ``_end`` compares
    with); None when it is gone. On Linux read straight from ``/proc/PID/stat``: making a
    ``psutil.Process`` for it took a tenth of the agent's CPU per short task."""
    if sys.platform != "linux":
        try:
            return psutil.Process(pid).create_time()
        except psutil.Error:
            return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            data = stat.read()
    except OSError:
        return None
    # Fields after the command name (which may hold spaces and parentheses); the 22nd,
    # the start in clock ticks since boot, is the 20th of them.
    ticks = int(data[data.rindex(b")") + 2 :].split()[19])
    return _boot_time() + ticks / _CLOCK_TICKS


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if sys.platform == "linux" else 100


@functools.cache
def _boot_time() -> float:
    """Read once per run (psutil reads ``/proc/stat`` every time)."""
    return psutil.boot_time()


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
        if abs(leader.create_time() - started) > 0.01:
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
