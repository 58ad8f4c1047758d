"""The jobs table: one row per job, kept current row by row, sortable and filterable.

Only the rows of jobs that changed are touched on each update, so a farm of 1,000
jobs streaming events costs a few cell updates per redraw, not a rebuilt table. The
columns fit the width (``FittedTable``): at 80 columns what an operator needs first,
wider terminals add owner, priority, pool, plugin and why a job waits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property

from rich.text import Text
from textual.binding import Binding

from renderq.client.enums import label, labels
from renderq.client.units import format_seconds, progress_bar
from renderq.tui.farm_view import Changes, FarmView
from renderq.tui.fitted_table import Column, FittedTable, cell
from renderq.tui.message_line import say
from renderq.v1 import resources_pb2 as pb

RESORT_SECONDS = 1.0
"""Least time between two re-sorts of rows whose sort value changed."""

COLUMNS = [
    Column("id", "ID", 5, right=True),
    Column("name", "NAME", 12, grow=28),
    Column("owner", "OWNER", 8, rank=1),
    Column("state", "STATE", 9),
    Column("priority", "PRI", 3, rank=1, right=True),
    Column("progress", "PROGRESS", 17),
    Column("frames", "FRAMES", 9, right=True),
    Column("eta", "ETA", 7),
    Column("pool", "POOL", 10, rank=2),
    Column("reason", "REASON", 20, rank=2, grow=40),
    Column("plugin", "PLUGIN", 8, rank=3),
]
STATE_STYLES = {
    pb.JOB_STATE_WAITING: "dim",
    pb.JOB_STATE_QUEUED: "dim",
    pb.JOB_STATE_RUNNING: "bold cyan",
    pb.JOB_STATE_SUSPENDED: "yellow",
    pb.JOB_STATE_COMPLETED: "green",
    pb.JOB_STATE_FAILED: "bold red",
    pb.JOB_STATE_CANCELLED: "magenta",
    pb.JOB_STATE_BLOCKED: "bold yellow",
}
SORT_KEYS = {
    "id": lambda j: j.id,
    "name": lambda j: j.name.lower(),
    "owner": lambda j: j.owner.lower(),
    "state": lambda j: j.state,
    "priority": lambda j: j.priority,
    "progress": lambda j: j.progress,
}


STATES = labels(pb.JobState)
"""Every state's word, as ``state:`` takes it (a prefix is enough: ``state:run``)."""


@dataclass(frozen=True)
class JobFilter:
    """``state:running owner:ana shot010``: words with a prefix match that field, the
    others the job's name; every word must match. A ``state:`` word that names no state
    is left out (``problem`` says so) rather than hiding every row without a word."""

    text: str = ""

    @cached_property
    def _words(self) -> list[tuple[str, str]]:
        """(field, value) of each word: ``state``, ``owner`` or ``name``; words still
        being typed (``state:``) and unknown states are left out. Worked out once: a
        flood of events asks ``matches`` about hundreds of jobs ten times a second."""
        words = []
        for word in self.text.lower().split():
            field, colon, value = word.partition(":")
            if colon and field in ("state", "owner"):
                if value and (field == "owner" or any(s.startswith(value) for s in STATES)):
                    words.append((field, value))
            else:
                words.append(("name", word))
        return words

    def same_as(self, other: JobFilter) -> bool:
        """Whether ``other`` keeps the same jobs (words still being typed count as none)."""
        return self._words == other._words

    def problem(self) -> str:
        """What in the filter is not understood, in words; empty when all is."""
        for word in self.text.lower().split():
            field, _, value = word.partition(":")
            if field == "state" and value and not any(s.startswith(value) for s in STATES):
                return f"filter: no state is called {value!r}; the states are {', '.join(STATES)}"
        return ""

    def matches(self, job: pb.Job) -> bool:
        for field, value in self._words:
            if field == "state":
                if not label(pb.JobState, job.state).startswith(value):
                    return False
            elif field == "owner":
                if value not in job.owner.lower():
                    return False
            elif value not in job.name.lower():
                return False
        return True


def job_reason(job: pb.Job) -> str:
    """Why a job waits, is blocked or failed, in one line; empty when nothing needs saying."""
    if job.state_reason:
        return job.state_reason
    if job.state == pb.JOB_STATE_FAILED and job.last_error:
        return job.last_error.strip().split("\n", 1)[0]
    return ""


def job_cells(job: pb.Job, eta: float | None) -> dict[str, Text]:
    """Every column's cell of the job's row, by column key."""
    return {
        "id": cell(str(job.id), right=True),
        "name": cell(job.name or "-"),
        "owner": cell(job.owner or "-"),
        "state": cell(label(pb.JobState, job.state), STATE_STYLES.get(job.state, "")),
        "priority": cell(str(job.priority), right=True),
        "progress": cell(progress_bar(job.progress)),
        "frames": cell(f"{job.frames_completed}/{job.frame_count}", right=True),
        "eta": cell(format_seconds(eta) if eta is not None else "-"),
        "pool": cell(job.pool or "-"),
        "reason": cell(job_reason(job) or "-", "yellow" if job.state_reason else "red"),
        "plugin": cell(job.plugin),
    }


class JobsTable(FittedTable):
    """Rows keyed by job id (as text); the cursor row is the selected job, and stays on
    that job when rows are added or re-sorted."""

    COLUMNS = COLUMNS
    BINDINGS = [
        Binding("enter", "select_cursor", "Open", tooltip="Show the selected job's frames", id="jobs.open"),
        Binding("j", "cursor_down", "Down", show=False, id="jobs.down"),
        Binding("k", "cursor_up", "Up", show=False, id="jobs.up"),
        Binding("s", "cycle_sort", "Sort", show=False, tooltip="Sort by the next column", id="jobs.sort"),
        Binding(
            "w",
            "app.why",
            "Why",
            show=False,
            tooltip="Why the selected job is not running: what holds it back, and each agent's reason",
            id="jobs.why",
        ),
    ]

    def __init__(self, view: FarmView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = view
        self.filter = JobFilter()
        self.sort_column = "id"
        self.sort_reverse = True
        self._sorted_at = 0.0
        self._sorted_by: dict[int, object] = {}
        """Job id -> its sort value when the rows were last sorted."""
        self._moved = False
        """A job's sort value changed since: its row may have to move."""

    @property
    def selected_job_id(self) -> int | None:
        key = self.selected_key
        return int(key) if key is not None else None

    def refill(self) -> None:
        self.show(Changes(everything=True))

    def wanted(self, key: str) -> bool:
        job = self.view.jobs.get(int(key))
        return job is not None and self.filter.matches(job)

    def cells(self, key: str) -> dict[str, Text]:
        job = self.view.jobs[int(key)]
        return job_cells(job, self.view.eta(job))

    def arranged_keys(self) -> list[str]:
        """The jobs the filter keeps, sorted (ties in the order the farm listed them)."""
        self._sorted_at = time.monotonic()
        by = SORT_KEYS[self.sort_column]
        jobs = self.view.jobs
        self._sorted_by = {job_id: by(job) for job_id, job in jobs.items()}
        self._moved = False
        kept = [job for job in jobs.values() if self.filter.matches(job)]
        kept.sort(key=by, reverse=self.sort_reverse)
        return [str(job.id) for job in kept]

    def show(self, changes: Changes) -> None:
        """Bring the rows of changed jobs (or all, after a fresh listing) up to date."""
        selected = self.selected_key  # None in an empty table: the cursor starts on the top row
        self.show_rows(changes, [str(job_id) for job_id in changes.jobs])
        # New rows take their place at once; changed ones move at most once a second, and
        # only when their sort value changed (a move redraws every row on screen).
        self._moved = self._moved or self._sort_value_changed(changes.jobs)
        if self._moved and time.monotonic() - self._sorted_at >= RESORT_SECONDS:
            self.place_rows(self.arranged_keys())
        self.select_key(selected)

    def _sort_value_changed(self, job_ids: set[int]) -> bool:
        if self.sort_column == "id":
            return False  # ids never change
        by, jobs, before = SORT_KEYS[self.sort_column], self.view.jobs, self._sorted_by
        return any(job_id in jobs and by(jobs[job_id]) != before.get(job_id) for job_id in job_ids)

    def refilter(self, text: str) -> None:
        """Show the jobs ``text`` matches; nothing to do when it matches the same ones as
        before (Escape clears the box and then hears the box changed)."""
        new = JobFilter(text)
        same = new.same_as(self.filter)
        self.filter = new
        if not same:
            self._replace_rows()

    def action_cycle_sort(self) -> None:
        keys = list(SORT_KEYS)
        self.sort_column = keys[(keys.index(self.sort_column) + 1) % len(keys)]
        # Newest, most urgent and furthest along first; names and states A to Z.
        self.sort_reverse = self.sort_column in ("id", "priority", "progress")
        self._replace_rows()
        say(self, f"jobs sorted by {self.sort_column}")

    def _replace_rows(self) -> None:
        """The rows in their new order (filter or sort), the cursor on the same job."""
        selected = self.selected_key
        self.place_rows(self.arranged_keys())
        self.select_key(selected)
