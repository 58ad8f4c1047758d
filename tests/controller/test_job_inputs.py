"""A job's inputs from other jobs: which stored outputs become its files, under which names."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import cast

import pytest
import xxhash

from renderq.controller.blob_serving import BlobServing
from renderq.controller.blob_store import BlobStore
from renderq.controller.farm_state import FarmState, LinkHandle
from renderq.controller.job_inputs import input_blobs, input_files, inputs_on_their_way
from renderq.controller.model import Agent, Frame, Hold, Job, Output
from renderq.controller.recorder import Recorder
from renderq.controller.task_logs import TaskLogs
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb

STORED = pb.OUTPUT_STORAGE_CONTROLLER
RENDERS = "/var/lib/renderq/work/ana/7/renders"


def job(job_id: int, inputs_from: Sequence[int] = (), files: Sequence[pb.FileEntry] = ()) -> Job:
    return Job(
        id=job_id, name="", owner="ana", plugin="ffmpeg", parameters={}, frames_spec="", chunk_size=1,
        priority=50, pool="", requirements=pb.Requirements(), environment={}, depends_on=list(inputs_from),
        max_retries=3, task_timeout=0, inputs_from=list(inputs_from), files=list(files),
    )  # fmt: skip


def output(path: str, content: str, storage: pb.OutputStorage = STORED) -> Output:
    return Output(path=path, size_bytes=len(content), xxh3_128=content.ljust(32, "0"), storage=storage)


def farm(*sources: tuple[int, list[list[Output]]]) -> FarmState:
    """A farm with the source jobs given as (id, each frame's outputs)."""
    state = FarmState(cast(Recorder, None), cast(TaskLogs, None), 1.0)
    for job_id, frames in sources:
        source = state.jobs[job_id] = job(job_id)
        for number, outputs in enumerate(frames, start=1):
            source.frames[number] = Frame(job_id, number, 0, pb.FRAME_STATE_COMPLETED, outputs=outputs)
    return state


def files_of(state: FarmState, encode: Job) -> list[tuple[str, str, int]]:
    return [(f.path, f.blob.xxh3_128[:2], f.mode) for f in input_files(state, encode)]


def test_each_stored_output_is_a_file_below_its_jobs_folder() -> None:
    state = farm(
        (7, [[output(f"{RENDERS}/frame_0001.png", "a1")], [output(f"{RENDERS}/frame_0002.png", "a2")]]),
        (8, [[output("C:\\farm\\renders\\plate.exr", "b1")]]),
    )
    encode = job(9, [7, 8])
    assert files_of(state, encode) == [
        ("job-7/frame_0001.png", "a1", 0o644),
        ("job-7/frame_0002.png", "a2", 0o644),
        ("job-8/plate.exr", "b1", 0o644),
    ]
    assert input_blobs(state, encode) == {
        ("a1".ljust(32, "0"), 2),
        ("a2".ljust(32, "0"), 2),
        ("b1".ljust(32, "0"), 2),
    }
    assert not inputs_on_their_way(state, encode)


def test_outputs_not_on_the_controller_are_left_out_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    state = farm(
        (7, [
            [output(f"{RENDERS}/f_1.png", "a1")],
            [output(f"{RENDERS}/f_2.png", "a2", pb.OUTPUT_STORAGE_PENDING)],
            [output(f"{RENDERS}/f_3.png", "a3", pb.OUTPUT_STORAGE_KEPT)],
            [output(f"{RENDERS}/f_4.png", "a4", pb.OUTPUT_STORAGE_FAILED)],
        ]),
    )  # fmt: skip
    encode = job(9, [7])
    with caplog.at_level(logging.WARNING, "renderq.controller.job_inputs"):
        assert files_of(state, encode) == [("job-7/f_1.png", "a1", 0o644)]
    assert "job 7 frame 2 output" in caplog.text and "(OUTPUT_STORAGE_PENDING)" in caplog.text
    assert "(OUTPUT_STORAGE_KEPT)" in caplog.text and "(OUTPUT_STORAGE_FAILED)" in caplog.text
    assert input_blobs(state, encode) == {("a1".ljust(32, "0"), 2)}
    assert inputs_on_their_way(state, encode)


def test_one_base_name_twice_takes_the_path_below_renders() -> None:
    """Compared without case, as Windows and macOS would place them in one file."""
    state = farm(
        (
            7,
            [
                [
                    output(f"{RENDERS}/left/frame_0001.png", "l1"),
                    output(f"{RENDERS}/RIGHT/Frame_0001.png", "r1"),
                ]
            ],
        ),
    )
    assert files_of(state, job(9, [7])) == [
        ("job-7/left/frame_0001.png", "l1", 0o644),
        ("job-7/RIGHT/Frame_0001.png", "r1", 0o644),
    ]


def test_one_content_under_one_name_is_sent_once() -> None:
    state = farm((7, [[output(f"{RENDERS}/still.png", "s1")], [output(f"{RENDERS}/still.png", "s1")]]))
    assert files_of(state, job(9, [7])) == [("job-7/still.png", "s1", 0o644)]


def test_names_nothing_tells_apart_are_both_left_out(caplog: pytest.LogCaptureFixture) -> None:
    state = farm(
        (7, [[output("/share/a/out.png", "a1")], [output("/share/b/out.png", "b1")]]),
        (8, [[output(f"{RENDERS}/x/out.png", "c1")], [output("/elsewhere/renders/x/out.png", "d1")]]),
    )
    with caplog.at_level(logging.WARNING, "renderq.controller.job_inputs"):
        assert files_of(state, job(9, [7, 8])) == []
    assert caplog.text.count("has no name of its own to take") == 4


@pytest.mark.parametrize(
    "path", ["/renders/..", "/renders/.", "C:", "/renders/", "/renders/a\nb.png", "D:x.png"]
)
def test_a_name_that_is_no_plain_file_name_is_left_out(path: str) -> None:
    state = farm((7, [[output(path, "a1")], [output(f"{RENDERS}/ok.png", "a2")]]))
    assert files_of(state, job(9, [7])) == [("job-7/ok.png", "a2", 0o644)]


def test_a_deleted_source_or_a_name_the_jobs_own_file_has_is_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    state = farm((7, [[output(f"{RENDERS}/a.png", "a1"), output(f"{RENDERS}/b.png", "b1")]]))
    encode = job(9, [6, 7], files=[pb.FileEntry(path="JOB-7/a.png", blob=pb.BlobRef(xxh3_128="f" * 32))])
    with caplog.at_level(logging.WARNING, "renderq.controller.job_inputs"):
        assert files_of(state, encode) == [("job-7/b.png", "b1", 0o644)]
    assert "job 6 no longer exists" in caplog.text
    assert "its own file job-7/a.png has the name" in caplog.text


async def test_only_the_agents_running_the_job_may_read_its_inputs(tmp_path: Path) -> None:
    """The blobs of a source's stored outputs are served like the job's own files, looked up
    when asked (they arrive after the job was submitted)."""
    data = b"frame one"
    ref = pb.BlobRef(xxh3_128=xxhash.xxh3_128_hexdigest(data), size_bytes=len(data))
    store = BlobStore(tmp_path)

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    await store.receive(ref, 0, chunks())
    stored = Output(path=f"{RENDERS}/f.png", size_bytes=len(data), xxh3_128=ref.xxh3_128, storage=STORED)
    state = farm((7, [[stored]]))
    state.jobs[9] = job(9, [7])
    for name, holds in (("runs-9", {1: Hold(task_id=1, job_id=9, owner="ana")}), ("idle", {})):
        state.agents[name] = Agent(
            id=name,
            status=pb.AGENT_STATUS_ONLINE,
            slots=1,
            cost_per_hour=0.0,
            hardware=pb.Hardware(),
            holds=holds,
        )
    wanted = apb.BlobWanted(blob=ref, offset=0)

    def serving(agent: str) -> BlobServing:
        return BlobServing(state, store, agent, cast(LinkHandle, None), lambda _: ())

    assert (await serving("runs-9").answer(wanted)).blob.data == data
    assert "is in no job this agent runs now" in (await serving("idle").answer(wanted)).blob.error
    stored.storage = pb.OUTPUT_STORAGE_FAILED
    assert "is in no job this agent runs now" in (await serving("runs-9").answer(wanted)).blob.error
