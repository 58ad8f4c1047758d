"""The agents a job stopped using after its tasks kept failing there: agent, failures, why.

On the job screen, under the summary, while the job blocks any; ``u`` gives the agent
under the cursor back to the job (UnblockAgent, as ``renderq unblock JOB AGENT``). Rows
follow the job's events; the cursor stays on its agent while others come and go. A
reason wraps in its column rather than run off the screen.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.widgets import DataTable

from renderq.v1 import resources_pb2 as pb

FAILURES_WIDTH = len("FAILURES")
REASON_MIN = 20
"""The reason column's least width; a narrower screen scrolls sideways."""


class BlockedTable(DataTable[Text]):
    DEFAULT_CSS = """
    BlockedTable { height: auto; max-height: 5; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self.blocked: list[pb.BlockedAgent] = []
        self._width = 0
        """The width the columns were fitted to."""

    @property
    def selected_agent_id(self) -> str | None:
        """The agent under the cursor; None when the job blocks none."""
        if not self.blocked:
            return None
        return self.blocked[min(max(self.cursor_row, 0), len(self.blocked) - 1)].agent_id

    def show(self, blocked: Sequence[pb.BlockedAgent]) -> None:
        """The job's blocked agents as they are now (redrawn only when they changed)."""
        blocked = list(blocked)
        if blocked == self.blocked and self._width == self.size.width:
            return
        selected = self.selected_agent_id
        self.blocked = blocked
        self._fill()
        ids = [b.agent_id for b in blocked]
        if selected in ids:
            self.move_cursor(row=ids.index(selected), animate=False)

    def _fill(self) -> None:
        self._width = self.size.width
        self.clear(columns=True)
        if not self.blocked:
            return
        agent_width = max(len("AGENT"), *(len(b.agent_id) for b in self.blocked))
        # Two cells of padding a column, and room for a scrollbar.
        spare = self._width - agent_width - FAILURES_WIDTH - 3 * 2 * self.cell_padding - 2
        self.add_column("AGENT", width=agent_width, key="agent")
        self.add_column("FAILURES", width=FAILURES_WIDTH, key="failures")
        self.add_column("REASON", width=max(REASON_MIN, spare), key="reason")
        for entry in self.blocked:
            self.add_row(
                Text(entry.agent_id),
                Text(str(entry.failures), justify="right"),
                Text(entry.reason or "-", style="yellow"),
                key=entry.agent_id,
                height=None,
            )

    def on_resize(self, event: events.Resize) -> None:
        if self.blocked and self._width != self.size.width:
            self._fill()
