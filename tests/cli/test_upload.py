"""``renderq submit --upload``: the manifest made here, and the upload against a real controller."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import grpc
import pytest
import xxhash

from renderq import tokens
from renderq.cli.upload_flow import TransferProgress
from renderq.client import upload
from renderq.client.channel import connect
from renderq.client.credentials import Credentials
from renderq.client.project_files import ProjectError, read_project
from renderq.client.upload import CHUNK, find_missing
from renderq.v1 import farm_service_pb2 as fpb
from renderq.v1 import resources_pb2 as pb

from ..waiting import until
from .conftest import CliRunner, RealController
from .test_against_controller import Verb

if TYPE_CHECKING:
    from renderq.v1.farm_service_pb2_grpc import FarmServiceAsyncStub


def hex128(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    """``shot010/``: a scene, a texture under tex/, a script anyone may run, a zip inside."""
    folder = tmp_path / "shot010"
    (folder / "tex").mkdir(parents=True)
    (folder / "shot010.blend").write_bytes(b"BLENDER-scene")
    (folder / "tex" / "wood.png").write_bytes(b"PNG-wood")
    (folder / "render.sh").write_text("#!/bin/sh\necho hi\n")
    (folder / "render.sh").chmod(0o755)
    (folder / "refs.zip").write_bytes(b"PK-not-unpacked")
    return folder


def test_a_folder_keeps_its_name_and_each_file_its_mode_and_hash(shot: Path) -> None:
    project = read_project([shot])
    entries = {e.path: e for e in project.manifest()}
    assert list(entries) == [
        "shot010/refs.zip",
        "shot010/render.sh",
        "shot010/shot010.blend",
        "shot010/tex/wood.png",
    ]
    scene = entries["shot010/shot010.blend"]
    assert (scene.blob.xxh3_128, scene.blob.size_bytes) == (hex128(b"BLENDER-scene"), 13)
    assert entries["shot010/render.sh"].mode == 0o755
    assert entries["shot010/tex/wood.png"].mode == 0o644
    assert not entries["shot010/refs.zip"].unpack, "an archive inside a folder is an ordinary file"
    assert project.skipped == []


def test_a_file_is_named_by_its_basename_and_an_archive_given_directly_is_unpacked(tmp_path: Path) -> None:
    (tmp_path / "scene.blend").write_bytes(b"B")
    for name in ("refs.zip", "plates.tar.gz", "ocio.TGZ"):
        (tmp_path / name).write_bytes(name.encode())
    project = read_project([tmp_path / n for n in ("scene.blend", "refs.zip", "plates.tar.gz", "ocio.TGZ")])
    assert {e.path: e.unpack for e in project.manifest()} == {
        "scene.blend": False,
        "refs.zip": True,
        "plates.tar.gz": True,
        "ocio.TGZ": True,
    }


def test_a_symlink_inside_the_folder_is_followed_and_one_leading_out_is_refused(
    shot: Path, tmp_path: Path
) -> None:
    (shot / "tex" / "same-wood.png").symlink_to("wood.png")
    (shot / "textures").symlink_to("tex")
    entries = {e.path: e.blob.xxh3_128 for e in read_project([shot]).manifest()}
    assert entries["shot010/tex/same-wood.png"] == entries["shot010/textures/wood.png"] == hex128(b"PNG-wood")

    (tmp_path / "secret.txt").write_text("outside")
    (shot / "tex" / "leak.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(ProjectError) as refused:
        read_project([shot])
    assert str(refused.value).startswith(
        f"{shot / 'tex' / 'leak.txt'} is a symbolic link to {tmp_path / 'secret.txt'}, "
        f"outside the uploaded folder {shot}"
    )


def test_what_is_not_a_file_is_skipped_and_said(shot: Path) -> None:
    os.mkfifo(shot / "pipe")
    (shot / "loop").symlink_to(".")
    (shot / "gone.png").symlink_to("nowhere.png")
    project = read_project([shot])
    assert project.skipped == [
        f"{shot / 'gone.png'}: a broken symbolic link (to {shot / 'nowhere.png'})",
        f"{shot / 'loop'}: a symbolic link back to {shot}, a folder above it (a loop)",
        f"{shot / 'pipe'}: a named pipe",
    ]
    assert len(project.files) == 4


def test_two_files_that_differ_only_in_case_are_refused_naming_both(shot: Path) -> None:
    (shot / "tex" / "Wood.png").write_bytes(b"other")
    with pytest.raises(ProjectError, match="differ only in case") as refused:
        read_project([shot])
    assert "'shot010/tex/Wood.png'" in str(refused.value) and "'shot010/tex/wood.png'" in str(refused.value)


def test_two_files_on_one_path_are_refused_and_one_file_named_twice_is_one_entry(tmp_path: Path) -> None:
    (tmp_path / "a.blend").write_bytes(b"A")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "a.blend").write_bytes(b"another A")
    assert len(read_project([tmp_path / "a.blend", tmp_path / "a.blend"]).files) == 1
    with pytest.raises(ProjectError, match=r"would both become 'a.blend' in the project folder"):
        read_project([tmp_path / "a.blend", tmp_path / "elsewhere" / "a.blend"])


def test_an_upload_that_does_not_exist_is_refused_where_typed(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("submit", "command", "--frames", "1", "--upload", str(tmp_path / "nope"), *TRUE)
    assert result.code == 2
    assert f"'{tmp_path / 'nope'}' does not exist on this machine" in result.err


# Against a real controller (in this process, no agent): what reaches it and what it already has.


@pytest.fixture
def verb(cli: CliRunner, controller: RealController) -> Verb:
    return Verb(cli, controller)


TRUE = ("--param", 'argv=["true"]')
"""A command job's argv as a flag (Verb puts its own flags last, where ``--`` would take them)."""


def submitted(verb: Verb, *argv: str) -> dict[str, Any]:
    result = verb("submit", *argv, "--json")
    assert result.code == 0, result.err
    document: dict[str, Any] = json.loads(result.out)
    return document


def sent(document: dict[str, Any]) -> dict[str, Any]:
    """What ``submit --json`` says the upload sent, beside the job."""
    return {key: document[key] for key in ("bytes_sent", "bytes_skipped", "files_sent")}


def test_a_project_is_uploaded_once_and_submitted_again_sends_nothing(verb: Verb, shot: Path) -> None:
    size = sum(p.stat().st_size for p in shot.rglob("*") if p.is_file())
    first = submitted(verb, "command", "--frames", "1", "--upload", str(shot), *TRUE)
    assert sent(first) == {"bytes_sent": size, "bytes_skipped": 0, "files_sent": 4}
    assert [f["path"] for f in first["files"]] == [e.path for e in read_project([shot]).manifest()]
    again = submitted(verb, "command", "--frames", "1", "--upload", str(shot), *TRUE)
    assert sent(again) == {"bytes_sent": 0, "bytes_skipped": size, "files_sent": 0}
    said = verb("submit", "command", "--frames", "1", "--upload", str(shot), *TRUE)
    assert said.code == 0 and said.out.strip().isdigit()
    assert said.err == f"uploaded 0 of 4 files (0 B sent, {size} B already on the controller)\n"


def test_a_refused_upload_is_a_sentence_and_exit_2_and_what_is_skipped_a_warning(
    verb: Verb, shot: Path, tmp_path: Path
) -> None:
    os.mkfifo(shot / "pipe")
    warned = verb("submit", "command", "--frames", "1", "--upload", str(shot), *TRUE)
    assert warned.code == 0 and warned.err.startswith(
        f"renderq: not uploaded: {shot / 'pipe'}: a named pipe\n"
    )
    (shot / "leak").symlink_to(tmp_path)
    refused = verb("submit", "command", "--frames", "1", "--upload", str(shot), *TRUE)
    assert refused.code == 2
    assert refused.err.startswith(f"renderq: {shot / 'leak'} is a symbolic link to {tmp_path}, outside"), (
        refused.err
    )
    assert "Traceback" not in refused.err


def test_a_path_parameter_inside_an_upload_names_the_agents_copy(
    verb: Verb, shot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(shot.parent)
    typed = ["blender", "--frames", "1", "--upload", "shot010"]
    relative = submitted(verb, *typed, "--param", "scene=shot010/shot010.blend")
    assert relative["parameters"]["scene"] == "{project}/shot010/shot010.blend"
    absolute = submitted(verb, *typed, "--param", f"scene={shot / 'tex' / '..' / 'shot010.blend'}")
    assert absolute["parameters"]["scene"] == "{project}/shot010/shot010.blend"
    alone = submitted(verb, "blender", "--frames", "1", "--upload", str(shot / "shot010.blend"),
                      "--param", f"scene={shot / 'shot010.blend'}")  # fmt: skip
    assert alone["parameters"]["scene"] == "{project}/shot010.blend"
    on_nodes = submitted(verb, *typed, "--param", "scene=/mnt/shots/a.blend", "--paths-on-nodes")
    assert on_nodes["parameters"]["scene"] == "/mnt/shots/a.blend"


def test_an_upload_broken_off_is_resumed_from_what_the_controller_received(
    verb: Verb, controller: RealController, tmp_path: Path
) -> None:
    plate = tmp_path / "plate.exr"
    plate.write_bytes(random.Random(7).randbytes(3 * CHUNK + 5))
    blob = read_project([plate]).files[0].entry.blob

    async def send_part() -> None:
        async with connect(controller.address, admin(controller)) as stub:
            call = stub.UploadBlob()
            await call.write(fpb.UploadBlobRequest(blob=blob, offset=0))
            await call.write(fpb.UploadBlobRequest(data=plate.read_bytes()[:CHUNK]))
            await until("the controller has the first chunk", lambda: received(stub, blob, CHUNK))
            call.cancel()  # the connection breaks off

    asyncio.run(send_part())
    document = submitted(verb, "command", "--frames", "1", "--upload", str(plate), *TRUE)
    assert sent(document) == {"bytes_sent": 2 * CHUNK + 5, "bytes_skipped": CHUNK, "files_sent": 1}


async def received(stub: FarmServiceAsyncStub, blob: pb.BlobRef, count: int) -> bool:
    missing = await find_missing(stub, [blob])
    return bool(missing) and missing[0].received_bytes == count


def admin(controller: RealController) -> Credentials:
    return Credentials(token=tokens.read_local(controller.data_dir))


class _BreakingCall:
    """An UploadBlob call the network breaks after ``chunks`` data messages."""

    def __init__(self, call: Any, chunks: int) -> None:
        self._call = call
        self._left = chunks

    async def write(self, request: fpb.UploadBlobRequest) -> None:
        if request.data:
            if self._left == 0:
                self._call.cancel()
                raise grpc.aio.AioRpcError(
                    grpc.StatusCode.UNAVAILABLE, grpc.aio.Metadata(), grpc.aio.Metadata(), "connection reset"
                )
            self._left -= 1
        await self._call.write(request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._call, name)

    def __await__(self) -> Any:
        return self._call.__await__()


class _FlakyStub:
    """A stub whose first UploadBlob breaks after two chunks; the rest go through."""

    def __init__(self, stub: FarmServiceAsyncStub) -> None:
        self._stub = stub
        self.uploads = 0

    def UploadBlob(self) -> Any:
        self.uploads += 1
        call = self._stub.UploadBlob()
        return _BreakingCall(call, 2) if self.uploads == 1 else call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stub, name)


def test_a_broken_stream_is_resumed_and_a_changed_file_is_refused_by_name(
    controller: RealController, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upload, "PAUSES", (0.0, 0.0))
    plate = tmp_path / "plate.exr"
    plate.write_bytes(random.Random(8).randbytes(4 * CHUNK))
    project = read_project([plate])

    async def go() -> tuple[upload.UploadReport, int]:
        async with connect(controller.address, admin(controller)) as stub:
            flaky = _FlakyStub(stub)
            report = await upload.upload_project(cast("FarmServiceAsyncStub", flaky), project)
            return report, flaky.uploads

    report, uploads = asyncio.run(go())
    assert uploads == 2
    assert report.bytes_to_send == 4 * CHUNK
    assert 4 * CHUNK <= report.bytes_sent <= 6 * CHUNK, "the second stream resumed, not restarted"

    later = tmp_path / "later"
    later.mkdir()
    (later / "kept.exr").write_bytes(b"kept")
    (later / "edited.exr").write_bytes(b"a" * 100)
    changing = read_project([later])
    (later / "edited.exr").write_bytes(b"b" * 100)

    async def refused() -> None:
        async with connect(controller.address, admin(controller)) as stub:
            await upload.upload_project(stub, changing)

    edited = later / "edited.exr"
    with pytest.raises(upload.FileChanged, match=f"{edited} changed while it was being submitted"):
        asyncio.run(refused())


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_line_shows_bytes_rate_and_time_left_on_a_terminal_only() -> None:
    terminal = _Terminal()
    progress = TransferProgress("uploading", terminal)
    progress.begin(4 << 20)
    progress.advance(1 << 20)
    line = terminal.getvalue()
    assert line.startswith("\ruploading [##--------]  25%  1.0 MiB of 4.0 MiB  "), line
    assert line.endswith(" left\x1b[K") and "/s  " in line, line
    progress.close()
    assert terminal.getvalue().endswith("\r\x1b[K"), "the line is cleared for what follows"
    log = io.StringIO()
    quiet = TransferProgress("uploading", log)
    quiet.begin(10)
    quiet.advance(10)
    quiet.close()
    assert log.getvalue() == ""


def test_blobs_gc_removes_the_files_no_job_names(verb: Verb, shot: Path) -> None:
    job = submitted(verb, "command", "--frames", "1", "--upload", str(shot), *TRUE)
    kept = json.loads(verb("blobs", "gc", "--older-than", "0s", "--json").out)
    assert (kept["blobs_removed"], kept["blobs_kept"]) == (0, 4), "a job still names them"
    assert verb("cancel", str(job["id"])).code == 0
    assert verb("delete", str(job["id"])).code == 0
    dry = verb("blobs", "gc", "--older-than", "0s", "--dry-run")
    assert dry.code == 0 and dry.out.startswith("would remove 4 files"), dry.err
    gone = json.loads(verb("blobs", "gc", "--older-than", "0s", "--json").out)
    assert gone["blobs_removed"] == 4 and int(gone["bytes_freed"]) > 0
    again = submitted(verb, "command", "--frames", "1", "--upload", str(shot), *TRUE)
    assert again["files_sent"] == 4, "collected files are sent again"
