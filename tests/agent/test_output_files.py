"""An output is read only as the regular file a task wrote: never through a link the task
made, never a pipe that would block the agent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import xxhash

from renderq.agent.outputs import OutputProblem, describe_frame_outputs, describe_output


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "ws" / "renders").mkdir(parents=True)
    return tmp_path / "ws"


def test_a_regular_output_is_sized_and_hashed(workspace: Path) -> None:
    frame = workspace / "renders" / "f1.png"
    frame.write_bytes(b"png" * 1000)
    described = describe_output(frame, workspace)
    assert (described.size_bytes, described.xxh3_128) == (3000, xxhash.xxh3_128_hexdigest(b"png" * 1000))


def test_an_output_that_is_a_link_is_refused(workspace: Path, tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:secret")
    link = workspace / "renders" / "f1.png"
    link.symlink_to(secret)
    with pytest.raises(OSError, match="it is a symbolic link"):
        describe_output(link, workspace)


def test_a_folder_linked_out_of_the_workspace_is_refused(workspace: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    (elsewhere / "shadow").write_bytes(b"root:secret")
    (workspace / "out").symlink_to(elsewhere)
    with pytest.raises(OSError, match="a link out of the job's workspace"):
        describe_output(workspace / "out" / "shadow", workspace)


def test_a_pipe_is_refused_without_waiting(workspace: Path) -> None:
    pipe = workspace / "renders" / "f1.png"
    os.mkfifo(pipe)
    with pytest.raises(OSError, match="not a regular file"):
        describe_output(pipe, workspace)


def test_an_output_outside_the_workspace_and_every_share_is_not_read(workspace: Path, tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_bytes(b"root:secret")
    with pytest.raises(OSError, match="outside the job's workspace and every mapped share"):
        describe_output(secret, workspace)
    with pytest.raises(OutputProblem, match=rf"frame 3: output {secret} cannot be read: it is outside"):
        describe_frame_outputs(3, [secret], workspace, [tmp_path / "share"])


def test_an_output_on_a_mapped_share_is_read_but_not_through_a_link_out_of_it(
    workspace: Path, tmp_path: Path
) -> None:
    share = tmp_path / "projects"
    (share / "sh010").mkdir(parents=True)
    (share / "sh010" / "f1.exr").write_bytes(b"exr")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "shadow").write_bytes(b"root:secret")
    (share / "etc").symlink_to(tmp_path / "etc")

    (described,) = describe_frame_outputs(1, [share / "sh010" / "f1.exr"], workspace, [share])
    assert described.size_bytes == 3
    with pytest.raises(OSError, match="a link out of the job's workspace or share"):
        describe_output(share / "etc" / "shadow", workspace, [share])
