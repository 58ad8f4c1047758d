"""Telling that the kernel's OOM killer ended a task, from what the kernel counts.

When memory runs out, Linux picks a victim, counts the kill (``oom_kill`` in
``/proc/vmstat`` and in the ``memory.events`` of the victim's memory cgroup, raised
before the signal is sent) and sends it SIGKILL. A task whose process died of a SIGKILL
the agent did not send, while one of those counters rose, was killed for memory; one
that died of SIGKILL while no counter moved was killed by someone else, and is never
said to be out of memory. The counter is read before commands start (at most once a
second, see ``OomWatch.read``) and once more after one dies of SIGKILL: nothing is polled.

Which counter is read is settled once per agent process (``linux_counter``):

- the ``memory.events`` of the agent's own cgroup v2, where its tasks run (they inherit
  it). It counts kills in that cgroup and, since Linux 5.2 (unless cgroup2 is mounted
  with ``memory_localevents``), in the cgroups below it: kills elsewhere on the machine
  do not move it, whether the kernel ran out of memory as a whole or the cgroup hit its
  own ``memory.max``;
- else ``/proc/vmstat`` (Linux 4.13 and newer), which counts every kill on the
  machine: with cgroup v1, whose ``memory.oom_control`` counts only the cgroup's own
  processes, not those of the cgroups below it, or without a memory controller;
- else nothing, and no task is ever said to be out of memory.

Each kill explains at most one task's death (``OomWatch.claim``): two tasks that died
of SIGKILL while the counter rose by one are not both put down to memory.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from renderq.client.units import format_size

log = logging.getLogger(__name__)

VMSTAT = Path("/proc/vmstat")
OWN_CGROUP = Path("/proc/self/cgroup")
MOUNTS = Path("/proc/self/mountinfo")
BEFORE_FRESH = 1.0
"""Seconds a reading of the count serves as the count before each command that starts."""
OOM_KILL_LINE = re.compile(rb"^oom_kill[ \t]+(\d+)[ \t]*$", re.MULTILINE)
"""The line ``oom_kill N`` of a file of ``name value`` lines."""


@dataclass(frozen=True)
class Counter:
    """One ``oom_kill`` count: a line ``oom_kill N`` in a file of ``name value`` lines."""

    path: Path

    def read(self) -> int | None:
        """The count now; None when the file cannot be read or has no such line.

        Read before every command: one search of the raw bytes (``/proc/vmstat`` has some
        180 lines) rather than a split of each line."""
        try:
            with open(self.path, "rb") as counts:
                found = OOM_KILL_LINE.search(counts.read())
        except OSError:
            return None
        return int(found[1]) if found else None


class OomWatch:
    """The kernel's count of out-of-memory kills where this agent's tasks run, shared by
    every attempt of the agent so that one kill explains one death at most."""

    def __init__(self, counter: Counter | None) -> None:
        self.counter = counter
        """None: this system offers no count (the agent then never claims a kill)."""
        self._claimed = 0
        """Kills up to this count already explain a task's death."""
        self._last: tuple[float, int | None] = (-BEFORE_FRESH, None)
        """When the count was last read before a command (monotonic seconds), and what it was."""

    def read(self) -> int | None:
        """The count before a command starts; None when there is none.

        Read again only once the last reading is ``BEFORE_FRESH`` old: ``/proc/vmstat``
        is some 180 counters the kernel adds up on every read, a good part of a short
        task's start when read for each. A kill counted in that second before the
        command's start may then be put down to the command, if it dies of a SIGKILL
        nobody else claims: the window was already as long as the command ran."""
        if self.counter is None:
            return None
        now = time.monotonic()
        read_at, count = self._last
        if now - read_at >= BEFORE_FRESH:
            count = self.counter.read()
            self._last = (now, count)
        return count

    def claim(self, before: int | None) -> bool:
        """A task whose command died of a SIGKILL the agent did not send asks whether the
        kernel killed it for memory: True when the count rose since ``before`` by a kill
        no other task has claimed yet, which this task then claims."""
        if before is None or self.counter is None:
            return False
        now = self.counter.read()
        if now is None:
            return False
        first = max(before, self._claimed)
        if now <= first:
            return False
        self._claimed = first + 1
        return True


def out_of_memory_message(peak_rss: int) -> str:
    """What the task's error says; ``peak_rss`` as the agent last measured it (0: unknown).

    The tree is sampled, so the peak is what the last sample before the kill saw: the
    task had at least that much when the kernel killed it."""
    if peak_rss <= 0:
        return "killed by the kernel for lack of memory"
    return f"killed by the kernel for lack of memory (peak {format_size(peak_rss)})"


def linux_counter() -> Counter | None:
    """The best counter on this Linux system (see the module's docstring), settled once."""
    events = _own_memory_events()
    if events is not None and events.read() is not None:
        log.info("out-of-memory kills read from %s (the agent's cgroup)", events.path)
        return events
    vmstat = Counter(VMSTAT)
    if vmstat.read() is not None:
        log.info("out-of-memory kills read from %s (the whole machine's)", vmstat.path)
        return vmstat
    log.warning("no count of out-of-memory kills here: a task killed for memory is reported as killed")
    return None


def _own_memory_events() -> Counter | None:
    """``memory.events`` of this process's cgroup v2, when the memory controller runs there."""
    try:
        lines = OWN_CGROUP.read_text().splitlines()
        mounts = MOUNTS.read_text().splitlines()
    except OSError:
        return None
    # "0::/path" is the cgroup v2 line (on a hybrid system there are v1 lines besides).
    path = next((line[3:] for line in lines if line.startswith("0::")), None)
    if path is None:
        return None
    for root, mount_point in _cgroup2_mounts(mounts):
        relative = os.path.relpath(path, root)
        if relative == ".." or relative.startswith("../"):
            continue
        events = Path(os.path.normpath(Path(mount_point) / relative)) / "memory.events"
        if events.is_file():
            return Counter(events)
    return None


def _cgroup2_mounts(mounts: list[str]) -> list[tuple[str, str]]:
    """(root, mount point) of each cgroup2 mount listed in ``/proc/self/mountinfo``."""
    found = []
    for line in mounts:
        fields, _, after = line.partition(" - ")
        parts = fields.split()
        if len(parts) >= 5 and after.split(" ", 1)[0] == "cgroup2":
            found.append((_unescape(parts[3]), _unescape(parts[4])))
    return found


def _unescape(field: str) -> str:
    """mountinfo writes a space, tab, newline or backslash in a path as an octal escape."""
    for code in ("040", "011", "012", "134"):
        field = field.replace("\\" + code, chr(int(code, 8)))
    return field
