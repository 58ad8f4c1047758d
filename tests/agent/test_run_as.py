"""An agent running as root runs its tasks as the unprivileged user named by ``run_as``."""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest

from renderq.agent import server as server_module
from renderq.agent.config import AgentConfig
from renderq.agent.main import main
from renderq.agent.run_as import resolve_task_user
from renderq.agent.server import AgentServer, AgentStartError
from renderq.v1 import resources_pb2
from tests.agent.conftest import (
    IN_CI,
    FakeController,
    agent_config,
    is_gone,
    pids_in,
    shell,
    task,
)
from tests.waiting import until

NOBODY = pwd.getpwnam("nobody")


@pytest.fixture
def as_root() -> None:
    """Switching users needs root; CI runs as root, so there a skip would hide a broken feature."""
    if os.geteuid() == 0:
        return
    if IN_CI:
        pytest.fail("CI=true but the tests do not run as root, which running tasks as another user needs")
    pytest.skip("running tasks as another user needs root")


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder that any user may pass through: pytest's tmp_path is under a folder only
    root may enter, where a task user could not reach its workspace."""
    with tempfile.TemporaryDirectory(prefix="renderq-run-as-") as folder:
        os.chmod(folder, 0o711)
        yield Path(folder)


@pytest.fixture
async def agent(
    as_root: None, open_dir: Path, hardware: resources_pb2.Hardware, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AgentServer]:
    """The conftest agent with ``run_as="nobody"``: its ``connect`` and ``controller`` fixtures
    use this one."""

    async def probed(config: object = None) -> resources_pb2.Hardware:
        return hardware

    monkeypatch.setattr(server_module, "probe_hardware", probed)
    server = AgentServer(agent_config(open_dir, run_as="nobody"))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_task_runs_as_the_user_and_writes_its_workspace(controller: FakeController) -> None:
    script = """
        echo "uid=$(id -u) groups=$(id -G) user=$USER logname=$LOGNAME home=$HOME"
        echo written > made-by-task.txt
        echo frame > renders/frame_0001.txt
    """
    await controller.assign(task(1, shell(script), expected=[(1, "{renders}/frame_0001.txt")]))
    finished = await controller.finished(1)

    assert finished.error_message == ""
    assert list(finished.failed_frames) == []
    identity = f"uid={NOBODY.pw_uid} groups={NOBODY.pw_gid} user=nobody logname=nobody home={NOBODY.pw_dir}"
    assert identity in controller.log(1)
    workspace = Path(controller.of(1, "started")[0].started.workspace)
    made = await asyncio.to_thread((workspace / "made-by-task.txt").stat)
    assert made.st_uid == NOBODY.pw_uid


async def test_cancel_kills_the_whole_tree_of_another_users_task(controller: FakeController) -> None:
    # A grandchild in the task's group, and a daemon (own session, parent gone) that only
    # the subreaper and the environment it inherited tie to the task.
    script = """
        sleep 300 & echo child=$!
        (setsid sleep 300 & echo daemon=$!)
        wait
    """
    await controller.assign(task(2, shell(script)))
    log = await controller.log_text_until(2, "daemon=")
    log = await controller.log_text_until(2, "child=")
    pids = [controller.of(2, "started")[0].started.pid, *(pids_in(log, n)[0] for n in ("child", "daemon"))]
    owners = await asyncio.to_thread(lambda: {psutil.Process(pid).uids().real for pid in pids})
    assert owners == {NOBODY.pw_uid}

    await controller.cancel(2, "operator said so")
    finished = await controller.finished(2)

    assert finished.cancelled
    await until(f"processes {pids} of the cancelled task are gone", lambda: all(is_gone(pid) for pid in pids))


async def test_a_program_the_user_cannot_find_is_named(controller: FakeController) -> None:
    # setpriv, which switches users, reports it: the process started, the program did not.
    await controller.assign(task(3, ["renderq-test-no-such-renderer", "--version"], frames=[1, 2]))
    finished = await controller.finished(3)

    assert finished.exit_code == 127
    assert "renderq-test-no-such-renderer: No such file or directory" in finished.error_message
    assert list(finished.failed_frames) == [1, 2]


@pytest.mark.usefixtures("as_root")
def test_an_unknown_user_stops_the_agent_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    code = main(agent_config(tmp_path, run_as="renderq-no-such-user"))

    assert code == 1
    assert (
        "renderq agent cannot start: --run-as renderq-no-such-user: there is no such user on this node"
        in caplog.text
    )
    assert "Traceback" not in caplog.text


@pytest.mark.usefixtures("as_root")
async def test_root_is_refused_as_the_task_user(tmp_path: Path) -> None:
    with pytest.raises(AgentStartError, match="--run-as root: tasks must run as an unprivileged user"):
        await AgentServer(agent_config(tmp_path, run_as="root")).start()


@pytest.mark.usefixtures("as_root")
async def test_a_data_dir_the_user_cannot_reach_is_refused(open_dir: Path) -> None:
    closed = open_dir / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(AgentStartError, match=f"tasks run as nobody cannot enter {closed}/agent/workspaces"):
        await AgentServer(agent_config(closed, run_as="nobody")).start()


@pytest.mark.usefixtures("as_root")
def test_root_without_a_task_user_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    assert resolve_task_user(AgentConfig()) is None

    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "tasks run as root" in warning.getMessage()
    assert "--run-as USER" in warning.getMessage()


def test_a_task_user_is_ignored_when_the_agent_is_not_root(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)

    assert resolve_task_user(AgentConfig(run_as="nobody")) is None
    assert "--run-as nobody ignored" in caplog.text
