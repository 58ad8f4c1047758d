"""A job's files placed in its workspace from the blob cache: where the task finds them,
never able to change the cache, checked again on the agent, and not fetched or copied
again for a retry; and a real agent fetching them over its link before the task runs."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import pwd
import shutil
import stat
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from renderq.agent.blob_cache import CHUNK, BlobCache
from renderq.agent.materialise import MANIFEST, MaterialiseError, Materialiser
from renderq.agent.run_as import TaskUser
from renderq.agent.workspace import Workspace
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb
from tests.agent.blob_server import BlobServer, ref_of
from tests.agent.conftest import IN_CI, FakeController, shell, task
from tests.waiting import until

SCENE = b"BLENDER-v400" + os.urandom(5000)
SCRIPT = b"#!/bin/sh\necho rendering\n"


def entry(path: str, data: bytes, mode: int = 0o644, unpack: bool = False) -> pb.FileEntry:
    return pb.FileEntry(path=path, blob=ref_of(data), mode=mode, unpack=unpack)


def tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Place:
    """One job's workspace, a cache and a controller holding ``blobs``."""

    def __init__(self, root: Path, *blobs: bytes, user: TaskUser | None = None) -> None:
        self.workspace = Workspace(root / "ws" / "7")
        for folder in (self.workspace.source, self.workspace.project, self.workspace.renders):
            folder.mkdir(parents=True)
        self.cache = BlobCache(root / "blobs")
        self.server = BlobServer(self.cache, *blobs)
        self.files = Materialiser(self.cache, user)
        self.stop = asyncio.Event()

    async def materialise(self, *files: pb.FileEntry, deadline: float | None = None) -> bool:
        return await self.files.materialise(files, self.workspace, self.stop, deadline)


async def test_files_land_in_the_project_with_their_modes_and_a_task_cannot_change_the_cache(
    tmp_path: Path,
) -> None:
    place = Place(tmp_path, SCENE, SCRIPT)

    assert await place.materialise(entry("shots/a.blend", SCENE), entry("run.sh", SCRIPT, mode=0o6755))

    project = place.workspace.project
    assert (project / "shots" / "a.blend").read_bytes() == SCENE
    assert stat.S_IMODE((project / "run.sh").stat().st_mode) == 0o755, "no setuid or setgid"
    assert stat.S_IMODE((project / "shots" / "a.blend").stat().st_mode) == 0o644
    (project / "shots" / "a.blend").write_bytes(b"changed by a task")
    assert place.cache.path(ref_of(SCENE)).read_bytes() == SCENE
    assert not (project / "shots" / "a.blend").is_symlink()


async def test_a_name_as_long_as_the_file_system_allows_is_placed(tmp_path: Path) -> None:
    name = "漢" * 80 + ".exr"  # 244 bytes: no room for much added to it
    place = Place(tmp_path, SCENE)

    await place.materialise(entry(f"renders/{name}", SCENE))

    assert (place.workspace.project / "renders" / name).read_bytes() == SCENE


async def test_a_retry_fetches_and_copies_nothing_but_replaces_what_a_task_changed(tmp_path: Path) -> None:
    place = Place(tmp_path, SCENE, SCRIPT)
    files = (entry("shots/a.blend", SCENE), entry("run.sh", SCRIPT, mode=0o755))
    await place.materialise(*files)
    fetched = len(place.server.wants)
    scene = place.workspace.project / "shots" / "a.blend"
    placed = scene.stat().st_ino

    await place.materialise(*files)
    assert scene.stat().st_ino == placed, "a file still as placed is not copied again"
    (place.workspace.project / "run.sh").write_bytes(b"#!/bin/sh\nexit 1\n")
    await place.materialise(*files)

    assert len(place.server.wants) == fetched, "nothing fetched again"
    assert (place.workspace.project / "run.sh").read_bytes() == SCRIPT
    assert (place.workspace.source / MANIFEST).is_file()


async def test_two_tasks_of_a_job_starting_together_place_its_files_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    place = Place(tmp_path, SCENE)
    caplog.set_level(logging.INFO, logger="renderq.agent.materialise")

    both = [place.materialise(entry("shots/a.blend", SCENE)) for _ in range(2)]
    assert await asyncio.gather(*both) == [True, True]

    assert [r.getMessage().split()[:3] for r in caplog.records] == [["job", "files", "placed"]]
    assert len(place.server.wants) == 1


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../escape.txt", "'..'"),
        ("/etc/cron.d/x", "absolute"),
        ("C:/Windows/x", "drive letter"),
        ("a\\..\\..\\x", "'..'"),
        ("a/\x00b", "NUL"),
        ("", "names no file"),
    ],
)
async def test_a_path_that_would_leave_the_project_is_refused_before_any_fetch(
    tmp_path: Path, path: str, why: str
) -> None:
    place = Place(tmp_path, SCENE)

    with pytest.raises(MaterialiseError, match=why) as refused:
        await place.materialise(entry(path, SCENE))

    assert repr(path) in str(refused.value)
    assert place.server.wants == []


async def test_a_link_a_task_planted_in_the_project_is_not_followed(tmp_path: Path) -> None:
    place = Place(tmp_path, SCENE)
    outside = tmp_path / "outside"
    outside.mkdir()
    (place.workspace.project / "shots").symlink_to(outside)

    with pytest.raises(MaterialiseError, match=r"cannot place shots/a\.blend: .*shots is a link"):
        await place.materialise(entry("shots/a.blend", SCENE))

    assert list(outside.iterdir()) == []


async def test_a_link_where_the_file_goes_is_replaced_not_followed(tmp_path: Path) -> None:
    place = Place(tmp_path, SCENE)
    target = tmp_path / "precious.txt"
    target.write_bytes(b"keep me")
    (place.workspace.project / "a.blend").symlink_to(target)

    await place.materialise(entry("a.blend", SCENE))

    assert target.read_bytes() == b"keep me"
    assert (place.workspace.project / "a.blend").read_bytes() == SCENE


async def test_an_archive_is_kept_in_source_and_unpacked_into_the_project_once(tmp_path: Path) -> None:
    archive = tar_gz({"textures/wood.png": b"wood", "scene.blend": SCENE})
    place = Place(tmp_path, archive)
    files = (entry("assets/pack.tar.gz", archive, unpack=True),)

    await place.materialise(*files)
    (place.workspace.project / "scene.blend").unlink()
    await place.materialise(*files)

    assert (place.workspace.source / "assets" / "pack.tar.gz").read_bytes() == archive
    assert (place.workspace.project / "textures" / "wood.png").read_bytes() == b"wood"
    assert not (place.workspace.project / "scene.blend").exists(), "an archive in place is not unpacked again"
    assert len(place.server.wants) == 1


async def test_a_refused_archive_fails_naming_the_member(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("../../../etc/cron.d/evil", b"* * * * * root sh")
    place = Place(tmp_path, buffer.getvalue())

    with pytest.raises(MaterialiseError, match=r"pack.zip: member '../../../etc/cron.d/evil' refused"):
        await place.materialise(entry("pack.zip", buffer.getvalue(), unpack=True))


async def test_an_unknown_archive_kind_is_refused(tmp_path: Path) -> None:
    place = Place(tmp_path, SCENE)

    with pytest.raises(MaterialiseError, match=r"'pack.rar' is refused: only .*\.zip"):
        await place.materialise(entry("pack.rar", SCENE, unpack=True))


async def test_a_stop_or_the_deadline_ends_a_fetch_that_waits(tmp_path: Path) -> None:
    place = Place(tmp_path, SCENE)
    place.server = BlobServer(place.cache, SCENE, hold=True)
    waiting = asyncio.ensure_future(place.materialise(entry("a.blend", SCENE)))
    await until("the fetch asks", lambda: bool(place.server.pending))

    place.stop.set()

    assert await waiting is False
    place.stop.clear()
    deadline = asyncio.get_running_loop().time() + 0.1
    assert await place.materialise(entry("a.blend", SCENE), deadline=deadline) is False


@pytest.fixture
def nobody(tmp_path: Path) -> Iterator[tuple[TaskUser, Path]]:
    """A task user and a folder it can reach (pytest's tmp_path is root's alone)."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        if IN_CI:
            pytest.fail("CI=true but the tests cannot switch users (not root, or no setpriv)")
        pytest.skip("placing files for another user needs root and setpriv")
    entry = pwd.getpwnam("nobody")
    with tempfile.TemporaryDirectory(prefix="renderq-files-") as folder:
        os.chmod(folder, 0o711)
        yield TaskUser("nobody", entry.pw_uid, entry.pw_gid, "/", setpriv), Path(folder)


async def test_files_for_a_task_user_are_theirs_or_read_only_links_it_cannot_change(
    nobody: tuple[TaskUser, Path],
) -> None:
    user, folder = nobody
    place = Place(folder, SCENE, SCRIPT, user=user)
    for path in (folder / "ws", place.workspace.root, *place.workspace.root.iterdir()):
        os.chown(path, user.uid, user.gid)

    await place.materialise(entry("shots/a.blend", SCENE, mode=0o444), entry("shots/run.sh", SCRIPT))

    shots = place.workspace.project / "shots"
    linked, copied = (shots / "a.blend").stat(), (shots / "run.sh").stat()
    assert linked.st_ino == place.cache.path(ref_of(SCENE)).stat().st_ino
    assert (linked.st_uid, stat.S_IMODE(linked.st_mode)) == (0, 0o444)
    assert (copied.st_uid, shots.stat().st_uid) == (user.uid, user.uid)
    read = await as_user(user, "cat", str(shots / "a.blend"))
    assert read.stdout == SCENE
    write = await as_user(user, "sh", "-c", f"echo x >> {shots / 'a.blend'}")
    assert write.returncode != 0, "the task user cannot write the cache through its link"


async def as_user(user: TaskUser, *argv: str) -> subprocess.CompletedProcess[bytes]:
    return await asyncio.to_thread(subprocess.run, user.command(argv), capture_output=True, check=False)


@contextlib.asynccontextmanager
async def serving_blobs(controller: FakeController, *blobs: bytes) -> AsyncIterator[list[apb.BlobWanted]]:
    """Answer the agent's want_blob over the link, as the controller does; yield what it asked."""
    held = {ref_of(data).xxh3_128: data for data in blobs}
    asked: list[apb.BlobWanted] = []

    async def answer() -> None:
        while True:
            message = await controller.wait_for("a want_blob", lambda m: m.HasField("want_blob"))
            wanted = message.want_blob
            asked.append(wanted)
            data = held[wanted.blob.xxh3_128][wanted.offset : wanted.offset + CHUNK]
            await controller.send(
                apb.LinkRequest(blob=apb.BlobChunk(blob=wanted.blob, offset=wanted.offset, data=data))
            )

    serving = asyncio.create_task(answer())
    try:
        yield asked
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)


async def finished_beside_blobs(controller: FakeController, attempt: int) -> apb.TaskFinished:
    """The attempt's end, seen in the events (``serving_blobs`` reads the link's messages)."""
    await until(f"attempt {attempt} finished", lambda: bool(controller.of(attempt, "finished")))
    return controller.of(attempt, "finished")[0].finished


async def test_a_real_agent_fetches_a_jobs_files_over_its_link_and_a_retry_fetches_nothing(
    controller: FakeController,
) -> None:
    frames = os.urandom(CHUNK * 5 // 2)
    archive = tar_gz({"notes/readme.txt": b"hello from the project"})
    script = 'wc -c < "$1/cache/frames.bin"; cat "$1/notes/readme.txt"'
    files = [entry("cache/frames.bin", frames), entry("pack.tgz", archive, unpack=True)]

    async with serving_blobs(controller, frames, archive) as asked:
        for attempt in (1, 2):
            assignment = task(attempt, shell(script, "{project}"), job_id=31)
            assignment.files.extend(files)
            await controller.assign(assignment)
            finished = await finished_beside_blobs(controller, attempt)
            assert (finished.exit_code, finished.error_message) == (0, "")
            assert f"{len(frames)}\nhello from the project" in controller.log(attempt)
            if attempt == 1:
                fetched = len(asked)

    assert sorted(w.offset for w in asked if w.blob.size_bytes == len(frames)) == [0, CHUNK, 2 * CHUNK]
    assert len(asked) == fetched == 4, "the second attempt fetched nothing"


async def test_a_job_whose_file_is_lost_fails_its_task_naming_the_file(controller: FakeController) -> None:
    lost = ref_of(b"lost on the controller")
    assignment = task(3, shell("echo never runs"), job_id=32)
    assignment.files.append(pb.FileEntry(path="shots/a.blend", blob=lost, mode=0o644))
    await controller.assign(assignment)

    message = await controller.wait_for("a want_blob", lambda m: m.HasField("want_blob"))
    await controller.send(
        apb.LinkRequest(blob=apb.BlobChunk(blob=message.want_blob.blob, error="the controller lost it"))
    )
    finished = await controller.finished(3)

    assert finished.exit_code != 0
    assert f"shots/a.blend (blob {lost.xxh3_128}): the controller cannot send it" in finished.error_message
    assert "never runs" not in controller.log(3)
