"""The controller process stops cleanly on every stop signal (SIGHUP: the SSH session it
ran in went away), with a watch open on its API's thread: exit status 0, its store closed."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from pathlib import Path

import pytest

from renderq.stop_signals import STOP_SIGNALS
from renderq.v1 import farm_service_pb2 as fpb
from tests.waiting import DEADLINE

from .conftest import farm_client

LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


@pytest.mark.parametrize("ending", STOP_SIGNALS, ids=[s.name.lower() for s in STOP_SIGNALS])
async def test_a_stop_signal_stops_the_controller_cleanly(tmp_path: Path, ending: signal.Signals) -> None:
    controller = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "renderq", "controller", "--listen", "127.0.0.1:0",
        "--data-dir", str(tmp_path), "--no-mdns", stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert controller.stderr is not None
    log: list[str] = []
    try:
        async with asyncio.timeout(DEADLINE):
            while not (match := LISTENING.search(line := (await controller.stderr.readline()).decode())):
                assert line, f"the controller ended before it listened: {''.join(log)}"
                log.append(line)
        async with farm_client(tmp_path, int(match.group(1))) as stub:
            watch = stub.WatchEventBatches(fpb.WatchEventBatchesRequest())
            await stub.ListJobs(fpb.ListJobsRequest())
            controller.send_signal(ending)
            async with asyncio.timeout(DEADLINE):
                rest = (await controller.stderr.read()).decode()
                code = await controller.wait()
            watch.cancel()
    finally:
        if controller.returncode is None:
            controller.kill()
            await controller.wait()

    assert code == 0, rest
    assert "renderq controller stopped" in rest
