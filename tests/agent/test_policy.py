"""An agent runs only the plugins and programs its operator allows."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from renderq.agent.policy import executable_allowed, refusal
from renderq.agent.server import AgentServer
from tests.agent.conftest import FakeController, agent_config, task


def test_names_match_names_and_paths_match_resolved_paths() -> None:
    true = shutil.which("true")
    assert true is not None
    assert executable_allowed("true", ("true",))
    assert executable_allowed("true", (true,)), "a name resolves on PATH to an allowed path"
    assert executable_allowed(true, (true,))
    assert not executable_allowed("/tmp/elsewhere/true", ("true",)), "a path never passes as a bare name"
    assert not executable_allowed("sh", ("true",))


def test_a_refused_plugin_is_named_with_what_the_agent_runs(tmp_path: Path) -> None:
    config = agent_config(tmp_path, allowed_plugins=("blender",))
    why = refusal(config, task(1, ["true"], plugin="command"))
    assert why == "this agent does not run the 'command' plugin (it runs only blender)"
    assert refusal(config, task(2, ["blender"], plugin="blender")) == ""


@pytest.fixture
def allowed() -> dict[str, object]:
    return {"allowed_plugins": ("command",), "allowed_executables": ("true",)}


async def test_a_refused_assignment_fails_with_why_and_starts_nothing(
    tmp_path: Path,
    allowed: dict[str, object],
    hardware: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from renderq.agent import server as server_module

    async def probed(config: object = None) -> object:
        return hardware

    monkeypatch.setattr(server_module, "probe_hardware", probed)
    server = AgentServer(agent_config(tmp_path, **allowed))
    await server.start()
    controller = FakeController(server.port)
    try:
        hello = await controller.connect()
        assert list(hello.allowed_plugins) == ["command"]
        marker = tmp_path / "ran"
        await controller.assign(task(3, ["sh", "-c", f"touch {marker}"], plugin="command", frames=(4, 5)))
        finished = await controller.finished(3)
        await controller.assign(task(6, ["true"], plugin="command"))
        assert (await controller.finished(6)).exit_code == 0
    finally:
        await controller.close()
        await server.stop()
    assert finished.exit_code == 126
    assert finished.error_message == "this agent does not start 'sh' (it starts only true)"
    assert list(finished.failed_frames) == [4, 5]
    assert not marker.exists()
