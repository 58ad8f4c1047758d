"""How a renderer's output, through its plugin's parser, moves frames along: frames
started and saved, progress, error lines, and lines cut on ``\\r`` as well as ``\\n``."""

from __future__ import annotations

from pathlib import Path

import xxhash

from renderq.agent.outbox import Outbox
from renderq.agent.runner import AttemptRunner
from renderq.agent.workspace import owner_folder
from renderq.plugins.base import ErrorLine, FrameSaved, FrameStarted, OutputParser, ParseEvent, Progress
from renderq.v1 import agent_service_pb2 as apb
from tests.agent.conftest import FakeController, shell, task


class ScriptParser(OutputParser):
    """Understands lines a test script prints: ``start N``, ``progress F``,
    ``saved PATH`` (``saved PATH @N`` for an explicit frame) and ``error MESSAGE``."""

    completes_on_exit = False

    def feed(self, line: str) -> list[ParseEvent]:
        word, _, rest = line.partition(" ")
        if word == "start":
            return [FrameStarted(int(rest))]
        if word == "progress":
            return [Progress(float(rest))]
        if word == "saved":
            path, _, frame = rest.partition(" @")
            return [FrameSaved(path, int(frame) if frame else None)]
        if word == "error":
            return [ErrorLine(rest)]
        return []


async def run_attempt(tmp_path: Path, script: str, frames: list[int]) -> list[apb.AgentEvent]:
    """Run one attempt with ScriptParser, straight on the runner; return its events."""
    outbox = Outbox()
    runner = AttemptRunner(
        task(1, shell(script), frames=frames, job_id=3), tmp_path, outbox, 2.0, ScriptParser
    )
    await runner.run()
    return outbox.after(0)


def of(events: list[apb.AgentEvent], kind: str) -> list[apb.AgentEvent]:
    return [e for e in events if e.HasField(kind)]


async def test_saved_frames_complete_in_order_with_hashed_files(tmp_path: Path) -> None:
    script = """
        printf 'one' > renders/a.png; echo "saved renders/a.png"
        printf 'two' > renders/b.png; echo "saved $PWD/renders/b.png"
    """
    events = await run_attempt(tmp_path, script, [5, 6])
    finished = of(events, "finished")[0].finished

    completed = [e.frame_completed for e in of(events, "frame_completed")]
    assert [c.frame for c in completed] == [5, 6]
    assert [c.outputs[0].path for c in completed] == [
        str(tmp_path / owner_folder("") / "3" / "renders" / name) for name in ("a.png", "b.png")
    ]
    assert [c.outputs[0].xxh3_128 for c in completed] == [
        xxhash.xxh3_128_hexdigest(b) for b in (b"one", b"two")
    ]
    assert list(finished.failed_frames) == []


async def test_frame_started_and_explicit_frames_pick_the_frame(tmp_path: Path) -> None:
    script = """
        touch renders/x renders/y
        echo "start 9"; echo "saved renders/x"
        echo "saved renders/y @7"
    """
    events = await run_attempt(tmp_path, script, [7, 8, 9])

    assert [e.frame_completed.frame for e in of(events, "frame_completed")] == [9, 7]
    assert list(of(events, "finished")[0].finished.failed_frames) == [8]


async def test_a_frame_never_saved_fails_with_the_last_error_line(tmp_path: Path) -> None:
    script = 'touch renders/x; echo "saved renders/x"; echo "error out of memory"; echo "bye"'
    events = await run_attempt(tmp_path, script, [1, 2])
    finished = of(events, "finished")[0].finished

    assert finished.exit_code == 0
    assert list(finished.failed_frames) == [2]
    assert finished.error_message == "out of memory"


async def test_a_frame_never_saved_without_an_error_is_named(tmp_path: Path) -> None:
    events = await run_attempt(tmp_path, "echo nothing useful", [4])

    assert of(events, "finished")[0].finished.error_message == "renderer exited without saving frame 4"


async def test_a_saved_file_that_does_not_exist_fails_its_frame(tmp_path: Path) -> None:
    events = await run_attempt(tmp_path, 'echo "saved renders/ghost.png"', [1])
    finished = of(events, "finished")[0].finished

    assert not of(events, "frame_completed")
    assert finished.error_message.startswith("frame 1: output ")
    assert finished.error_message.endswith("renders/ghost.png was not written")


async def test_progress_lines_ending_in_carriage_returns_are_parsed(tmp_path: Path) -> None:
    # One write of many updates: throttling sends the latest, not each one.
    script = """
        printf 'progress 0.1\\rprogress 0.2\\rprogress 0.5\\r'
        touch renders/x; echo "saved renders/x"
    """
    events = await run_attempt(tmp_path, script, [3])

    progress = [e.progress for e in of(events, "progress")]
    assert [(p.frame, p.frame_progress) for p in progress] == [(3, 0.5)]
    assert len(of(events, "frame_completed")) == 1


async def test_blender_output_is_parsed_through_its_plugin(controller: FakeController) -> None:
    script = """
        printf 'Fra:1 Mem:10M | Sample 8/16\\n'
        printf 'frame' > "$1"
        echo "Saved: '$1'"
        printf 'Fra:2 Mem:10M | Sample 1/16\\n'
        echo "Error: Cannot read file"
    """
    await controller.assign(task(31, shell(script, "{renders}/f1.png"), frames=[1, 2], plugin="blender"))
    finished = await controller.finished(31)

    (completed,) = controller.of(31, "frame_completed")
    assert completed.frame_completed.frame == 1
    assert completed.frame_completed.outputs[0].xxh3_128 == xxhash.xxh3_128_hexdigest(b"frame")
    assert list(finished.failed_frames) == [2]
    assert finished.error_message == "Cannot read file"
