"""An output is read only as the regular file a task wrote: never through a link the task
made, never a pipe that would block the agent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import xxhash

from renderq.agent.outputs import describe_output


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
