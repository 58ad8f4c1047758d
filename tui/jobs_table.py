"""The jobs table: one row per job, kept current row by row, sortable and filterable.

Only the rows of jobs that changed are touched on each update, so a farm of 1,000
jobs streaming events costs a few cell updates per redraw, not a rebuilt table.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from renderq.client.units import format_seconds, progress_bar
from renderq.tui.farm_view import Changes, FarmView, eta_seconds
from renderq.v1 import resources_pb2 as pb

RESORT_SECONDS = 1.0
"""Least time between two re-sorts of rows whose sort value changed."""

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


def put_cells(
    table: DataTable[Text | str], key: str, cells: list[Text | str], columns: list[ColumnKey] | None = None
) -> set[ColumnKey]:
    """Set a row's cells (one per column, in order); the columns whose cell changed.

    Then call ``repaint`` with what changed. ``DataTable.update_cell`` bumps a counter
    that is part of every render cache key, so one changed cell re-renders every visible
    cell of the table (about 45 ms at 160x48 for the jobs table; at ten updates a second
    that alone was half a core). Here only the changed cells' cache entries are dropped.
    Those caches are DataTable internals (Textual 8): if they are not as expected, or a
    cell outgrows its column, this falls back to ``update_cell`` and returns nothing to
    repaint. tests/tui/test_app.py checks what gets painted. ``columns``: the table's
    column keys in order, when the caller has them (``ordered_columns`` makes a new list).
    """
    row_key = RowKey(key)
    data = table._data[row_key]
    if columns is None:
        columns = [column.key for column in table.ordered_columns]
    changed = {column: cell for column, cell in zip(columns, cells, strict=True) if data.get(column) != cell}
    # A cell wider than its column (``queued`` becoming ``completed``) widens it, which
    # changes every row: that is update_cell's job (it re-renders all, and measures).
    wider = {k: _cell_width(cell) for k, cell in changed.items()}
    wider = {k: width for k, width in wider.items() if width > table.columns[k].content_width}
    if wider or not _caches_known(table):
        for column_key, cell in changed.items():
            table.update_cell(row_key, column_key, cell, update_width=column_key in wider)
        for column_key, width in wider.items():
            # Now, not when the table next measures: the other rows of this update need not
            # take this path too.
            table.columns[column_key].content_width = width
        return set()
    data.update(changed)
    return set(changed)


def _cell_width(cell: Text | str) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


def repaint(table: DataTable[Text | str], changed: dict[str, set[ColumnKey]]) -> None:
    """Drop the render caches of the changed cells (``put_cells``) and of the lines they
    are on, then repaint: every other line and cell comes back from the caches. One
    repaint, not ``refresh_row`` per row, which sums the heights of every row above it
    (quadratic over a flush)."""
    rows = {RowKey(key): columns for key, columns in changed.items() if columns}
    if not rows:
        return
    indexes = {table._row_locations.get(row_key) for row_key in rows}
    _drop(table._cell_render_cache, lambda k: k[1] in rows.get(k[0], ()))
    _drop(table._row_render_cache, lambda k: k[0] in rows)
    _drop(table._row_renderable_cache, lambda k: k[1] in indexes)
    _drop(table._line_cache, lambda k: _line_row(table, k[0]) in rows)
    table.refresh()


def _drop(cache: LRUCache[Any, Any], stale: Callable[[Any], bool]) -> None:
    for key in [k for k in cache.keys() if stale(k)]:  # noqa: SIM118 - LRUCache has no __iter__
        cache.discard(key)


def _line_row(table: DataTable[Text | str], y: int) -> RowKey | None:
    try:
        return table._get_offsets(y)[0]
    except (LookupError, IndexError):
        return None


def _caches_known(table: DataTable[Text | str]) -> bool:
    return all(
        hasattr(table, name)
        for name in (
            "_cell_render_cache",
            "_row_render_cache",
            "_row_renderable_cache",
            "_line_cache",
            "_get_offsets",
            "_row_locations",
        )
    )


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
    """Every cell a ``Text``: a plain string would be parsed as markup on each render,
    which costs time and swallows a progress bar's ``[##--]`` as a tag."""
    eta = eta_seconds(job)
    return [
        Text(str(job.id), justify="right"),
        Text(job.name or "-"),
        Text(job.owner or "-"),
        Text(state_label(job.state), style=STATE_STYLES.get(job.state, "")),
        Text(str(job.priority), justify="right"),
        Text(progress_bar(job.progress)),
        Text(f"{job.frames_completed}/{job.frame_count}", justify="right"),
        Text(format_seconds(eta) if eta is not None else "-"),
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
        self._sorted_at = 0.0

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
        changed: dict[str, set[ColumnKey]] = {}
        columns = [column.key for column in self.ordered_columns]
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
                changed[key] = put_cells(self, key, cells, columns)
            else:
                self.add_row(*cells, key=key)
                added = True
        repaint(self, changed)
        # New rows take their place at once; changed ones move at most once a second
        # (sorted by id, nothing that changes can move a row).
        now = time.monotonic()
        if added or (changed and self.sort_column != "id" and now - self._sorted_at >= RESORT_SECONDS):
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
        self._sorted_at = time.monotonic()
        by = SORT_KEYS[self.sort_column]
        jobs = self.view.jobs

        def key(id_cell: Text) -> object:
            job = jobs.get(int(id_cell.plain))
            return by(job) if job is not None else 0

        self.sort("id", key=key, reverse=self.sort_reverse)
