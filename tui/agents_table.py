"""The agents table: every render node with its state, slots, load and running tasks.

At 80 columns: what tells an operator whether a node works (state, slots, CPU, memory,
tasks); wider terminals add its hardware, pool, tags, cost and host name.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding

from renderq.client.enums import label
from renderq.client.units import format_size
from renderq.tui.farm_view import Changes, FarmView
from renderq.tui.fitted_table import Column, FittedTable, cell
from renderq.v1 import resources_pb2 as pb

COLUMNS = [
    Column("id", "ID", 16, grow=8),
    Column("host", "HOST", 12, rank=3),
    Column("state", "STATE", 16),
    Column("slots", "SLOTS", 5, right=True),
    Column("cpu", "CPU", 4, right=True),
    Column("ram", "RAM", 15, right=True),
    Column("hardware", "HARDWARE", 20, rank=1),
    Column("pool", "POOL", 10, rank=2),
    Column("tags", "TAGS", 12, rank=2),
    Column("cost", "COST", 7, rank=2, right=True),
    Column("running", "TASKS", 8, grow=40),
]


def agent_state(agent: pb.Agent) -> Text:
    """``online enabled``, ``offline draining``, ``refused``: status and mode in one cell."""
    if agent.problem:
        return cell("refused", "bold red")
    online = agent.status == pb.AGENT_STATUS_ONLINE
    status = label(pb.AgentStatus, agent.status)
    mode = label(pb.AgentMode, agent.mode)
    style = "green" if online and agent.mode == pb.AGENT_MODE_ENABLED else "yellow" if online else "dim"
    return cell(f"{status} {mode}", style)


def hardware_text(hw: pb.Hardware) -> str:
    """``32 cores 2 GPU Linux``."""
    gpus = f" {len(hw.gpus)} GPU" if hw.gpus else ""
    return f"{hw.cpu_cores} cores{gpus} {hw.os}"


def memory_text(agent: pb.Agent) -> str:
    """``47% of 128 GiB``: the share used, then the whole."""
    total = agent.hardware.ram_bytes
    if not total:
        return "-"
    return f"{round(100 * agent.load.ram_used_bytes / total)}% of {format_size(total)}"


def agent_cells(agent: pb.Agent) -> dict[str, Text]:
    """Every column's cell of the agent's row, by column key."""
    hw = agent.hardware
    return {
        "id": cell(agent.id),
        "host": cell(hw.hostname or agent.address or "-"),
        "state": agent_state(agent),
        "slots": cell(f"{agent.slots_used}/{agent.slots}", right=True),
        "cpu": cell(f"{round(agent.load.cpu_percent)}%", right=True),
        "ram": cell(memory_text(agent), right=True),
        "hardware": cell(hardware_text(hw)),
        "pool": cell(agent.pool or "-"),
        "tags": cell(", ".join(agent.tags) or "-"),
        "cost": cell(f"{agent.cost_per_hour:.2f}/h" if agent.cost_per_hour else "-", right=True),
        "running": cell(", ".join(str(t) for t in agent.running_task_ids) or "-"),
    }


class AgentsTable(FittedTable):
    COLUMNS = COLUMNS
    BINDINGS = [
        Binding(
            "enter",
            "select_cursor",
            "Details",
            tooltip="The agent's hardware, tasks and recent failures",
            id="agents.details",
        ),
        Binding("j", "cursor_down", "Down", show=False, id="agents.down"),
        Binding("k", "cursor_up", "Up", show=False, id="agents.up"),
    ]

    def __init__(self, view: FarmView, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view = view

    @property
    def selected_agent_id(self) -> str | None:
        return self.selected_key

    def refill(self) -> None:
        self.show(Changes(everything=True))

    def wanted(self, key: str) -> bool:
        return key in self.view.agents

    def cells(self, key: str) -> dict[str, Text]:
        return agent_cells(self.view.agents[key])

    def arranged_keys(self) -> list[str]:
        return sorted(self.view.agents)

    def show(self, changes: Changes) -> None:
        selected = self.selected_key
        self.show_rows(changes, changes.agents)
        self.select_key(selected)
