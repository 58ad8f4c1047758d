"""Shared storage through path mapping, with real processes: a job written on Windows
(``Z:\\projects``) runs on a Linux agent, which finds the file where its rule says."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Farm

pytestmark = pytest.mark.system


def test_a_windows_path_in_a_command_is_read_on_a_linux_agent_through_a_rule(
    farm_factory: Callable[[], Farm], tmp_path: Path
) -> None:
    share = tmp_path / "share"
    (share / "shot").mkdir(parents=True)
    (share / "shot" / "in.txt").write_text("plate from the share\n")
    farm = farm_factory()
    farm.add_agent("a1")
    farm.start_agent("a1")
    farm.start_controller().wait_for_line(r"agent online")
    farm.cli.run("pathmap add", "Z:\\projects", str(share), "--os", "linux")
    script = 'echo "reading $1"; cat "$1"'
    job = farm.cli.json(
        "submit", "command", "--frames", "1", "--", "sh", "-c", script, "sh", r"Z:\projects\shot\in.txt"
    )
    farm.cli.run("wait", str(job["id"]), "--timeout", "60")  # exit 0: it completed
    log = farm.cli.run("logs", str(job["id"]), "1").stdout
    assert f"reading {share}/shot/in.txt\nplate from the share\n" in log, log
    assert farm.cli.json("job", str(job["id"]))["parameters"]["argv"][-1] == r"Z:\projects\shot\in.txt"
