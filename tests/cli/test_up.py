"""``renderq up`` starts the agent and the controller as children, and explains failures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from renderq.cli.failures import UserError
from renderq.cli.up import LocalServers

FAKE = [sys.executable, str(Path(__file__).with_name("fake_renderq.py"))]


async def test_up_starts_the_agent_then_the_controller_dialling_it(tmp_path: Path) -> None:
    farm = LocalServers(tmp_path, 0, 2, "INFO", command=FAKE)
    try:
        assert await farm.start() == "127.0.0.1:17420"
    finally:
        await farm.stop()
    controller_log = (tmp_path / "controller.log").read_text()
    assert "--agent 127.0.0.1:17421" in controller_log
    assert f"--data-dir {tmp_path} " in controller_log, "the controller keeps its state in the data dir"
    agent_log = (tmp_path / "agent.log").read_text()
    assert "--no-mdns" in agent_log and "--slots 2" in agent_log


async def test_the_agent_takes_the_port_after_the_controllers(tmp_path: Path) -> None:
    farm = LocalServers(tmp_path, 7500, None, "INFO", command=FAKE)
    try:
        assert await farm.start() == "127.0.0.1:7500"
    finally:
        await farm.stop()
    assert "--listen 127.0.0.1:7501" in (tmp_path / "agent.log").read_text()


async def test_a_child_that_exits_before_it_is_ready_is_shown_with_its_last_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_RENDERQ_FAIL", "controller")
    farm = LocalServers(tmp_path, 0, None, "INFO", command=FAKE)
    try:
        with pytest.raises(UserError) as failure:
            await farm.start()
    finally:
        await farm.stop()
    message = failure.value.message
    assert message.startswith("renderq controller exited with code 3 before it was ready")
    assert "cannot listen on 0.0.0.0:0: address in use" in message
    assert str(tmp_path / "controller.log") in message


async def test_a_child_that_dies_after_it_was_ready_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_RENDERQ_DIE", "agent")
    farm = LocalServers(tmp_path, 0, None, "INFO", command=FAKE)
    try:
        await farm.start()
        failure = await farm.failure()
    finally:
        await farm.stop()
    assert failure.message.startswith("renderq agent stopped unexpectedly with code 5")
    assert failure.message.rstrip().endswith("lost the database")
