"""The agent serves a frame's outputs to the controller a chunk at a time (``want_output``),
and only what a task may have it read: an output it hashed itself, or a file below the
job's workspace reached through no link; never /etc/shadow by way of a path or a link."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
import xxhash

from renderq.agent.output_serving import CHUNK_BYTES, HashedOutputs, OutputServing
from renderq.agent.outputs import describe_output
from renderq.agent.workspace import owner_folder
from renderq.v1 import agent_service_pb2 as apb
from renderq.v1 import resources_pb2 as pb
from tests.agent.conftest import Connect, shell, task
from tests.waiting import until

JOB = 12
OWNER = "alice"
CONTENT = os.urandom(2 * CHUNK_BYTES + 1234)
"""A frame two and a bit chunks long: full chunks and a short last one."""
SECRET = b"root:$6$secret:19000:0:99999:7:::\n"


class Served:
    """One link's serving object and what it sent on the link."""

    def __init__(self, workspaces: Path, hashed: HashedOutputs | None = None) -> None:
        self.hashed = hashed or HashedOutputs()
        self.sent: list[apb.LinkResponse] = []
        self.serving = OutputServing(self.hashed, workspaces, self._send)

    async def _send(self, response: apb.LinkResponse) -> None:
        self.sent.append(response)

    async def chunk(
        self, path: Path, offset: int = 0, blob: pb.BlobRef | None = None, job: int = JOB
    ) -> apb.BlobChunk:
        """The answer to an ask for ``path`` at ``offset``, as a blob of CONTENT by default."""
        if blob is None:
            blob = ref(CONTENT)
        wanted = apb.OutputWanted(job_id=job, owner=OWNER, path=str(path), blob=blob, offset=offset)
        return await self.serving.answer(wanted)


@pytest.fixture
def workspaces(tmp_path: Path) -> Path:
    return tmp_path / "workspaces"


@pytest.fixture
def workspace(workspaces: Path) -> Path:
    """Job 12's workspace, as the agent names it, with its renders folder."""
    root = workspaces / owner_folder(OWNER) / str(JOB)
    (root / "renders").mkdir(parents=True)
    return root


@pytest.fixture
def frame(workspace: Path) -> Path:
    path = workspace / "renders" / "frame_0001.exr"
    path.write_bytes(CONTENT)
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """What a task must never have the agent send: a file outside every workspace."""
    path = tmp_path / "etc" / "shadow"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    return path


def ref(content: bytes) -> pb.BlobRef:
    return pb.BlobRef(xxh3_128=xxhash.xxh3_128_hexdigest(content), size_bytes=len(content))


async def test_a_hashed_output_is_served_in_chunks_at_the_offsets_asked(
    workspaces: Path, workspace: Path, frame: Path
) -> None:
    served = Served(workspaces)
    served.hashed.remember(JOB, describe_output(frame, workspace), workspace)

    chunks = [await served.chunk(frame, offset) for offset in range(0, len(CONTENT), CHUNK_BYTES)]

    assert [c.error for c in chunks] == ["", "", ""]
    assert [len(c.data) for c in chunks] == [CHUNK_BYTES, CHUNK_BYTES, 1234]
    assert b"".join(c.data for c in chunks) == CONTENT
    assert all(c.blob == ref(CONTENT) for c in chunks)
    middle = await served.chunk(frame, 1000)
    assert middle.offset == 1000 and middle.data == CONTENT[1000 : 1000 + CHUNK_BYTES]
    at_end = await served.chunk(frame, len(CONTENT))
    assert (at_end.error, at_end.data) == ("", b"")


async def test_asks_are_answered_in_the_order_asked(workspaces: Path, frame: Path) -> None:
    served = Served(workspaces)
    offsets = [2 * CHUNK_BYTES, 0, CHUNK_BYTES]
    for offset in offsets:
        served.serving.want(
            apb.OutputWanted(job_id=JOB, owner=OWNER, path=str(frame), blob=ref(CONTENT), offset=offset)
        )
    serving = asyncio.create_task(served.serving.serve())
    try:
        await until("three chunks are sent", lambda: len(served.sent) == 3)
    finally:
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)

    assert [r.output.offset for r in served.sent] == offsets
    assert [r.output.data for r in served.sent] == [CONTENT[o : o + CHUNK_BYTES] for o in offsets]


async def test_a_hashed_output_outside_the_workspace_is_served(
    workspaces: Path, workspace: Path, tmp_path: Path
) -> None:
    share = tmp_path / "share" / "shot"
    share.mkdir(parents=True)
    output = share / "frame_0001.exr"
    output.write_bytes(b"on the share")
    served = Served(workspaces)
    served.hashed.remember(JOB, describe_output(output), workspace)

    chunk = await served.chunk(output, blob=ref(b"on the share"))

    assert (chunk.error, chunk.data) == ("", b"on the share")
    other_job = await served.chunk(output, blob=ref(b"on the share"), job=JOB + 1)
    assert f"is not an output of job {JOB + 1} on this agent" in other_job.error


async def test_a_workspace_file_is_served_after_a_restart(workspaces: Path, frame: Path) -> None:
    # A fresh serving object remembers nothing, as after the agent restarted.
    chunk = await Served(workspaces).chunk(frame, CHUNK_BYTES)

    assert chunk.error == ""
    assert chunk.data == CONTENT[CHUNK_BYTES : 2 * CHUNK_BYTES]


async def test_an_exotic_owner_is_served_from_its_hashed_folder(workspaces: Path) -> None:
    owner = "../José"
    output = workspaces / owner_folder(owner) / str(JOB) / "renders" / "f.png"
    output.parent.mkdir(parents=True)
    output.write_bytes(b"png")
    wanted = apb.OutputWanted(job_id=JOB, owner=owner, path=str(output), blob=ref(b"png"))

    chunk = await Served(workspaces).serving.answer(wanted)

    assert (chunk.error, chunk.data) == ("", b"png")


async def test_a_path_outside_the_workspace_is_refused(
    workspaces: Path, workspace: Path, secret: Path
) -> None:
    served = Served(workspaces)
    another_job = workspaces / owner_folder(OWNER) / str(JOB + 1) / "renders" / "f.exr"
    another_job.parent.mkdir(parents=True)
    another_job.write_bytes(b"not job 12's")
    climbing = workspace / ".." / str(JOB + 1) / "renders" / "f.exr"

    for path, content in ((secret, SECRET), (another_job, b"not job 12's")):
        chunk = await served.chunk(path, blob=ref(content))
        assert chunk.error == (
            f"{path} is not an output of job {JOB} on this agent: it hashed no such output, "
            f"and the file is not below the job's workspace {workspace}"
        )
        assert chunk.data == b""
    chunk = await served.chunk(climbing, blob=ref(b"not job 12's"))
    assert "is not an absolute path without '..' components" in chunk.error
    relative = await served.chunk(Path("renders/f.exr"), blob=ref(b""))
    assert "is not an absolute path" in relative.error


async def test_a_symlink_output_is_refused(workspaces: Path, workspace: Path, secret: Path) -> None:
    link = workspace / "renders" / "frame_0002.exr"
    link.symlink_to(secret)
    served = Served(workspaces)

    chunk = await served.chunk(link, blob=ref(SECRET))

    assert chunk.error == f"the agent cannot read {link}: it is a symbolic link; only a regular file is read"
    assert chunk.data == b""


async def test_an_output_swapped_for_a_link_after_hashing_is_refused(
    workspaces: Path, workspace: Path, secret: Path
) -> None:
    output = workspace / "renders" / "frame_0003.exr"
    output.write_bytes(b"x" * len(SECRET))
    served = Served(workspaces)
    served.hashed.remember(JOB, describe_output(output, workspace), workspace)
    blob = ref(output.read_bytes())
    output.unlink()
    output.symlink_to(secret)

    chunk = await served.chunk(output, blob=blob)

    assert "it is a symbolic link" in chunk.error and chunk.data == b""


async def test_a_folder_linked_out_of_the_workspace_is_refused(
    workspaces: Path, workspace: Path, secret: Path
) -> None:
    (workspace / "out").symlink_to(secret.parent)
    path = workspace / "out" / "shadow"

    chunk = await Served(workspaces).chunk(path, blob=ref(SECRET))

    assert chunk.error == (
        f"{path} is not served: a link on its way leads out of its job's workspace {workspace}"
    )
    assert chunk.data == b""


async def test_a_workspace_that_is_itself_a_link_is_refused(workspaces: Path, secret: Path) -> None:
    # A task running as the agent's own user could swap its job's folder for a link to /etc.
    workspace = workspaces / owner_folder(OWNER) / str(JOB)
    workspace.parent.mkdir(parents=True)
    workspace.symlink_to(secret.parent)
    path = workspace / "shadow"

    chunk = await Served(workspaces).chunk(path, blob=ref(SECRET))

    assert "a link on its way leads out of its job's workspace" in chunk.error
    assert chunk.data == b""


async def test_a_size_change_is_refused(workspaces: Path, workspace: Path, frame: Path) -> None:
    served = Served(workspaces)
    served.hashed.remember(JOB, describe_output(frame, workspace), workspace)
    with frame.open("ab") as grown:
        grown.write(b"more")

    chunk = await served.chunk(frame, blob=ref(CONTENT))

    assert chunk.error == (
        f"{frame} changed since it was hashed: it has {len(CONTENT) + 4} bytes, not {len(CONTENT)}"
    )
    assert chunk.data == b""


async def test_a_blob_other_than_the_one_hashed_is_refused(
    workspaces: Path, workspace: Path, frame: Path
) -> None:
    served = Served(workspaces)
    served.hashed.remember(JOB, describe_output(frame, workspace), workspace)

    chunk = await served.chunk(frame, blob=ref(b"an earlier render"))

    assert chunk.error.startswith(f"{frame} changed since it was hashed: this agent last hashed it as ")


@pytest.mark.parametrize("offset", [-1, len(CONTENT) + 1])
async def test_an_offset_outside_the_file_is_refused(workspaces: Path, frame: Path, offset: int) -> None:
    chunk = await Served(workspaces).chunk(frame, offset)

    assert chunk.error == f"offset {offset} is outside {frame}, which has {len(CONTENT)} bytes"
    assert chunk.data == b""


async def test_a_missing_file_or_a_bad_blob_is_refused_in_words(workspaces: Path, workspace: Path) -> None:
    served = Served(workspaces)
    missing = workspace / "renders" / "never.exr"

    gone = await served.chunk(missing, blob=ref(b"x"))
    bad = await served.chunk(missing, blob=pb.BlobRef(xxh3_128="../../etc", size_bytes=1))

    assert gone.error == f"the agent cannot read {missing}: No such file or directory"
    assert (
        bad.error
        == f"{missing}: the blob asked for is not one: its hash '../../etc' is not 32 lowercase hex digits"
    )


def test_only_the_newest_outputs_are_remembered() -> None:
    hashed = HashedOutputs(limit=2)
    for name in ("a", "b", "c"):
        hashed.remember(JOB, pb.OutputFile(path=f"/w/{name}", size_bytes=1, xxh3_128="0" * 32), None)

    assert [hashed.find(JOB, f"/w/{name}") is not None for name in ("a", "b", "c")] == [False, True, True]


async def test_a_real_agent_serves_its_output_over_the_link_and_refuses_a_secret(
    connect: Connect, secret: Path
) -> None:
    controller = await connect()
    command = shell('printf "%s" "$1" > "$2"', "the frame", "{renders}/frame_0001.txt")
    await controller.assign(task(41, command, expected=[(1, "{renders}/frame_0001.txt")], job_id=JOB))
    assert list((await controller.finished(41)).failed_frames) == []
    (output,) = controller.of(41, "frame_completed")[0].frame_completed.outputs
    blob = pb.BlobRef(xxh3_128=output.xxh3_128, size_bytes=output.size_bytes)

    for path, wanted in ((output.path, blob), (str(secret), ref(SECRET))):
        # Another owner's workspace: the frame is served because the agent hashed it itself.
        asked = apb.OutputWanted(job_id=JOB, owner=OWNER, path=path, blob=wanted)
        await controller.send(apb.LinkRequest(want_output=asked))
    good = await controller.wait_for("the frame's chunk", lambda m: m.HasField("output"))
    refused = await controller.wait_for("the secret's refusal", lambda m: m.HasField("output"))

    assert (good.output.error, good.output.data, good.output.blob) == ("", b"the frame", blob)
    assert f"{secret} is not an output of job {JOB} on this agent" in refused.output.error
    assert refused.output.data == b""
    await controller.close()
    await until(
        "the link's output serving ends with it",
        lambda: not any(t.get_name() == "link-outputs" for t in asyncio.all_tasks()),
    )
