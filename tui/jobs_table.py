"""The jobs table: one row per job, kept current row by row, sortable and filterable.

Only the rows of jobs that changed are touched on each update, so a farm of 1,000
jobs streaming events costs a few cell updates per redraw, not a rebuilt table.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from renderq.client.units import format_seconds, progress_bar
from renderq.tui.farm_view import Changes, FarmView, eta_seconds
from renderq.v1 import resources_pb2 as pb

COLUMNS = [
    ("ID", "id"),
    ("NAME", "name"),
    ("OWNER", "owner"),
    ("STATE", "state"),
    ("PRI", "priority"),
    ("PROGRESS", "progress"),
    ("FRAMES", "frames"),
    ("ETA", "eta"),
]
STATE_STYLES = {
    pb.JOB_STATE_QUEUED: "dim",
    pb.JOB_STATE_RUNNING: "bold cyan",
    pb.JOB_STATE_SUSPENDED: "yellow",
    pb.JOB_STATE_COMPLETED: "green",
    pb.JOB_STATE_FAILED: "bold red",
    pb.JOB_STATE_CANCELLED: "magenta",
}
SORT_KEYS = {
    "id": lambda j: j.id,
    "name": lambda j: j.name.lower(),
    "owner": lambda j: j.owner.lower(),
    "state": lambda j: j.state,
    "priority": lambda j: j.priority,
    "progress": lambda j: j.progress,
}


def state_label(state: int) -> str:
    return pb.JobState.Name(state).removeprefix("JOB_STATE_").lower()  # type: ignore[arg-type]


@dataclass(frozen=True)
class JobFilter:
    """``state:running owner:ana shot010``: words with a prefix match that field, the
    others the job's name; every word must match."""

    text: str = ""

    def matches(self, job: pb.Job) -> bool:
        for word in self.text.lower().split():
            field, _, value = word.partition(":")
            if value and field == "state":
                if not state_label(job.state).startswith(value):
                    return False
            elif value and field == "owner":
                if value not in job.owner.lower():
                    return False
            elif word not in job.name.lower():
                return False
        return True


def job_cells(job: pb.Job) -> list[Text | str]:
    eta = eta_seconds(job)
    return [
        Text(str(job.id), justify="right"),
        job.name or "-",
        job.owner or "-",
        Text(state_label(job.state), style=STATE_STYLES.get(job.state, "")),
        Text(str(job.priority), justify="right"),
        progress_bar(job.progress),
        Text(f"{job.frames_completed}/{job.frame_count}", justify="right"),
        format_seconds(eta) if eta is not None else "-",
    ]


class JobsTable(DataTable[Text | str]):
    """Rows keyed by job id (as text); the cursor row is the selected job."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("s", "cycle_sort", "Sort", tooltip="Sort by the next column"),
    ]

    def __init__(self, view: FarmView, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.view = view
        self.filter = JobFilter()
        self.sort_column = "id"
        self.sort_reverse = True

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected_job_id(self) -> int | None:
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return int(str(row_key.value))

    def show(self, changes: Changes) -> None:
        """Bring the rows of changed jobs (or all, after a fresh listing) up to date."""
        if changes.everything:
            self.clear()
            ids = list(self.view.jobs)
        else:
            ids = list(changes.jobs)
        added = False
        for job_id in ids:
            key = str(job_id)
            job = self.view.jobs.get(job_id)
            present = key in self.rows
            if job is None or not self.filter.matches(job):
                if present:
                    self.remove_row(key)
                continue
            cells = job_cells(job)
            if present:
                for (_, column), cell in zip(COLUMNS, cells, strict=True):
                    self.update_cell(key, column, cell)
            else:
                self.add_row(*cells, key=key)
                added = True
        if added:
            self._sort()

    def refilter(self, text: str) -> None:
        self.filter = JobFilter(text)
        self.show(Changes(everything=True))

    def action_cycle_sort(self) -> None:
        keys = list(SORT_KEYS)
        self.sort_column = keys[(keys.index(self.sort_column) + 1) % len(keys)]
        # Newest, most urgent and furthest along first; names and states A to Z.
        self.sort_reverse = self.sort_column in ("id", "priority", "progress")
        self._sort()
        self.notify(f"jobs sorted by {self.sort_column}", timeout=2)

    def _sort(self) -> None:
        by = SORT_KEYS[self.sort_column]
        jobs = self.view.jobs

        def key(id_cell: Text) -> object:
            job = jobs.get(int(id_cell.plain))
            return by(job) if job is not None else 0

        self.sort("id", key=key, reverse=self.sort_reverse)
