"""``renderq logs`` writes a task's raw output as it arrives."""

from __future__ import annotations

import threading
from pathlib import Path

from google.protobuf import timestamp_pb2

from renderq.v1 import resources_pb2 as rs

from .conftest import DEADLINE, CliRunner, FakeFarm, renderq_process


def test_logs_follow_writes_each_chunk_as_it_arrives(farm: FakeFarm, tmp_path: Path) -> None:
    farm.log_chunks = [b"Fra:1 Mem:12M | Rendering 1 / 64 samples\n", b"Saved: '/renders/frame_0001.png'\n"]
    farm.log_gate = threading.Event()
    process = renderq_process("logs", "3", "1", "-f", "--controller", farm.address, cwd=tmp_path)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # arrives while the server still holds the second chunk
        assert first == farm.log_chunks[0], "expected the first chunk before the stream ended"
        farm.log_gate.set()
        rest, err = process.communicate(timeout=DEADLINE)
    finally:
        farm.log_gate.set()
        process.kill()
    assert rest == farm.log_chunks[1]
    assert process.returncode == 0, err
    (request,) = farm.requests["TailLog"]
    assert (request.job_id, request.frame, request.follow) == (3, 1, True)


def started(seconds: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds)


def test_logs_without_a_frame_shows_the_running_task(cli: CliRunner, farm: FakeFarm) -> None:
    farm.tasks = [
        rs.Task(id=10, state=rs.TASK_STATE_COMPLETED, start_time=started(300)),
        rs.Task(id=11, state=rs.TASK_STATE_RUNNING, start_time=started(200)),
        rs.Task(id=12, state=rs.TASK_STATE_PENDING),
    ]
    farm.log_chunks = [b"hello\n"]
    result = cli("logs", "3")
    assert result.out == "hello\n"
    assert farm.requests["TailLog"][0].task_id == 11
    assert not farm.requests["TailLog"][0].HasField("frame")


def test_logs_without_a_running_task_shows_the_last_started(cli: CliRunner, farm: FakeFarm) -> None:
    farm.tasks = [
        rs.Task(id=10, state=rs.TASK_STATE_COMPLETED, start_time=started(100)),
        rs.Task(id=11, state=rs.TASK_STATE_FAILED, start_time=started(200)),
    ]
    cli("logs", "3")
    assert farm.requests["TailLog"][0].task_id == 11


def test_logs_of_a_job_that_never_started_says_so(cli: CliRunner, farm: FakeFarm) -> None:
    farm.tasks = [rs.Task(id=10, state=rs.TASK_STATE_PENDING)]
    result = cli("logs", "3")
    assert result.code == 2
    assert "job 3 has no task that has started yet" in result.err
