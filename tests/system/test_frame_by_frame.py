"""Frame-by-frame dependencies with real processes: a comp frame starts as soon as its
own render frame completed, while the render still runs, and both jobs complete."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.waiting import eventually

from .conftest import Farm
from .test_recovery import frames_of, gated_command

pytestmark = pytest.mark.system


def instant(text: str) -> datetime:
    """An RFC 3339 time of the JSON output (up to nanoseconds) as a datetime (microseconds)."""
    match = re.fullmatch(r"([^.Z]+)(?:\.(\d+))?Z", text)
    assert match is not None, text
    fraction = (match.group(2) or "").ljust(6, "0")[:6]
    return datetime.fromisoformat(f"{match.group(1)}.{fraction}+00:00")


def by_number(farm: Farm, job_id: str) -> dict[int, dict[str, Any]]:
    return {int(f["number"]): f for f in frames_of(farm, job_id)}


def test_a_comp_frame_starts_once_its_render_frame_completed_while_the_render_runs(
    farm_factory: Callable[[], Farm], tmp_path: Path
) -> None:
    farm: Farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1", "--slots", "4")
    controller = farm.start_controller()
    controller.wait_for_line(rf"agent online agent=\S+ address=127.0.0.1:{farm.agent_ports['a1']}")
    gates = tmp_path / "gates"
    gates.mkdir()
    render = str(farm.cli.json("submit", "command", "--frames", "1-3", *gated_command(gates))["id"])
    comp = str(
        farm.cli.json(
            "submit", "command", "--frames", "1-3", "--depends-on", render, "--frame-by-frame",
            "--", "sh", "-c", "echo comp {frame}",
        )["id"]
    )  # fmt: skip
    (gates / "1").touch()
    eventually("frame 1 of the comp completed", lambda: by_number(farm, comp)[1]["state"] == "completed")
    renders = by_number(farm, render)
    assert {renders[n]["state"] for n in (2, 3)} <= {"assigned", "rendering"}, "their gates are closed"
    assert by_number(farm, comp)[2]["state"] == "pending"
    why = farm.cli.run("why", comp, "2").stdout
    assert f"frame 2 waits for frame 2 of job {render} (" in why, why

    (gates / "2").touch()
    (gates / "3").touch()
    assert farm.cli.run("wait", comp, "--timeout", "120").returncode == 0
    assert farm.cli.run("wait", render, "--timeout", "120").returncode == 0
    renders, comps = by_number(farm, render), by_number(farm, comp)
    assert all(f["state"] == "completed" for f in [*renders.values(), *comps.values()])
    last_render = max(instant(f["end_time"]) for f in renders.values())
    assert instant(comps[1]["start_time"]) < last_render, (comps[1], renders)
    for n in (1, 2, 3):
        assert instant(comps[n]["start_time"]) >= instant(renders[n]["end_time"]), n
