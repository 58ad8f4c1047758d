"""Joining the farm as an operator does it: the line from `renderq join-token`."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Farm
from .harness import Process, renderq_argv

pytestmark = pytest.mark.system


def test_join_token_prints_the_line_that_adds_a_node(farm_factory: Callable[[], Farm]) -> None:
    farm: Farm = farm_factory()
    printed = subprocess.run(
        renderq_argv("join-token", "--data-dir", str(farm.root / "controller")),
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert printed == f"renderq agent --join {farm.token}"


def test_a_node_without_the_key_is_refused_and_both_sides_say_why(
    farm_factory: Callable[[], Farm], tmp_path: Path
) -> None:
    farm: Farm = farm_factory()
    port = farm.add_agent("stranger")
    stranger = Process(
        renderq_argv(
            "agent", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "s"), "--no-mdns"
        ),
        "stranger",
        tmp_path,
    )
    try:
        stranger.wait_for_line("this agent has no farm key")
        controller = farm.start_controller()
        controller.wait_for_line(r"agent refused agent=\S+ .*no farm key")
        (agent,) = farm.cli.json("agents")
        assert "no farm key" in agent["problem"] and agent["status"] == "offline"
        assert "no farm key" in farm.cli.run("agents").stdout
    finally:
        stranger.stop()
