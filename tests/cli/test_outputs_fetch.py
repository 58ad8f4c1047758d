"""``renderq outputs`` and ``renderq fetch``: names from the network made safe, clashes
refused, files verified, resumed and skipped; then outputs back end to end, with a real
controller and agent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
import xxhash

from renderq.cli.failures import INCOMPLETE
from renderq.cli.fetch import fetch_document, missing_notes
from renderq.cli.outputs import outputs_document, where_stored
from renderq.client import download
from renderq.client.download import DownloadRefused, FetchReport, Missing, Wanted, local_name, plan_fetch
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from ..system.conftest import Farm
from ..waiting import eventually, until
from .conftest import CliRunner, FakeFarm

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub

CONTROLLER = pb.OUTPUT_STORAGE_CONTROLLER
PENDING = pb.OUTPUT_STORAGE_PENDING
KEPT = pb.OUTPUT_STORAGE_KEPT
FAILED = pb.OUTPUT_STORAGE_FAILED


def stored(path: str, content: bytes, storage: int = CONTROLLER, **fields: str) -> pb.OutputFile:
    """An output as ListOutputs describes it, for ``content``."""
    output = pb.OutputFile(
        path=path,
        size_bytes=len(content),
        xxh3_128=xxhash.xxh3_128_hexdigest(content),
        storage=storage,  # type: ignore[arg-type]
    )
    for name, value in fields.items():
        setattr(output, name, value)
    return output


def frame(number: int, *outputs: pb.OutputFile, agent: str = "node7") -> fpb.FrameOutputs:
    return fpb.FrameOutputs(frame=number, agent_id=agent, outputs=outputs)


# Names from the network.


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/renders/shot010/f_0001.exr", "f_0001.exr"),
        ("C:\\renders\\shot010\\f_0001.exr", "f_0001.exr"),
        ("\\\\server\\share/mixed\\f.png", "f.png"),
        ("relative.png", "relative.png"),
    ],
)
def test_an_output_is_named_by_its_last_component_after_either_slash(path: str, name: str) -> None:
    assert local_name(path) == name


@pytest.mark.parametrize(
    "path", ["/renders/", "", "/renders/.", "/renders/..", "C:\\r\\..", "/r/f\0.png", "D:f.png"]
)
def test_a_name_that_is_no_plain_file_name_here_is_refused_with_it(path: str) -> None:
    with pytest.raises(DownloadRefused, match="has no usable file name") as refused:
        local_name(path)
    assert repr(path) in refused.value.message


def test_two_outputs_on_one_name_are_refused_naming_both_frames_and_paths() -> None:
    with pytest.raises(DownloadRefused) as refused:
        plan_fetch([frame(1, stored("/r/a/out.png", b"one")), frame(2, stored("/r/b/out.png", b"two"))])
    assert refused.value.message == (
        "frames 1 and 2 have outputs that would both be 'out.png' in the folder (/r/a/out.png and "
        "/r/b/out.png); fetch them into separate folders, a frame range each"
    )
    with pytest.raises(DownloadRefused, match=r"^frame 3 have outputs .* 'Out.png' and 'out.png', one file"):
        plan_fetch([frame(3, stored("/r/Out.png", b"one"), stored("/r/x/out.png", b"two"))])
    with pytest.raises(DownloadRefused, match="one where the other is written while fetched"):
        plan_fetch([frame(4, stored("/r/f.exr.part", b"one")), frame(5, stored("/r/f.exr", b"two"))])
    with pytest.raises(DownloadRefused, match="one where the other is written while fetched"):
        plan_fetch([frame(4, stored("/r/f.exr", b"one")), frame(5, stored("/r/f.exr.part", b"two"))])


def test_what_is_stored_is_wanted_once_and_the_rest_is_missing() -> None:
    same = stored("/r/slate.png", b"slate")
    plan = plan_fetch(
        [
            frame(1, stored("/r/f1.png", b"1"), same),
            frame(2, same, stored("/r/f2.png", b"2", PENDING)),
            frame(
                3, stored("/r/f3.png", b"3", KEPT), stored("/r/f3.exr", b"3", FAILED, storage_error="gone")
            ),
        ]
    )
    assert [(w.frame, w.name) for w in plan.wanted] == [(1, "f1.png"), (1, "slate.png")]
    assert [(m.frame, m.output.path) for m in plan.missing] == [
        (2, "/r/f2.png"),
        (3, "/r/f3.png"),
        (3, "/r/f3.exr"),
    ]


def test_what_is_missing_is_said_per_frame_and_a_failure_with_its_reason() -> None:
    def missing(number: int, storage: int, error: str = "") -> Missing:
        return Missing(number, "node7", stored(f"/r/f{number}.png", b"x", storage, storage_error=error))

    notes = missing_notes(
        [
            missing(9, KEPT),
            missing(7, PENDING),
            missing(7, PENDING),
            missing(8, PENDING),
            missing(3, FAILED, "the agent went away"),
            missing(2, pb.OUTPUT_STORAGE_UNSPECIFIED),
        ]
    )
    assert notes == [
        "frame 2: 1 output only on node7: rendered before outputs were collected",
        "frame 3: /r/f3.png did not reach the controller: the agent went away",
        "frame 7: 2 outputs still on their way to the controller; fetch again later",
        "frame 8: 1 output still on its way to the controller; fetch again later",
        'frame 9: 1 output kept on node7, where rendered (the job\'s outputs are "keep")',
    ]


def test_where_an_output_is_stored_in_words_and_as_json() -> None:
    assert where_stored(stored("/r/a.png", b"a"), "node7") == "controller"
    pushed = stored("/r/a.png", b"a", object_url="s3://shots/010/a.png")
    assert where_stored(pushed, "node7") == "controller, s3://shots/010/a.png"
    assert where_stored(stored("/r/a.png", b"a", PENDING), "node7") == "pending"
    assert where_stored(stored("/r/a.png", b"a", KEPT), "node7") == "kept on node7"
    assert (
        where_stored(stored("/r/a.png", b"a", FAILED, storage_error="disk full"), "node7")
        == "failed: disk full"
    )
    document = outputs_document(7, [frame(1, pushed)])
    output = document["frames"][0]["outputs"][0]
    assert (
        document["job"] == 7
        and document["frames"][0]["frame"] == 1
        and document["frames"][0]["agent"] == "node7"
    )
    assert output == {
        "path": "/r/a.png",
        "size_bytes": 1,
        "xxh3_128": xxhash.xxh3_128_hexdigest(b"a"),
        "storage": "controller",
        "object_url": "s3://shots/010/a.png",
        "storage_error": "",
        "download_url": "",
    }


def test_submit_outputs_sets_where_the_jobs_outputs_go(cli: CliRunner, farm: FakeFarm) -> None:
    assert cli("submit", "command", "--frames", "1", "--outputs", "s3://shots/010", "--", "true").code == 0
    assert cli("submit", "command", "--frames", "1", "--", "true").code == 0
    sent = [r.job.output_destination for r in farm.requests["CreateJob"]]
    assert sent == ["s3://shots/010", ""], "left out: the controller's default, its store"


def test_a_frame_range_the_grammar_refuses_is_a_sentence_and_exit_2(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("fetch", "7", "1-x", "-o", str(tmp_path / "out"))
    assert result.code == 2 and "'1-x' is not a frame" in result.err, result.err
    assert not (tmp_path / "out").exists()
    assert cli("outputs", "7", "--frames", "9-1").code == 2


# Fetching, against the controller's side of ReadOutput held as bytes here.


class Served:
    """ReadOutput answered from bytes held here, per path: each call for a path streams
    its next content (the last one again once they run out) from the request's offset,
    in small messages, as the controller's store would. ``stall``: then the stream stays
    open with nothing more, as a stalled network does."""

    BLOCK = 4

    def __init__(self, contents: dict[str, list[bytes]], stall: bool = False) -> None:
        self.contents = contents
        self.stall = stall
        self.stalled = False
        """Set once a stream sent all it had and waits."""
        self.requests: list[fpb.ReadOutputRequest] = []

    def ReadOutput(self, request: fpb.ReadOutputRequest) -> _Stream:
        self.requests.append(request)
        calls = sum(r.path == request.path for r in self.requests)
        versions = self.contents[request.path]
        return _Stream(versions[min(calls, len(versions)) - 1], request.offset, self)

    def offsets(self, path: str) -> list[int]:
        return [r.offset for r in self.requests if r.path == path]


class _Stream:
    def __init__(self, data: bytes, offset: int, served: Served) -> None:
        self._data, self._offset, self._served = data, offset, served

    def __aiter__(self) -> AsyncIterator[fpb.ReadOutputResponse]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[fpb.ReadOutputResponse]:
        block = self._served.BLOCK
        for start in range(self._offset, len(self._data), block):
            yield fpb.ReadOutputResponse(offset=start, data=self._data[start : start + block])
        if self._served.stall:
            self._served.stalled = True
            await asyncio.Event().wait()

    def cancel(self) -> bool:
        return False


class Heard:
    """What a progress bar would show."""

    def __init__(self) -> None:
        self.total = -1
        self.done = 0

    def begin(self, total: int) -> None:
        self.total = total

    def advance(self, count: int) -> None:
        self.done += count


def fetch(served: Served, wanted: list[Wanted], folder: Path, heard: Heard | None = None) -> FetchReport:
    stub = cast("FarmServiceAsyncStub", served)
    return asyncio.run(download.fetch_outputs(stub, 7, wanted, folder, heard))


FRAME_1 = b"frame one, rendered: " + bytes(range(40))
FRAME_2 = b"frame two"


@pytest.fixture
def wanted() -> list[Wanted]:
    return plan_fetch(
        [frame(1, stored("/r/f1.exr", FRAME_1)), frame(2, stored("C:\\r\\f2.exr", FRAME_2))]
    ).wanted


def test_each_file_is_fetched_verified_and_named_and_a_second_fetch_skips_it(
    wanted: list[Wanted], tmp_path: Path
) -> None:
    served = Served({"/r/f1.exr": [FRAME_1], "C:\\r\\f2.exr": [FRAME_2]})
    folder = tmp_path / "new" / "out"
    heard = Heard()
    assert fetch(served, wanted, folder, heard) == FetchReport(2, 0, len(FRAME_1) + len(FRAME_2))
    assert (folder / "f1.exr").read_bytes() == FRAME_1 and (folder / "f2.exr").read_bytes() == FRAME_2
    assert sorted(p.name for p in folder.iterdir()) == ["f1.exr", "f2.exr"], "no .part left"
    assert heard.total == heard.done == len(FRAME_1) + len(FRAME_2)
    assert fetch(served, wanted, folder) == FetchReport(0, 2, 0), "already there"
    assert len(served.requests) == 2


def test_a_part_left_by_an_interrupted_fetch_is_resumed_from_its_size(
    wanted: list[Wanted], tmp_path: Path
) -> None:
    (tmp_path / "f1.exr.part").write_bytes(FRAME_1[:10])
    served = Served({"/r/f1.exr": [FRAME_1], "C:\\r\\f2.exr": [FRAME_2]})
    heard = Heard()
    report = fetch(served, wanted, tmp_path, heard)
    assert report == FetchReport(2, 0, len(FRAME_1) - 10 + len(FRAME_2))
    assert served.offsets("/r/f1.exr") == [10]
    assert heard.total == heard.done == report.bytes_fetched
    assert (tmp_path / "f1.exr").read_bytes() == FRAME_1


def test_a_part_that_does_not_match_and_a_file_of_other_content_are_fetched_again(
    wanted: list[Wanted], tmp_path: Path
) -> None:
    (tmp_path / "f1.exr.part").write_bytes(b"garbage!!!")
    (tmp_path / "f2.exr").write_bytes(b"frame 2, rendered before a retry")
    served = Served({"/r/f1.exr": [FRAME_1], "C:\\r\\f2.exr": [FRAME_2]})
    fetch(served, wanted, tmp_path)
    assert served.offsets("/r/f1.exr") == [10, 0], "resumed, did not match, fetched again from 0"
    assert (tmp_path / "f1.exr").read_bytes() == FRAME_1 and (tmp_path / "f2.exr").read_bytes() == FRAME_2


def test_content_that_does_not_match_twice_is_refused_naming_the_file_and_both_hashes(
    wanted: list[Wanted], tmp_path: Path
) -> None:
    damaged = b"frame one, damaged:  " + bytes(40)
    served = Served({"/r/f1.exr": [damaged], "C:\\r\\f2.exr": [FRAME_2]})
    with pytest.raises(DownloadRefused) as refused:
        fetch(served, wanted, tmp_path)
    assert refused.value.message == (
        f"f1.exr (frame 1): the controller sent, twice, {len(damaged)} bytes with xxh3-128 "
        f"{xxhash.xxh3_128_hexdigest(damaged)} where ListOutputs recorded {len(FRAME_1)} bytes with "
        f"xxh3-128 {xxhash.xxh3_128_hexdigest(FRAME_1)}; its copy on the controller may be damaged"
    )
    assert served.offsets("/r/f1.exr") == [0, 0]
    assert not (tmp_path / "f1.exr").exists() and not (tmp_path / "f1.exr.part").exists()
    longer = Served({"/r/f1.exr": [FRAME_1 + b"more", FRAME_1], "C:\\r\\f2.exr": [FRAME_2]})
    assert fetch(longer, wanted, tmp_path).files_fetched == 2, "too long: cut off, then fetched again"


@pytest.mark.parametrize("name", ["f1.exr", "f1.exr.part"])
def test_a_link_where_a_file_goes_is_refused_and_never_followed(
    wanted: list[Wanted], tmp_path: Path, name: str
) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"keep me")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / name).symlink_to(secret)
    served = Served({"/r/f1.exr": [FRAME_1], "C:\\r\\f2.exr": [FRAME_2]})
    with pytest.raises(DownloadRefused, match=f"^{folder / name} is a symbolic link; fetch writes no file"):
        fetch(served, wanted, folder)
    assert secret.read_bytes() == b"keep me" and served.requests == []


def test_a_fetch_interrupted_leaves_its_part_and_the_next_resumes_it(
    wanted: list[Wanted], tmp_path: Path
) -> None:
    part = tmp_path / "f1.exr.part"

    async def interrupted() -> None:
        stalling = Served({"/r/f1.exr": [FRAME_1[:8]]}, stall=True)
        stub = cast("FarmServiceAsyncStub", stalling)
        task = asyncio.create_task(download.fetch_outputs(stub, 7, wanted, tmp_path))
        await until("8 bytes were sent and no more come", lambda: stalling.stalled)
        task.cancel()  # as Ctrl-C does
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(interrupted())
    assert part.read_bytes() == FRAME_1[:8]
    served = Served({"/r/f1.exr": [FRAME_1], "C:\\r\\f2.exr": [FRAME_2]})
    fetch(served, wanted, tmp_path)
    assert served.offsets("/r/f1.exr") == [8]
    assert (tmp_path / "f1.exr").read_bytes() == FRAME_1


def test_the_json_summary_names_what_was_not_fetched() -> None:
    missing = [Missing(2, "node7", stored("/r/f2.png", b"x", PENDING))]
    assert fetch_document(7, FetchReport(1, 2, 30), missing) == {
        "job": 7,
        "files_fetched": 1,
        "files_skipped": 2,
        "bytes_fetched": 30,
        "missing": [
            {"frame": 2, "agent": "node7", "path": "/r/f2.png", "storage": "pending", "storage_error": ""}
        ],
    }


# End to end: a real controller and agent, each its own process.


@pytest.fixture
def rendering(tmp_path: Path) -> Iterator[Farm]:
    """A controller and one agent, each its own process."""
    (tmp_path / "farm").mkdir()
    farm = Farm(tmp_path / "farm")
    try:
        farm.add_agent("a1")
        farm.start_agent("a1", "--slots", "3")
        farm.start_controller().wait_for_line(r"agent online")
        yield farm
    finally:
        farm.stop()


WRITE_FRAME = ["--param", "outputs={renders}/f{frame}.txt", "--", "sh", "-c"]
WRITE_FRAME.append("printf 'frame %s of shot010' {frame} > {renders}/f{frame}.txt")


def rendered(farm: Farm, *flags: str) -> int:
    """A job of three frames, each writing one small file, once it completed."""
    job = farm.cli.json("submit", "command", "--frames", "1-3", *flags, *WRITE_FRAME)
    farm.cli.run("wait", str(job["id"]), "--timeout", "60")
    return int(job["id"])


def listed(farm: Farm, job_id: int) -> dict[str, Any]:
    document: dict[str, Any] = farm.cli.json("outputs", str(job_id))
    return document


def storages(farm: Farm, job_id: int) -> list[str]:
    return [o["storage"] for f in listed(farm, job_id)["frames"] for o in f["outputs"]]


@pytest.mark.system
def test_outputs_come_back_to_the_controller_and_fetch_brings_them_here_once(
    rendering: Farm, tmp_path: Path
) -> None:
    job_id = rendered(rendering)
    eventually("every output is on the controller", lambda: storages(rendering, job_id) == ["controller"] * 3)
    document = listed(rendering, job_id)
    assert [(f["frame"], f["agent"]) for f in document["frames"]] == [
        (n, rendering.agents["a1"].agent_id) for n in (1, 2, 3)
    ]
    output = document["frames"][1]["outputs"][0]
    assert output["path"].endswith("/f2.txt") and output["size_bytes"] == len(b"frame 2 of shot010")
    assert output["xxh3_128"] == xxhash.xxh3_128_hexdigest(b"frame 2 of shot010")
    table = rendering.cli.run("outputs", str(job_id)).stdout
    assert "f2.txt" in table and "controller" in table and output["xxh3_128"][:12] in table

    out = tmp_path / "fetched"
    first = rendering.cli.json("fetch", str(job_id), "-o", str(out))
    assert first == {
        "job": job_id,
        "files_fetched": 3,
        "files_skipped": 0,
        "bytes_fetched": 54,
        "missing": [],
    }
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {
        f"f{n}.txt": b"frame %d of shot010" % n for n in (1, 2, 3)
    }
    (out / "f2.txt.part").write_bytes((out / "f2.txt").read_bytes()[:5])
    (out / "f2.txt").unlink()
    again = rendering.cli.json("fetch", str(job_id), "2-3", "-o", str(out))
    assert (again["files_fetched"], again["files_skipped"], again["bytes_fetched"]) == (1, 1, 13), (
        "resumed at 5"
    )
    assert (out / "f2.txt").read_bytes() == b"frame 2 of shot010"
    said = rendering.cli.run("fetch", str(job_id), "-o", str(out))
    assert said.stdout == f"fetched 0 files (0 B) into {out}; 3 already there\n", said.stderr


@pytest.mark.system
def test_a_job_that_keeps_its_outputs_lists_them_on_the_agent_and_fetch_says_so(
    rendering: Farm, tmp_path: Path
) -> None:
    job_id = rendered(rendering, "--outputs", "keep")
    agent = rendering.agents["a1"].agent_id
    assert storages(rendering, job_id) == ["kept"] * 3
    assert f"kept on {agent}" in rendering.cli.run("outputs", str(job_id)).stdout
    fetched = rendering.cli.run("fetch", str(job_id), "-o", str(tmp_path / "out"), check=False)
    assert fetched.returncode == INCOMPLETE, fetched.stderr
    assert f"renderq: frame 1: 1 output kept on {agent}, where rendered" in fetched.stderr
    refused = rendering.cli.run(
        "submit", "command", "--frames", "1", "--outputs", "ftp://x", "--", "true", check=False
    )
    assert refused.returncode == 2 and "INVALID_ARGUMENT" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
