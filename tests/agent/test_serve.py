"""Starting and stopping the agent: the listening line, clean stops on signals, and
clear sentences when it cannot start."""

from __future__ import annotations

import asyncio
import logging
import re
import signal
import socket
import sys
from pathlib import Path

import pytest

from renderq import farm_key
from renderq.agent.config import AgentConfig
from renderq.agent.main import main, serve
from renderq.agent.server import AgentServer, AgentStartError
from tests.agent.conftest import (
    DEADLINE,
    FARM_KEY,
    FakeController,
    agent_config,
    is_gone,
    pids_in,
    shell,
    task,
)
from tests.waiting import until

LISTENING = re.compile(r"renderq agent (\S+) listening on 127\.0\.0\.1:(\d+)")


async def test_serve_logs_its_real_port_and_answers_there(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="renderq.agent")
    ready = asyncio.Event()
    serving = asyncio.create_task(serve(agent_config(tmp_path), ready))
    try:
        async with asyncio.timeout(DEADLINE):
            await ready.wait()
        lines = [r.getMessage() for r in caplog.records if r.name == "renderq.agent"]
        (match,) = [m for m in map(LISTENING.match, lines) if m]
        controller = FakeController(int(match.group(2)))
        hello = await controller.connect()
        await controller.close()
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)

    assert hello.agent_id == match.group(1)
    assert hello.port == int(match.group(2)) > 0


@pytest.mark.parametrize("ending", [signal.SIGTERM, signal.SIGHUP], ids=["sigterm", "sighup"])
async def test_a_stop_signal_stops_the_agent_and_its_tasks(tmp_path: Path, ending: signal.Signals) -> None:
    program = (
        "import logging, sys\n"
        "from pathlib import Path\n"
        "from renderq.agent.config import AgentConfig\n"
        "from renderq.agent.main import main\n"
        "logging.basicConfig(level=logging.INFO, format='%(name)s %(message)s')\n"
        "config = AgentConfig(\n"
        "    listen='127.0.0.1:0', data_dir=Path(sys.argv[1]), mdns=False, kill_grace=2.0, join=sys.argv[2]\n"
        ")\n"
        "sys.exit(main(config))\n"
    )
    agent = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        program,
        str(tmp_path / "agent"),
        farm_key.to_token(FARM_KEY),
        stderr=asyncio.subprocess.PIPE,
    )
    assert agent.stderr is not None
    try:
        async with asyncio.timeout(DEADLINE):
            while not (match := LISTENING.search((await agent.stderr.readline()).decode())):
                pass
        controller = FakeController(int(match.group(2)))
        await controller.connect()
        await controller.assign(task(41, shell("sleep 300 & echo sleeper=$!; wait")))
        log = await controller.log_text_until(41, "sleeper=")
        pids = [controller.of(41, "started")[0].started.pid, *pids_in(log, "sleeper")]

        agent.send_signal(ending)
        async with asyncio.timeout(DEADLINE):
            code = await agent.wait()
        await controller.close()
    finally:
        if agent.returncode is None:
            agent.kill()
            await agent.wait()

    assert code == 0
    await until(f"task processes {pids} are gone", lambda: all(is_gone(pid) for pid in pids))


def test_a_taken_port_is_reported_in_a_sentence(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(agent_config(tmp_path, listen=f"127.0.0.1:{port}"))

    assert code == 1
    assert f"renderq agent cannot start: cannot listen on 127.0.0.1:{port}" in caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("listen", ["7421", "localhost:http", "127.0.0.1:70000"])
async def test_a_listen_address_without_a_port_is_refused(tmp_path: Path, listen: str) -> None:
    with pytest.raises(AgentStartError, match="must be host:port"):
        await AgentServer(agent_config(tmp_path, listen=listen)).start()


async def test_an_advertise_address_that_is_no_ip_is_refused(tmp_path: Path) -> None:
    config = agent_config(tmp_path, mdns=True, advertise_address="render-07")
    with pytest.raises(AgentStartError, match="'render-07' is not an IP address"):
        await AgentServer(config).start()


async def test_an_unwritable_data_dir_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(AgentStartError, match="cannot keep the agent id in"):
        await AgentServer(AgentConfig(listen="127.0.0.1:0", data_dir=blocker / "agent", mdns=False)).start()
