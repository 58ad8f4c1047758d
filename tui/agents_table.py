"""The agents table: every render node with its state, hardware, load and running tasks."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey

from renderq.client.units import format_size, progress_bar
from renderq.tui.farm_view import Changes, FarmView
from renderq.tui.jobs_table import put_cells, repaint
from renderq.v1 import resources_pb2 as pb

COLUMNS = [
    ("ID", "id"),
    ("HOST", "host"),
    ("STATE", "state"),
    ("SLOTS", "slots"),
    ("CPU", "cpu"),
    ("RAM", "ram"),
    ("HARDWARE", "hardware"),
    ("RUNNING", "running"),
]


def agent_state(agent: pb.Agent) -> Text:
    """``online enabled``, ``offline draining``, ``refused: why``: status and mode in one cell."""
    if agent.problem:
        return Text("refused", style="bold red")
    online = agent.status == pb.AGENT_STATUS_ONLINE
    status = pb.AgentStatus.Name(agent.status).removeprefix("AGENT_STATUS_").lower()  # type: ignore[arg-type]
    mode = pb.AgentMode.Name(agent.mode).removeprefix("AGENT_MODE_").lower()  # type: ignore[arg-type]
    style = "green" if online and agent.mode == pb.AGENT_MODE_ENABLED else "yellow" if online else "dim"
    return Text(f"{status} {mode}", style=style)


def agent_cells(agent: pb.Agent) -> list[Text | str]:
    hw = agent.hardware
    ram_total = hw.ram_bytes or 1
    gpus = f" {len(hw.gpus)} GPU" if hw.gpus else ""
    # Every cell a Text: a plain string is parsed as markup on each render, which costs
    # time and swallows a load bar's ``[##--]`` as a tag.
    return [
        Text(agent.id),
        Text(hw.hostname or agent.address or "-"),
        agent_state(agent),
        Text(f"{agent.slots_used}/{agent.slots}", justify="right"),
        Text(progress_bar(agent.load.cpu_percent / 100, 6)),
        Text(f"{progress_bar(agent.load.ram_used_bytes / ram_total, 6)} of {format_size(hw.ram_bytes)}"),
        Text(f"{hw.cpu_cores} cores{gpus} {hw.os}"),
        Text(", ".join(f"task {t}" for t in agent.running_task_ids) or "-"),
    ]


class AgentsTable(DataTable[Text | str]):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, view: FarmView, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.view = view

    def on_mount(self) -> None:
        for label, key in COLUMNS:
            self.add_column(label, key=key)

    @property
    def selected_agent_id(self) -> str | None:
        if self.row_count == 0:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)

    def show(self, changes: Changes) -> None:
        if changes.everything:
            self.clear()
        ids = sorted(self.view.agents) if changes.everything else sorted(changes.agents)
        changed: dict[str, set[ColumnKey]] = {}
        for agent_id in ids:
            agent = self.view.agents.get(agent_id)
            if agent is None:
                if agent_id in self.rows:
                    self.remove_row(agent_id)
                continue
            cells = agent_cells(agent)
            if agent_id in self.rows:
                changed[agent_id] = put_cells(self, agent_id, cells)
            else:
                self.add_row(*cells, key=agent_id)
        repaint(self, changed)
