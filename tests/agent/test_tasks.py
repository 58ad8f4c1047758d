"""Tasks run by a real agent, driven over a real Link: output, frames, failures, kills."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import xxhash

from renderq.agent.server import AgentServer
from renderq.v1 import agent_service_pb2 as apb
from tests.agent.conftest import FakeController, is_gone, pids_in, shell, task
from tests.waiting import until


async def test_task_reports_started_log_frames_and_finished(controller: FakeController) -> None:
    await controller.assign(task(1, shell("echo hello from the task"), frames=[4]))
    finished = await controller.finished(1)

    assert finished.exit_code == 0
    assert finished.error_message == ""
    assert list(finished.failed_frames) == []
    kinds = [e.WhichOneof("kind") for e in controller.events if e.attempt_id == 1]
    assert kinds[0] == "started"
    assert kinds[-1] == "finished"
    assert "hello from the task" in controller.log(1)
    assert [e.frame_completed.frame for e in controller.of(1, "frame_completed")] == [4]
    started = controller.of(1, "started")[0].started
    assert started.pid > 0
    places = [Path(started.workspace, place) for place in ("source", "project", "renders")]
    assert await asyncio.to_thread(lambda: all(place.is_dir() for place in places))
    sequences = [e.sequence for e in controller.events]
    assert sequences == sorted(sequences)


async def test_output_arrives_while_the_task_still_runs(controller: FakeController, tmp_path: Path) -> None:
    go = tmp_path / "go"
    script = 'echo waiting for the test; while [ ! -e "$1" ]; do sleep 0.05; done; echo released'
    await controller.assign(task(2, shell(script, str(go))))

    await controller.log_text_until(2, "waiting for the test")
    assert not controller.of(2, "finished"), "the task finished before the test let it"
    go.touch()
    finished = await controller.finished(2)

    assert finished.exit_code == 0
    assert "released" in controller.log(2)


async def test_frames_complete_when_the_command_exits_zero(controller: FakeController) -> None:
    await controller.assign(task(3, shell("echo rendering"), frames=[10, 11, 12]))
    finished = await controller.finished(3)

    assert [e.frame_completed.frame for e in controller.of(3, "frame_completed")] == [10, 11, 12]
    assert list(finished.failed_frames) == []


async def test_nonzero_exit_fails_the_frames_with_the_last_output_line(controller: FakeController) -> None:
    await controller.assign(task(4, shell("echo starting; echo boom >&2; exit 3"), frames=[1, 2]))
    finished = await controller.finished(4)

    assert finished.exit_code == 3
    assert finished.error_message == "exited with code 3: boom"
    assert list(finished.failed_frames) == [1, 2]
    assert not controller.of(4, "frame_completed")


async def test_death_by_signal_is_named(controller: FakeController) -> None:
    await controller.assign(task(5, shell("kill -9 $$")))
    finished = await controller.finished(5)

    assert finished.error_message == "killed by signal 9 (SIGKILL)"
    assert list(finished.failed_frames) == [1]


async def test_missing_program_fails_the_task_with_a_clear_message(controller: FakeController) -> None:
    await controller.assign(task(6, ["renderq-test-no-such-renderer", "--version"], frames=[1, 2]))
    finished = await controller.finished(6)

    assert finished.error_message == "renderq-test-no-such-renderer: command not found on this agent"
    assert finished.exit_code == 127
    assert list(finished.failed_frames) == [1, 2]
    assert controller.of(6, "started")[0].started.pid == 0


async def test_first_failing_command_stops_the_task(controller: FakeController) -> None:
    assignment = task(7, shell("echo first; exit 1"), frames=[1])
    assignment.commands.add(argv=shell("echo second"), frames=[2])
    await controller.assign(assignment)
    finished = await controller.finished(7)

    assert list(finished.failed_frames) == [1, 2]
    assert "second" not in controller.log(7)
    assert finished.error_message == "exited with code 1: first"


async def test_tokens_and_environment_reach_the_command(controller: FakeController) -> None:
    script = (
        'echo "ws=$1 renders=$2 py=$3 keep=$4"; '
        'echo "env job=$RENDERQ_JOB_ID task=$RENDERQ_TASK_ID attempt=$RENDERQ_ATTEMPT_ID '
        'frames=$RENDERQ_FRAMES workspace=$RENDERQ_WORKSPACE custom=$CUSTOM_SETTING"; pwd'
    )
    assignment = task(
        1008,
        shell(script, "{workspace}", "{renders}", "{python}", "{frame:04d}"),
        frames=[1, 2, 3, 9],
        job_id=42,
    )
    assignment.environment["CUSTOM_SETTING"] = "on"
    assignment.owner = "ana"
    await controller.assign(assignment)
    await controller.finished(1008)

    workspace = controller.of(1008, "started")[0].started.workspace
    assert workspace.endswith("/workspaces/ana/42")
    log = controller.log(1008)
    assert f"ws={workspace} renders={workspace}/renders py={sys.executable} keep={{frame:04d}}" in log
    assert f"env job=42 task=8 attempt=1008 frames=1-3,9 workspace={workspace} custom=on" in log
    assert log.splitlines()[-1] == await asyncio.to_thread(os.path.realpath, workspace)


async def test_a_commands_own_environment_overrides_the_jobs(controller: FakeController) -> None:
    assignment = task(1009, shell('echo "shot=$SHOT unbuffered=$PYTHONUNBUFFERED"'))
    assignment.commands[0].environment.update({"SHOT": "sh020", "PYTHONUNBUFFERED": "1"})
    assignment.environment["SHOT"] = "sh010"
    await controller.assign(assignment)
    await controller.finished(1009)
    assert "shot=sh020 unbuffered=1" in controller.log(1009)


async def test_a_renderers_warnings_come_with_the_frame_it_completes(controller: FakeController) -> None:
    warning = "echo '// Warning: file texture wood.tx not found //'"
    script = f"{warning}; {warning}"  # said twice, kept once
    await controller.assign(task(1010, shell(script), plugin="maya"))
    await controller.finished(1010)
    (done,) = controller.of(1010, "frame_completed")
    assert list(done.frame_completed.warnings) == ["file texture wood.tx not found"]


async def test_long_output_arrives_whole_in_ordered_chunks(controller: FakeController) -> None:
    size = 300_000
    await controller.assign(task(9, ["{python}", "-c", f"import sys; sys.stdout.write('x' * {size})"]))
    await controller.finished(9)

    chunks = [e.log for e in controller.of(9, "log")]
    assert len(chunks) > 1
    offset = 0
    for chunk in chunks:
        assert chunk.offset == offset
        offset += len(chunk.data)
    assert offset == size


async def test_expected_outputs_are_hashed_with_xxh3_128(controller: FakeController, tmp_path: Path) -> None:
    content = os.urandom(3 * 1024 * 1024 + 17)
    source = tmp_path / "rendered.bin"
    source.write_bytes(content)
    command = shell('cp "$1" "$2"', str(source), "{renders}/frame_0001.bin")
    await controller.assign(task(10, command, frames=[1], expected=[(1, "{renders}/frame_0001.bin")]))
    finished = await controller.finished(10)

    assert list(finished.failed_frames) == []
    (completed,) = controller.of(10, "frame_completed")
    (output,) = completed.frame_completed.outputs
    workspace = controller.of(10, "started")[0].started.workspace
    assert output.path == f"{workspace}/renders/frame_0001.bin"
    assert output.size_bytes == len(content)
    assert output.xxh3_128 == xxhash.xxh3_128_hexdigest(content)
    assert len(output.xxh3_128) == 32


async def test_missing_expected_output_fails_its_frame(controller: FakeController) -> None:
    command = shell('echo made > "$1"', "{renders}/a.txt")
    expected = [(1, "{renders}/a.txt"), (2, "{renders}/b.txt")]
    await controller.assign(task(11, command, frames=[1, 2], expected=expected))
    finished = await controller.finished(11)

    assert [e.frame_completed.frame for e in controller.of(11, "frame_completed")] == [1]
    assert list(finished.failed_frames) == [2]
    assert finished.error_message.startswith("frame 2: output ")
    assert finished.error_message.endswith("renders/b.txt was not written")


async def test_cancel_kills_the_whole_tree(controller: FakeController) -> None:
    # A grandchild in the task's group, and a child that left it for a session of its own.
    escape = "import os, time; os.setsid(); print(f'escaped={os.getpid()}', flush=True); time.sleep(300)"
    script = """
        sh -c 'sleep 300 & echo grandchild=$!; wait' &
        echo child=$!
        "$1" -c "$2" &
        wait
    """
    await controller.assign(task(12, shell(script, "{python}", escape)))
    log = await controller.log_text_until(12, "escaped=")
    log = await controller.log_text_until(12, "grandchild=")
    pids = [
        controller.of(12, "started")[0].started.pid,
        *(pids_in(log, n)[0] for n in ("child", "grandchild", "escaped")),
    ]

    await controller.cancel(12, "operator said so")
    finished = await controller.finished(12)

    assert finished.cancelled
    assert not finished.timed_out
    assert finished.error_message == "cancelled: operator said so"
    assert list(finished.failed_frames) == [1]
    await until(f"processes {pids} of the cancelled task are gone", lambda: all(is_gone(pid) for pid in pids))


async def test_cancel_kills_a_child_that_ignores_sigterm(controller: FakeController) -> None:
    await controller.assign(task(13, shell("(trap '' TERM; exec sleep 300) & echo stubborn=$!; wait")))
    log = await controller.log_text_until(13, "stubborn=")
    (stubborn,) = pids_in(log, "stubborn")

    await controller.cancel(13)
    finished = await controller.finished(13)

    assert finished.cancelled
    await until(f"the SIGTERM-ignoring child {stubborn} is gone", lambda: is_gone(stubborn))


async def test_nothing_is_left_behind_when_the_command_exits(controller: FakeController) -> None:
    # The child ignores SIGTERM and holds the output pipe open after its parent exits.
    await controller.assign(task(14, shell("(trap '' TERM; exec sleep 300) & echo stubborn=$!")))
    finished = await controller.finished(14)
    (stubborn,) = pids_in(controller.log(14), "stubborn")

    assert finished.exit_code == 0
    assert list(finished.failed_frames) == []
    await until(f"the leftover child {stubborn} is gone", lambda: is_gone(stubborn))


async def test_timeout_kills_the_task(controller: FakeController) -> None:
    await controller.assign(task(15, shell("echo started; exec sleep 300"), timeout=0.5))
    finished = await controller.finished(15)

    assert finished.timed_out
    assert finished.cancelled
    assert finished.error_message == "timed out after 0.5 s"
    assert list(finished.failed_frames) == [1]


async def test_peak_memory_and_cpu_time_of_the_tree_are_reported(controller: FakeController) -> None:
    # The child holds its 100 MB for a few sampling periods; the sampler runs on its own clock.
    allocate = "import time; data = b'x' * (100 * 1024 * 1024); time.sleep(1.5); print(len(data))"
    await controller.assign(task(16, shell('"$1" -c "$2"', "{python}", allocate)))
    finished = await controller.finished(16)

    assert finished.exit_code == 0
    assert finished.peak_rss_bytes > 80 * 1024 * 1024
    assert finished.cpu_time.ToNanoseconds() > 0
    assert finished.duration.ToNanoseconds() > 0


async def test_stopping_the_agent_kills_running_tasks(agent: AgentServer, controller: FakeController) -> None:
    await controller.assign(task(17, shell("sleep 300 & echo sleeper=$!; wait")))
    log = await controller.log_text_until(17, "sleeper=")
    pids = [controller.of(17, "started")[0].started.pid, *pids_in(log, "sleeper")]

    await agent.stop()

    await until(f"task processes {pids} are gone after stop", lambda: all(is_gone(pid) for pid in pids))


async def test_short_tasks_started_together_all_succeed(controller: FakeController) -> None:
    # A command as short as `true` can end before the agent knows its process as a task's;
    # reaping orphans meanwhile would take its exit status, which asyncio then reads as 255.
    attempts = range(300, 500)
    for attempt_id in attempts:
        await controller.assign(task(attempt_id, ["true"], frames=[attempt_id]))

    def finished() -> list[apb.TaskFinished]:
        return [e.finished for e in controller.events if e.HasField("finished")]

    await controller.event("every short task to finish", lambda _: len(finished()) == len(attempts))
    assert [(f.exit_code, f.error_message) for f in finished()] == [(0, "")] * len(attempts)
